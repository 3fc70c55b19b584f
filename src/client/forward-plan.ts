/**
 * Which forwards tssh sets up, decided once before the UDP connection starts.
 * TCP and Unix socket forwards come from `ssh -G` (so ssh_config, Match,
 * -o, -L/-R/-D and ClearAllForwardings are evaluated by ssh itself); UDP
 * forwards, which ssh does not know, from the command line (`-L udp/...`)
 * and UdpLocalForward / UdpRemoteForward. ClearAllForwardings clears those
 * too, as it clears every forward in ssh.
 */
import { parseDynamicForwardSpec, parseForwardSpec, type DynamicForwardSpec, type ForwardSpec } from './forward-spec.js';
import type { SshArgs } from './ssh-args.js';
import type { SshEffectiveConfig } from './ssh-effective-config.js';
import type { UdpOptions } from './udp-options.js';

/** Everything the Forwarder is asked to do, and how failures are treated. */
export interface ForwardPlan {
  /** -L and LocalForward (TCP / Unix), -L udp/... and UdpLocalForward, in order. */
  local: ForwardSpec[];
  /** -R and RemoteForward, then the UDP ones. */
  remote: ForwardSpec[];
  /** -D and DynamicForward. */
  dynamic: DynamicForwardSpec[];
  exitOnForwardFailure: boolean;
  gatewayPorts: boolean;
  streamLocalBindMask: number;
  streamLocalBindUnlink: boolean;
  /** ForwardUdpTimeout in ms. */
  udpTimeoutMs: number;
}

/** A `-L` / `-R` value that names a UDP forward (udp/, udp:, udp_ or udp- prefix). */
export function isUdpForwardSpec(value: string): boolean {
  return /^\s*udp[/:_-]/i.test(value);
}

/** How many forwards the plan holds. */
export function forwardCount(plan: ForwardPlan): number {
  return plan.local.length + plan.remote.length + plan.dynamic.length;
}

/** Build the plan. Throws a one-line Error for a specification tssh cannot carry (e.g. a remote SOCKS forward). */
export function forwardPlan(effective: SshEffectiveConfig, parsed: SshArgs, udp: UdpOptions): ForwardPlan {
  const clear = effective.clearAllForwardings;
  const local = effective.localForwards.map((s) => parseForwardSpec(s, { kind: 'L', label: 'LocalForward' }));
  const remote = effective.remoteForwards.map((s) => {
    // ssh -G writes a remote SOCKS forward (-R [bind:]port) as a forward to "[socks]:0".
    if (s.endsWith(':[socks]:0')) {
      throw new Error(`tssh: remote dynamic forwarding (-R ${s.slice(0, -':[socks]:0'.length)}) is not available over UDP; use -D on the other side, or --tcp`);
    }
    return parseForwardSpec(s, { kind: 'R', label: 'RemoteForward' });
  });
  const dynamic = effective.dynamicForwards.map((s) => parseDynamicForwardSpec(s, 'DynamicForward'));
  if (!clear) {
    for (const s of parsed.localForwards.filter(isUdpForwardSpec)) local.push(parseForwardSpec(s, { kind: 'L' }));
    local.push(...udp.udpLocalForwards);
    for (const s of parsed.remoteForwards.filter(isUdpForwardSpec)) remote.push(parseForwardSpec(s, { kind: 'R' }));
    remote.push(...udp.udpRemoteForwards);
  }
  return {
    local,
    remote,
    dynamic,
    exitOnForwardFailure: effective.exitOnForwardFailure,
    gatewayPorts: effective.gatewayPorts,
    streamLocalBindMask: effective.streamLocalBindMask,
    streamLocalBindUnlink: effective.streamLocalBindUnlink,
    udpTimeoutMs: Math.round(udp.forwardUdpTimeout * 1000),
  };
}

/**
 * Outside UDP mode: the UDP forwards tssh would have to refuse (plain ssh
 * cannot carry them). Returns the one-line refusal, or undefined.
 */
export function udpForwardsWithoutUdpMode(parsed: SshArgs, udp: UdpOptions): string | undefined {
  const cli = [...parsed.localForwards.map((s) => `-L ${s}`), ...parsed.remoteForwards.map((s) => `-R ${s}`)].find((s) => isUdpForwardSpec(s.slice(3)));
  if (cli !== undefined) return `tssh: UDP forwarding (${cli}) needs UDP mode; use --udp, --kcp or --quic, or drop it to use plain ssh`;
  if (udp.udpLocalForwards.length + udp.udpRemoteForwards.length > 0) {
    const name = udp.udpLocalForwards.length > 0 ? 'UdpLocalForward' : 'UdpRemoteForward';
    return `tssh: ${name} needs UDP mode (UdpMode is no here); use --udp, --kcp or --quic, or remove it from the config for this host`;
  }
  return undefined;
}
