import type { BindPlan } from '../protocol/forward-listeners.js';

/**
 * Where tssh binds a -L/-D/-L udp listener, as ssh does
 * (channel_fwd_bind_addr for the client): no address means loopback, or
 * every interface with GatewayPorts (-g); '' and '*' mean every interface;
 * "localhost" means loopback; anything else is bound as given.
 */
export function clientBindPlan(host: string | undefined, gatewayPorts: boolean): BindPlan {
  if (host === undefined) return gatewayPorts ? { kind: 'wildcard' } : { kind: 'loopback' };
  if (host === '' || host === '*') return { kind: 'wildcard' };
  if (host === 'localhost') return { kind: 'loopback' };
  return { kind: 'address', host };
}

/** The listen host ssh sends for a -R request: "localhost" when none was given, '' for every interface. */
export function remoteBindHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  return host === '*' ? '' : host;
}
