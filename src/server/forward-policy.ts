/**
 * sshd_config's forwarding rules, applied as sshd applies them, so a roaming
 * login may forward exactly what an ordinary ssh login could. Each check
 * returns null when allowed, or a one-line reason naming the option.
 */
import { matchPattern } from '../protocol/config-syntax.js';
import { describeTarget, type ForwardTarget, type ListenBind } from '../protocol/forward-messages.js';
import type { BindPlan } from '../protocol/forward-listeners.js';
import { loginExpired } from './login-restrictions.js';
import type { SshdPolicy } from './sshd-config.js';

/** The part of SshdPolicy that forwarding reads. */
export type ForwardPolicy = Pick<
  SshdPolicy,
  | 'allowTcpForwarding'
  | 'allowStreamLocalForwarding'
  | 'disableForwarding'
  | 'permitOpen'
  | 'permitListen'
  | 'gatewayPorts'
  | 'streamLocalBindMask'
  | 'streamLocalBindUnlink'
  | 'login'
>;

/** TCP and UDP forwards are both governed by the TCP options (sshd has no UDP forwarding of its own). */
export type ForwardProto = 'tcp' | 'udp';

interface PermitEntry {
  host: string;
  /** null for `*`. */
  port: number | null;
}

/** "host:port", "[host]:port" or (listen only) a bare port, which means any host as in sshd. */
function parsePermitEntry(entry: string): PermitEntry | null {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\*|[0-9]{1,5})$/.exec(entry);
  if (m) return { host: m[1] ?? m[2] ?? '', port: m[3] === '*' ? null : Number(m[3]) };
  if (/^(\*|[0-9]{1,5})$/.test(entry)) return { host: '*', port: entry === '*' ? null : Number(entry) };
  return null;
}

function disabledReason(policy: ForwardPolicy, unix: boolean, direction: 'local' | 'remote'): string | null {
  if (policy.disableForwarding) return 'forwarding is disabled (DisableForwarding yes)';
  // The login's key or certificate (no-port-forwarding, restrict, ...) covers Unix sockets too, as in sshd.
  if (policy.login.forwarding !== null) return policy.login.forwarding;
  const expired = loginExpired(policy.login);
  if (expired !== null) return expired;
  const option = unix ? 'AllowStreamLocalForwarding' : 'AllowTcpForwarding';
  const permission = unix ? policy.allowStreamLocalForwarding : policy.allowTcpForwarding;
  if (permission === 'no') return `${unix ? 'Unix socket' : 'TCP'} forwarding is disabled (${option} no)`;
  if (permission !== 'yes' && permission !== direction) {
    return `${direction} forwarding is not permitted (${option} ${permission})`;
  }
  return null;
}

/**
 * A UDP forward to or from a Unix datagram socket needs both the UDP gate
 * (AllowTcpForwarding) and the Unix socket gate (AllowStreamLocalForwarding).
 */
function disabledUnixUdp(policy: ForwardPolicy, direction: 'local' | 'remote'): string | null {
  return disabledReason(policy, false, direction) ?? disabledReason(policy, true, direction);
}

/** May a client-opened forward (-L, -D, -W, -L udp) connect to `target`? */
export function refuseOpen(policy: ForwardPolicy, target: ForwardTarget, proto: ForwardProto = 'tcp'): string | null {
  const unix = 'path' in target;
  if (unix && proto === 'udp') return disabledUnixUdp(policy, 'local');
  const disabled = disabledReason(policy, unix, 'local');
  if (disabled || unix) return disabled; // PermitOpen covers TCP targets only, as in sshd
  const denied = `${describeTarget(target)} is not permitted by PermitOpen`;
  const list = policy.permitOpen;
  if (list.length === 1 && list[0] === 'none') return `${denied} (PermitOpen none)`;
  if (!(list.length === 1 && list[0] === 'any') && !openPermitted(list, target)) return denied;
  // The key's permitopen= options must allow it too.
  const keyList = policy.login.permitOpen;
  if (keyList !== null && !openPermitted(keyList, target)) return `${describeTarget(target)} is not permitted by the key's permitopen`;
  return null;
}

function openPermitted(list: readonly string[], target: { host: string; port: number }): boolean {
  for (const raw of list) {
    const entry = parsePermitEntry(raw);
    if (!entry || (entry.port !== null && entry.port !== target.port)) continue;
    // sshd compares the requested name as written; DNS names ignore case.
    if (entry.host === '*' || entry.host.toLowerCase() === target.host.toLowerCase()) return true;
  }
  return false;
}

/** The host a listen request names: ssh sends "localhost" when the user gave none. */
export function requestedListenHost(bind: { host?: string }): string {
  return bind.host ?? 'localhost';
}

/** May the client ask for a listener (-R, -R udp) at `bind`? */
export function refuseListen(policy: ForwardPolicy, bind: ListenBind, proto: ForwardProto = 'tcp'): string | null {
  const unix = 'path' in bind;
  if (unix && proto === 'udp') return disabledUnixUdp(policy, 'remote');
  const disabled = disabledReason(policy, unix, 'remote');
  if (disabled || unix) return disabled; // PermitListen covers TCP listeners only, as in sshd
  const denied = `listening on ${describeTarget(bind)} is not permitted by PermitListen`;
  const list = policy.permitListen;
  if (list.length === 1 && list[0] === 'none') return `${denied} (PermitListen none)`;
  if (!(list.length === 1 && list[0] === 'any') && !listenPermitted(list, bind)) return denied;
  const keyList = policy.login.permitListen;
  if (keyList !== null && !listenPermitted(keyList, bind)) return `listening on ${describeTarget(bind)} is not permitted by the key's permitlisten`;
  return null;
}

function listenPermitted(list: readonly string[], bind: { host?: string; port: number }): boolean {
  const host = requestedListenHost(bind).toLowerCase();
  for (const raw of list) {
    const entry = parsePermitEntry(raw);
    if (!entry || (entry.port !== null && entry.port !== bind.port)) continue;
    if (matchPattern(host, entry.host.toLowerCase())) return true;
  }
  return false;
}

/**
 * Where sshd binds a remote listener (its channel_fwd_bind_addr): with
 * GatewayPorts no only loopback (an explicit 127.0.0.1 or ::1 is honoured);
 * yes binds every interface; clientspecified binds what the client named,
 * every interface for '' or '*', loopback for "localhost".
 */
export function serverBindPlan(policy: ForwardPolicy, bind: { host?: string }): BindPlan {
  const host = requestedListenHost(bind);
  switch (policy.gatewayPorts) {
    case 'yes':
      return { kind: 'wildcard' };
    case 'clientspecified':
      if (host === '' || host === '*') return { kind: 'wildcard' };
      if (host === 'localhost') return { kind: 'loopback' };
      return { kind: 'address', host };
    case 'no':
      if (host === '127.0.0.1' || host === '::1') return { kind: 'address', host };
      return { kind: 'loopback' };
  }
}
