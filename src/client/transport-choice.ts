import type { BootstrapMode } from '../protocol/bootstrap.js';
import { loadQuicEngine } from '../transport/quic/engine.js';

/**
 * What transport tssh asks tsshd for: UdpMode kcp/yes or quic, and whether
 * QUIC can load on this machine. Kept apart from transport-factory.ts so
 * that tssh can start ssh before the transports' modules are loaded.
 */

/** The transport to ask tsshd for, and the line to print when QUIC was asked for but cannot be used here. */
export interface TransportChoice {
  mode: BootstrapMode;
  notice?: string;
}

/** UdpMode kcp stays KCP; UdpMode quic is QUIC if the engine loads on this machine, else KCP with a notice. */
export function chooseClientTransport(udpMode: BootstrapMode, load: () => unknown = loadQuicEngine): TransportChoice {
  if (udpMode === 'kcp') return { mode: 'kcp' };
  const engine = load();
  if (engine instanceof Error) return { mode: 'kcp', notice: `tssh: ${engine.message}; using KCP` };
  return { mode: 'quic' };
}
