/**
 * Which way a datagram travels. The value is the nonce's first 4 bytes (big
 * endian), so a datagram reflected back at its sender never authenticates.
 */
export const Direction = {
  ClientToServer: 0,
  ServerToClient: 1,
} as const;

/** 0 = client to server, 1 = server to client. */
export type Direction = (typeof Direction)[keyof typeof Direction];
