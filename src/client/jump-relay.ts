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
import { UDP_OPTION_DEFAULTS, type UdpOptions } from './udp-options.js';
import { tsshdSearchCommand } from './install-plan.js';
import { expandProxyCommand } from './proxy-command.js';

/** `#!! UdpJump`: through the hops when ProxyJump is set (auto, the default), always (yes) or never (no). */
export type UdpJump = 'yes' | 'no' | 'auto';

/** One hop of a ProxyJump list, as a destination ssh takes. */
export interface JumpHop {
  /** As written in ProxyJump. */
  spec: string;
  /** `host`, or `ssh://[user@]host:port` when a port is given. */
  destination: string;
  /** The host alone, as Host lines match it. */
  host: string;
}

/** Split ProxyJump's value into hops; throws one line for an empty hop. */
export function parseProxyJump(value: string): JumpHop[] {
  return value.split(',').map((raw) => {
    const spec = raw.trim();
    if (spec === '') throw new Error(`tssh: ProxyJump ${JSON.stringify(value)} has an empty hop; list hosts as host1,host2`);
    // [user@]host[:port] or ssh://[user@]host[:port], the host possibly a bracketed IPv6 address.
    const uri = spec.startsWith('ssh://');
    const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@/]+)(?::([0-9]{1,5}))?\/?$/.exec(uri ? spec.slice(6) : spec);
    if (!m) throw new Error(`tssh: cannot read ProxyJump hop ${JSON.stringify(spec)}; write it as [user@]host[:port]`);
    const host = m[2]!.replace(/^\[|\]$/g, '');
    if (uri || m[3] === undefined) return { spec, destination: spec, host };
    return { spec, destination: `ssh://${m[1] !== undefined ? `${m[1]}@` : ''}${m[2]}:${m[3]}`, host };
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

/** What the relays need from the session (the target's port comes later). */
export interface HopRelayPlan {
  program: string;
  hops: JumpHop[];
  /** The hops' login options (hopSshOptions). */
  sshOptions: string[];
  /** The target's HostName, as ssh resolved the config (the last hop resolves it). */
  targetHost: string;
  /** Each hop's own TsshdPath. */
  tsshdPathFor: (host: string) => string;
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

/** Relay logins under way, waiting for the target's port. */
export interface PendingHopRelays {
  /** Hand over tsshd's port; resolves once every relay runs. */
  complete(targetPort: number): Promise<HopRelays>;
  /** The session will not start: end the logins (each relay exits without its port). */
  cancel(): void;
}

/**
 * Log in to every hop at once, beside the target's own login: each relay
 * waits on its SSH channel for the next port (`--relay NEXT:0`), which tssh
 * writes as soon as it knows it (the target's, then each relay's in turn),
 * so the hops cost one login's time in parallel, not one login each.
 */
export async function startHopRelays(p: HopRelayPlan): Promise<PendingHopRelays> {
  // Each hop's own HostName (its config), for the hop before it to reach it.
  const hostNames = await Promise.all(p.hops.map(async (hop) => (await sshEffectiveConfig(p.program, [...p.sshOptions, hop.destination])).hostname));
  const logins = p.hops.map((hop, i) => {
    const tsshdPath = p.tsshdPathFor(hop.host);
    const path = tsshdPath.startsWith('~/') ? `~/${shellQuote(tsshdPath.slice(2))}` : shellQuote(tsshdPath);
    const next = i + 1 < p.hops.length ? hostNames[i + 1]! : p.targetHost;
    const words = [path, '--relay', shellQuote(hostPort(next, 0))];
    if (p.tcp) words.push('--tcp');
    if (p.tsshdPort !== undefined) words.push('--port', shellQuote(p.tsshdPort));
    words.push('--alive-timeout', String(p.aliveTimeoutSec), '--connect-timeout', String(Math.max(p.connectTimeoutSec, 30)));
    const through = p.hops.slice(0, i).map((h) => h.spec);
    // The default TsshdPath also finds a tsshd that --install-tsshd put in ~/.local/bin on the hop.
    const command = tsshdPath === UDP_OPTION_DEFAULTS.tsshdPath ? tsshdSearchCommand(words.slice(1)) : words.join(' ');
    const args = [...p.sshOptions, ...(through.length > 0 ? ['-J', through.join(',')] : ['-o', 'ProxyJump=none']), hop.destination, command];
    return new RelayLogin(p.program, args, hop.spec);
  });
  const first = hostNames[0]!;
  const address = isIP(first) !== 0 ? Promise.resolve(first) : lookup(first).then((r) => r.address);
  address.catch(() => undefined);
  return {
    cancel: () => logins.forEach((l) => l.end()),
    complete: async (targetPort) => {
      const relays: HopRelays['relays'] = [];
      let port = targetPort;
      try {
        for (let i = logins.length - 1; i >= 0; i--) {
          const relay = await logins[i]!.nextPort(port);
          relays.unshift({ ...relay, hop: p.hops[i]!.spec });
          port = relay.port;
        }
      } catch (err) {
        logins.forEach((l) => l.end());
        throw err;
      }
      try {
        return { address: await address, port, relays };
      } catch (err) {
        throw new Error(`tssh: cannot resolve jump host ${first} for UDP (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the host name`);
      }
    },
  };
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

/** One hop's relay login: ssh's stderr passes through; the next port goes in, the relay's line comes out. */
class RelayLogin {
  private readonly child;
  private stdout = '';
  private stderr = '';
  private readonly line: Promise<RelayBootstrap>;

  constructor(program: string, args: string[], hop: string) {
    this.child = spawn(program, [...LOGIN_FORCED_OPTIONS, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => undefined);
    this.line = new Promise((resolve, reject) => {
      let settled = false;
      this.child.stdout.setEncoding('utf8');
      this.child.stdout.on('data', (s: string) => {
        if (this.stdout.length > MAX_BOOTSTRAP_OUTPUT) return;
        this.stdout += s;
        if (!settled && relayLineComplete(this.stdout)) {
          settled = true;
          this.end();
          try {
            resolve(parseRelayBootstrap(this.stdout, hop));
          } catch (err) {
            reject(new Error(`tssh: ${(err as Error).message}`));
          }
        }
      });
      this.child.stderr.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4096);
      });
      this.child.once('error', (err) => {
        if (!settled) reject(new Error(`tssh: cannot run ${program}: ${err.message}`));
        settled = true;
      });
      this.child.once('close', (code) => {
        if (settled) return;
        settled = true;
        const said = oneLine(this.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
        reject(new Error(`tssh: could not start the UDP relay on jump host ${hop} (ssh exited with ${code}${said ? `: ${said}` : ''}); install tsshd there, or set UdpJump no`));
      });
    });
    this.line.catch(() => undefined);
  }

  /** Give the relay the next hop's port and wait for its line. */
  nextPort(port: number): Promise<RelayBootstrap> {
    this.child.stdin.write(`${port}\n`);
    return this.line;
  }

  /** Close our side: ssh exits once the relay has detached (or at once, if it never got its port). */
  end(): void {
    this.child.stdin.end();
    const grace = setTimeout(() => this.child.kill('SIGTERM'), 3000);
    grace.unref();
    this.child.once('close', () => clearTimeout(grace));
  }
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
  udp: Pick<UdpOptions, 'udpJump' | 'tsshdPort' | 'udpProxyMode' | 'udpAliveTimeout'>;
  /** A hop's own TsshdPath (its Host block). */
  tsshdPathFor: (host: string) => string;
  effective: Pick<SshEffectiveConfig, 'hostname' | 'proxyJump' | 'proxyCommand' | 'port' | 'user'>;
  connectTimeoutSec: number;
}

/**
 * Decide (UdpJump, ProxyCommand) and start the hops' logins; undefined when
 * the path goes direct. Called beside the target's login; `complete` takes
 * tsshd's port and resolves with the route.
 */
export async function prepareJump(i: JumpInputs): Promise<{ complete: (targetPort: number) => Promise<JumpRoute>; cancel: () => void } | undefined> {
  if (i.effective.proxyJump === undefined && i.effective.proxyCommand !== undefined && i.udp.udpJump !== 'no') {
    if (i.udp.udpProxyMode !== 'tcp') {
      if (!i.parsed.quiet) process.stderr.write(`tssh: UDP cannot follow ProxyCommand to ${i.effective.hostname}; trying it directly (set UdpProxyMode TCP to go through the command, or use ProxyJump)\n`);
      return undefined;
    }
    const proxyCommand = i.effective.proxyCommand;
    return {
      cancel: () => undefined,
      complete: (port) => Promise.resolve({ tcpProxyCommand: expandProxyCommand(proxyCommand, { host: i.effective.hostname, port, user: i.effective.user ?? '', original: i.parsed.host }), end: () => Promise.resolve() }),
    };
  }
  if (!goesThroughHops(i.udp.udpJump, i.effective.proxyJump)) return undefined;
  const pending = await startHopRelays({
    program: i.program,
    hops: parseProxyJump(i.effective.proxyJump!),
    sshOptions: hopSshOptions(i.parsed),
    targetHost: i.effective.hostname,
    tsshdPathFor: i.tsshdPathFor,
    ...(i.udp.tsshdPort !== undefined ? { tsshdPort: i.udp.tsshdPort } : {}),
    tcp: i.udp.udpProxyMode === 'tcp',
    aliveTimeoutSec: i.udp.udpAliveTimeout,
    connectTimeoutSec: i.connectTimeoutSec,
  });
  return {
    cancel: () => pending.cancel(),
    complete: async (port) => {
      const relays = await pending.complete(port);
      return { target: { address: relays.address, port: relays.port }, end: () => sayByeToRelays(relays) };
    },
  };
}
