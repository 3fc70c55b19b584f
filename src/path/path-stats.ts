import type { RekeyStats } from './rekeyer.js';

/** Datagrams the path refused or could not send, by reason. */
export interface PathDrops {
  /** Received: too short, bad version/flags/packet number, unknown type, impossible TCP frame. */
  malformed: number;
  /** Received: failed authentication (forged, corrupted, wrong key or direction, unknown key epoch). */
  auth: number;
  /** Received: duplicate packet number or below the replay window. */
  replay: number;
  /** Sent (server): no authenticated peer yet. */
  noPeer: number;
  /** Sent (server): only an address not yet validated to send to, and its amplification budget spent. */
  unvalidated: number;
  /** Sent (client): no open socket at that moment (during a renewal or TCP reconnect). */
  noSocket: number;
  /** Sent: the operating system refused the send. */
  sendError: number;
  /** Sent (TCP mode): the connection's write buffer was full. */
  congested: number;
}

/** A fresh all-zero PathDrops. */
export function emptyDrops(): PathDrops {
  return { malformed: 0, auth: 0, replay: 0, noPeer: 0, unvalidated: 0, noSocket: 0, sendError: 0, congested: 0 };
}

/** What both kinds of path report. */
export interface PathStats {
  /** Latest RTT sample, smoothed RTT and its variance in ms (RFC 6298); NaN before a sample. */
  rttMs: number;
  srttMs: number;
  rttVarMs: number;
  /** Sealed datagrams handed to the socket (data, keepalive, goodbye). */
  datagramsSent: number;
  /** Authenticated datagrams received (data, keepalive, goodbye). */
  datagramsReceived: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  dropped: PathDrops;
  /** performance.now() of the last authenticated datagram (creation time before the first). */
  lastContactMs: number;
  /** Whether 'contact-lost' was emitted and no datagram has arrived since. */
  contactLost: boolean;
  /** Key epochs and rekey handshakes (docs/REKEY.md). */
  rekey: RekeyStats;
}

/** Stats of a ServerPath. */
export interface ServerPathStats extends PathStats {
  /** The port the server listens on. */
  port: number;
  /** The validated peer address, null before the first validation. */
  peer: { address: string; port: number } | null;
  /** The address being validated (it sent the newest authenticated datagram), or null. */
  candidate: { address: string; port: number } | null;
  /** Times the peer address changed (each after validation). */
  peerMoves: number;
  /** PathChallenge datagrams sent. */
  challengesSent: number;
  /** TCP connections open (UdpProxyMode TCP), authenticated or not. */
  tcpConnections: number;
}

/** Stats of a ClientPath. */
export interface ClientPathStats extends PathStats {
  /** Local port of the current socket (0 while none is open). */
  localPort: number;
  /** Completed renewals (new socket in place). */
  renewals: number;
  /** Renewals that could not open a new socket (retried later). */
  renewalFailures: number;
  lastRenewalReason: string | null;
  /** PathChallenge datagrams answered. */
  challengesAnswered: number;
}
