/** The secure roaming datagram path: what the transport layer builds on. */
export type { DatagramPath } from './datagram-path.js';
export { ClientPath, type ClientPathOptions } from './client-path.js';
export { ServerPath, type ServerPathOptions } from './server-path.js';
export { parsePortSpec, countPorts, type PortRange } from './port-spec.js';
export { NoFreePortError } from './port-binding.js';
export { PATH_DEFAULTS, REKEY_DEFAULTS, type ProxyMode, type RekeyConfig } from './path-options.js';
export { PATH_OVERHEAD_BYTES, DatagramType } from './datagram-format.js';
export type { PathStats, PathDrops, ServerPathStats, ClientPathStats } from './path-stats.js';
export type { RekeyStats } from './rekeyer.js';
