/**
 * UDP through jump hosts (ProxyJump, `-J`; docs/CLIENT.md "Jump hosts").
 * After the target's tsshd has printed its port, tssh starts a datagram
 * relay (`tsshd --relay`) on every hop, last hop first, each over an SSH
 * login through the hops before it, pointed at the next hop's relay (or, on
 * the last hop, at the target's tsshd). The UDP path then goes to the first
 * hop's relay. The relays carry the sealed datagrams without reading them,
 * so roaming, outages and rekeying stay end to end; each relay ends when the
 * session sends it a bye, or after UdpAliveTimeout without the target.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseRelayBootstrap, relayBye, relayLineComplete, type RelayBootstrap } from '../protocol/relay-wire.js';
import { MAX_BOOTSTRAP_OUTPUT } from '../protocol/bootstrap.js';
import { oneLine } from '../protocol/config-syntax.js';
import { LOGIN_FORCED_OPTIONS, shellQuote } from './bootstrap-over-ssh.js';
import type { SshArgs } from './ssh-args.js';
import { sshEffectiveConfig, type SshEffectiveConfig } from './ssh-effective-config.js';
import type { UdpOptions } from './udp-options.js';
import { expandProxyCommand } from './proxy-command.js';

/** `#!! UdpJump`: through the hops when ProxyJump is set (auto, the default), always (yes) or never (no). */
export type UdpJump = 'yes' | 'no' | 'auto';

/** One hop of a ProxyJump list, as a destination ssh takes. */
export interface JumpHop {
  /** As written in ProxyJump. */
  spec: string;
  /** `host`, or `ssh://[user@]host:port` when a port is given. */
  destination: string;
}

/** Split ProxyJump's value into hops; throws one line for an empty hop. */
export function parseProxyJump(value: string): JumpHop[] {
  return value.split(',').map((raw) => {
    const spec = raw.trim();
    if (spec === '') throw new Error(`tssh: ProxyJump ${JSON.stringify(value)} has an empty hop; list hosts as host1,host2`);
    if (spec.startsWith('ssh://')) return { spec, destination: spec };
    // [user@]host[:port], the host possibly a bracketed IPv6 address.
    const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::([0-9]{1,5}))?$/.exec(spec);
    if (!m) throw new Error(`tssh: cannot read ProxyJump hop ${JSON.stringify(spec)}; write it as [user@]host[:port]`);
    if (m[3] === undefined) return { spec, destination: spec };
    return { spec, destination: `ssh://${m[1] !== undefined ? `${m[1]}@` : ''}${m[2]}:${m[3]}` };
  });
}

/** Whether the UDP path goes through the hops. */
export function goesThroughHops(mode: UdpJump, proxyJump: string | undefined): boolean {
  if (mode === 'no') return false;
  if (proxyJump === undefined) {
    if (mode === 'yes') throw new Error('tssh: UdpJump yes needs ProxyJump (-J) to name the jump hosts');
    return false;
  }
  return true;
}

/**
 * The options a hop's login keeps from the user's command line: as ssh does
 * for ProxyJump, only the config file, verbosity and address family (-l, -p,
 * -i and -o belong to the destination).
 */
export function hopSshOptions(parsed: SshArgs): string[] {
  const out: string[] = [];
  if (parsed.configFile !== undefined) out.push('-F', parsed.configFile);
  for (const use of parsed.letters) {
    if (use.letter === '4' || use.letter === '6' || use.letter === 'v' || use.letter === 'q') out.push(`-${use.letter}`);
  }
  return out;
}

/** What the relays need from the session. */
export interface HopRelayPlan {
  program: string;
  hops: JumpHop[];
  /** The hops' login options (hopSshOptions). */
  sshOptions: string[];
  /** The target's HostName, as ssh resolved the config (the last hop resolves it). */
  targetHost: string;
  /** The target tsshd's port. */
  targetPort: number;
  tsshdPath: string;
  tsshdPort?: string;
  tcp: boolean;
  aliveTimeoutSec: number;
  connectTimeoutSec: number;
}

/** Relays started, first hop first: where the client sends, and how to end them. */
export interface HopRelays {
  address: string;
  port: number;
  relays: Array<RelayBootstrap & { hop: string }>;
}

/** Start a relay on every hop, last first; resolves with the first hop's relay address. */
export async function startHopRelays(p: HopRelayPlan): Promise<HopRelays> {
  // Each hop's own HostName (its config), for the hop before it to reach it.
  const hostNames = await Promise.all(p.hops.map(async (hop) => (await sshEffectiveConfig(p.program, [...p.sshOptions, hop.destination])).hostname));
  const relays: HopRelays['relays'] = [];
  let next = { host: p.targetHost, port: p.targetPort };
  for (let i = p.hops.length - 1; i >= 0; i--) {
    const hop = p.hops[i]!;
    const through = p.hops.slice(0, i).map((h) => h.spec);
    const path = p.tsshdPath.startsWith('~/') ? `~/${shellQuote(p.tsshdPath.slice(2))}` : shellQuote(p.tsshdPath);
    const words = [path, '--relay', shellQuote(hostPort(next.host, next.port))];
    if (p.tcp) words.push('--tcp');
    if (p.tsshdPort !== undefined) words.push('--port', shellQuote(p.tsshdPort));
    words.push('--alive-timeout', String(p.aliveTimeoutSec), '--connect-timeout', String(Math.max(p.connectTimeoutSec, 10)));
    const args = [...p.sshOptions, ...(through.length > 0 ? ['-J', through.join(',')] : ['-o', 'ProxyJump=none']), hop.destination, words.join(' ')];
    const relay = await relayLogin(p.program, args, hop.spec);
    relays.unshift({ ...relay, hop: hop.spec });
    next = { host: hostNames[i]!, port: relay.port };
  }
  const first = hostNames[0]!;
  let address = first;
  if (isIP(first) === 0) {
    try {
      address = (await lookup(first)).address;
    } catch (err) {
      throw new Error(`tssh: cannot resolve jump host ${first} for UDP (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the host name`);
    }
  }
  return { address, port: next.port, relays };
}

/**
 * Tell every relay the session is over: the last hop's bye first (it travels
 * through the relays before it, which cannot read it and pass it on), the
 * first hop's last, each a few times against loss. Best effort, bounded.
 */
export async function sayByeToRelays(r: HopRelays): Promise<void> {
  const socket = dgram.createSocket(isIP(r.address) === 6 ? 'udp6' : 'udp4');
  socket.on('error', () => undefined);
  try {
    for (let i = r.relays.length - 1; i >= 0; i--) {
      const bye = relayBye(r.relays[i]!.secret);
      for (let copy = 0; copy < 3; copy++) {
        await new Promise<void>((resolve) => socket.send(bye, r.port, r.address, () => resolve()));
      }
      // Give the bye a moment to pass the relays before it, which the next bye closes.
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    socket.close();
    for (const relay of r.relays) relay.secret.fill(0);
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Run one hop's relay login and read its line; ssh's stderr passes through. */
function relayLogin(program: string, args: string[], hop: string): Promise<RelayBootstrap> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...LOGIN_FORCED_OPTIONS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    let grace: NodeJS.Timeout | null = null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (stdout.length > MAX_BOOTSTRAP_OUTPUT) return;
      stdout += s;
      if (!settled && relayLineComplete(stdout)) {
        settled = true;
        grace = setTimeout(() => child.kill('SIGTERM'), 3000);
        try {
          resolve(parseRelayBootstrap(stdout, hop));
        } catch (err) {
          reject(new Error(`tssh: ${(err as Error).message}`));
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });
    child.once('error', (err) => {
      if (!settled) reject(new Error(`tssh: cannot run ${program}: ${err.message}`));
      settled = true;
    });
    child.once('close', (code) => {
      if (grace !== null) clearTimeout(grace);
      if (settled) return;
      settled = true;
      const said = oneLine(stderr.trim().split('\n').pop() ?? '').slice(0, 300);
      reject(new Error(`tssh: could not start the UDP relay on jump host ${hop} (ssh exited with ${code}${said ? `: ${said}` : ''}); install tsshd there, or set UdpJump no`));
    });
  });
}

/** How the session reaches tsshd when not directly: a relay's address, or a ProxyCommand for TCP mode. */
export interface JumpRoute {
  target?: { address: string; port: number };
  /** ProxyCommand, tokens expanded, for UdpProxyMode TCP. */
  tcpProxyCommand?: string;
  /** Once the session is over: bye to the relays. */
  end: () => Promise<void>;
}

/** What tssh-main hands over to decide and set up the hops. */
export interface JumpInputs {
  program: string;
  parsed: SshArgs;
  udp: Pick<UdpOptions, 'udpJump' | 'tsshdPath' | 'tsshdPort' | 'udpProxyMode' | 'udpAliveTimeout'>;
  effective: Pick<SshEffectiveConfig, 'hostname' | 'proxyJump' | 'proxyCommand' | 'port' | 'user'>;
  targetPort: number;
  connectTimeoutSec: number;
}

/**
 * Decide (UdpJump) and start the relays; undefined when the path goes direct.
 * `end` says bye to the relays once the session is over.
 */
export async function throughJumpHosts(i: JumpInputs): Promise<JumpRoute | undefined> {
  if (i.effective.proxyJump === undefined && i.effective.proxyCommand !== undefined && i.udp.udpJump !== 'no') {
    if (i.udp.udpProxyMode !== 'tcp') {
      if (!i.parsed.quiet) process.stderr.write(`tssh: UDP cannot follow ProxyCommand to ${i.effective.hostname}; trying it directly (set UdpProxyMode TCP to go through the command, or use ProxyJump)\n`);
      return undefined;
    }
    const command = expandProxyCommand(i.effective.proxyCommand, { host: i.effective.hostname, port: i.targetPort, user: i.effective.user ?? '', original: i.parsed.host });
    return { tcpProxyCommand: command, end: () => Promise.resolve() };
  }
  if (!goesThroughHops(i.udp.udpJump, i.effective.proxyJump)) return undefined;
  const relays = await startHopRelays({
    program: i.program,
    hops: parseProxyJump(i.effective.proxyJump!),
    sshOptions: hopSshOptions(i.parsed),
    targetHost: i.effective.hostname,
    targetPort: i.targetPort,
    tsshdPath: i.udp.tsshdPath,
    ...(i.udp.tsshdPort !== undefined ? { tsshdPort: i.udp.tsshdPort } : {}),
    tcp: i.udp.udpProxyMode === 'tcp',
    aliveTimeoutSec: i.udp.udpAliveTimeout,
    connectTimeoutSec: i.connectTimeoutSec,
  });
  return { target: { address: relays.address, port: relays.port }, end: () => sayByeToRelays(relays) };
}
