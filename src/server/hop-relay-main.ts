/**
 * `tsshd --relay HOST:PORT`: run on a jump host by tssh over an SSH login
 * through the earlier hops, it relays the session's datagrams to HOST:PORT
 * (the next hop's relay, or the target's tsshd), prints one bootstrap line
 * (relay-wire.ts) and detaches, as tsshd does. Exit statuses as tsshd's.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { bindPortFromSpec } from '../path/port-binding.js';
import { parsePortSpec } from '../path/port-spec.js';
import { quoteValue } from '../protocol/config-syntax.js';
import { encodeRelayBootstrap } from '../protocol/relay-wire.js';
import { columns, flagRows, type FlagDoc } from '../usage-text.js';
import { VERSION } from '../version.js';
import { DebugLog } from './debug-log.js';
import { reportToParent, spawnDaemon, takeDaemonRole } from './detach.js';
import { TcpHopRelay, UdpHopRelay } from './hop-relay.js';
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_TSSHD_PORT } from './tsshd-args.js';

/** Seconds a relay lives without hearing from the target (the client passes its UdpAliveTimeout). */
export const DEFAULT_RELAY_ALIVE_TIMEOUT = 86400;

/** The relay's flags, checked. */
export interface RelayOptions {
  host: string;
  port: number;
  tcp: boolean;
  portSpec: string;
  aliveTimeout: number;
  connectTimeout: number;
  debug: boolean;
}

/** The relay's own flags, for `tsshd --help` and the man page (src/cli/manual.ts). */
export const RELAY_FLAGS: readonly FlagDoc[] = [
  { names: ['--relay'], value: 'HOST:PORT', text: "run as a jump host's datagram relay to HOST:PORT (tssh starts it for ProxyJump)" },
  { names: ['--alive-timeout'], value: 'S', text: `with --relay: seconds to live while the target is silent (default ${DEFAULT_RELAY_ALIVE_TIMEOUT})` },
];

/** Usage lines for `tsshd --help`. */
export const RELAY_USAGE = columns(flagRows(RELAY_FLAGS));

/** Whether argv asks for a relay. */
export function isRelayCommand(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--relay' || a.startsWith('--relay='));
}

/** Parse `--relay` argv; throws one line naming the flag. */
export function parseRelayArgs(argv: readonly string[]): RelayOptions {
  const o: RelayOptions = { host: '', port: 0, tcp: false, portSpec: DEFAULT_TSSHD_PORT, aliveTimeout: DEFAULT_RELAY_ALIVE_TIMEOUT, connectTimeout: DEFAULT_CONNECT_TIMEOUT, debug: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq >= 0 ? arg.slice(0, eq) : arg;
    if (flag === '--tcp' || flag === '--debug' || flag === '--kcp' || flag === '--quic') {
      if (flag === '--tcp') o.tcp = true;
      if (flag === '--debug') o.debug = true;
      continue;
    }
    if (!['--relay', '--port', '--alive-timeout', '--connect-timeout', '--mtu'].includes(flag)) {
      throw new Error(`tsshd: ${quoteValue(flag)} cannot be used with --relay; run tsshd --help`);
    }
    const value = eq >= 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`tsshd: ${flag} needs a value`);
    if (flag === '--relay') {
      const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(value) ?? /^([^:[\]\s]+):([0-9]{1,5})$/.exec(value);
      const port = m ? Number(m[2]) : NaN;
      if (!m || !(port >= 0 && port <= 65535)) throw new Error(`tsshd: --relay must be HOST:PORT or [IPv6]:PORT (got ${quoteValue(value)})`);
      o.host = m[1]!;
      o.port = port;
    } else if (flag === '--port') {
      parsePortSpec(value);
      o.portSpec = value;
    } else if (flag === '--mtu') {
      // The relay carries datagrams of any size; accepted so one command line serves both roles.
    } else {
      const n = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
      if (!(n > 0 && Number.isFinite(n))) throw new Error(`tsshd: ${flag} must be a positive number of seconds (got ${quoteValue(value)})`);
      if (flag === '--alive-timeout') o.aliveTimeout = n;
      else o.connectTimeout = n;
    }
  }
  if (o.host === '') throw new Error('tsshd: --relay needs HOST:PORT');
  return o;
}

/** `tsshd --relay ...`: both halves (the one ssh runs, and the daemon it starts). */
export async function relayMain(argv: readonly string[], io: { stdout: Writable; stderr: Writable; stdin?: Readable }, daemonArgs: readonly string[] = []): Promise<number> {
  if (takeDaemonRole()) return runRelayDaemon(argv);
  let o: RelayOptions;
  try {
    o = parseRelayArgs(argv);
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  let args = [...argv];
  // HOST:0: the next port comes as one line on stdin, so tssh can start this login before it knows the port.
  if (o.port === 0) {
    const port = await readPortLine(io.stdin ?? process.stdin, o.connectTimeout * 1000);
    if (port === null) {
      io.stderr.write(`tsshd: --relay ${o.host}:0 waits for the next hop's port on stdin, and none came within ${o.connectTimeout} s\n`);
      return 1;
    }
    args = withoutRelayFlag(argv);
    args.push('--relay', o.host.includes(':') ? `[${o.host}]:${port}` : `${o.host}:${port}`);
  }
  const report = await spawnDaemon([...daemonArgs, ...args]);
  if (report.type === 'failed') {
    io.stderr.write(`${report.message.startsWith('tsshd:') ? report.message : `tsshd: ${report.message}`}\n`);
    return 1;
  }
  if (report.logPath !== undefined) io.stderr.write(`tsshd: debug log: ${report.logPath}\n`);
  return new Promise((resolve) => io.stdout.write(report.bootstrapLine, (err) => resolve(err ? 1 : 0)));
}

/** argv without its --relay flag and value. */
function withoutRelayFlag(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--relay') i++;
    else if (!argv[i]!.startsWith('--relay=')) out.push(argv[i]!);
  }
  return out;
}

/** One line holding a port 1..65535 from `input`, or null on EOF, junk or timeout. */
function readPortLine(input: Readable, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    let text = '';
    const done = (port: number | null): void => {
      clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      resolve(port);
    };
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl < 0) {
        if (text.length > 16) done(null);
        return;
      }
      const line = text.slice(0, nl).trim();
      const port = /^[0-9]{1,5}$/.test(line) ? Number(line) : NaN;
      done(port >= 1 && port <= 65535 ? port : null);
    };
    const onEnd = (): void => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}

async function runRelayDaemon(argv: readonly string[]): Promise<number> {
  let log = DebugLog.disabled();
  let relay: UdpHopRelay | TcpHopRelay;
  const secret = randomBytes(32);
  try {
    const o = parseRelayArgs(argv);
    if (o.debug) log = await DebugLog.open(process.env);
    const address = isIP(o.host) ? o.host : (await lookup(o.host)).address;
    const relayOptions = {
      targetAddress: address,
      targetPort: o.port,
      secret,
      aliveTimeoutMs: o.aliveTimeout * 1000,
      connectTimeoutMs: o.connectTimeout * 1000,
      log: (line: string) => log.log(line),
    };
    log.log(`tsshd ${VERSION} relay to ${address}:${o.port} (${o.tcp ? 'tcp' : 'udp'}) starting, pid ${process.pid}`);
    relay = await bindPortFromSpec<UdpHopRelay | TcpHopRelay>(o.portSpec, (port) => (o.tcp ? TcpHopRelay.start(port, relayOptions) : UdpHopRelay.start(port, relayOptions)));
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    await reportToParent({ type: 'failed', message: message.startsWith('tsshd:') ? message : `tsshd: relay: ${message}` });
    await log.close();
    return 1;
  }
  const bootstrapLine = encodeRelayBootstrap({ serverVersion: VERSION, port: relay.port, secret });
  const sent = await reportToParent(log.path === undefined ? { type: 'ready', bootstrapLine } : { type: 'ready', bootstrapLine, logPath: log.path });
  if (!sent) relay.close('the tsshd that started this relay went away before printing its line');
  const reason = await relay.closed;
  log.log(`relay ended: ${reason}`);
  await log.close();
  return 0;
}
