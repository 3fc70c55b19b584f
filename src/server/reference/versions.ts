/**
 * The reference tsshd this server stands in for when the reference Go tssh
 * starts it: the version it reports in ServerInfo.ServerVer and the
 * protocol number in ServerInfo.ProtoVer (tsshd v0.1.9, protocol 1; pinned
 * with the peers in interop/peers.env).
 */
export const REFERENCE_TSSHD_VERSION = '0.1.9';
export const REFERENCE_PROTOCOL_VERSION = 1;
