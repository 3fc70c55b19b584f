import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { openAuthPacket, sealAuthPacket, SAFE_TO_DROP_BYTES } from './reference-auth.js';
import type { ForeignDatagramReceiver, ForeignSource, ServerPath } from './server-path.js';

/**
 * The server side of the reference family's address authentication
 * (docs/INTEROP.md "Proxy"), on the port our ServerPath listens on: the
 * reference client is one more protocol family there (ForeignDatagramReceiver).
 *
 * Rules, as the Go tsshd v0.1.9 keeps them for its one client:
 *  - An auth packet from an unknown address with the client's id and a serial
 *    above every serial taken before makes that address "authenticated" (not
 *    yet current) and is answered with the server's auth packet for that serial.
 *  - The first non-auth datagram from the authenticated address makes it the
 *    current address (a reconnect: 'reconnected' is emitted, for the discard
 *    marker and the KCP retransmission reset); datagrams from the current
 *    address are the transport's. Repeated auth packets there are answered again.
 *  - Over TCP the first frame of a connection must be such an auth packet; the
 *    connection then becomes current at once and the older one is closed.
 *  - Everything else is dropped and counted; no reply is bigger than the packet
 *    it answers (44 bytes each).
 *
 * Events: 'reconnected' (address, port) whenever a new address or connection
 * became current (the first one too); 'packet' is not an event: onPacket is
 * called for each transport datagram, in arrival order.
 */
export class ReferenceServerProxy extends EventEmitter implements ForeignDatagramReceiver {
  /** Transport datagrams (kcp-go framing) from the current address. */
  onPacket: ((datagram: Buffer) => void) | null = null;
  /** performance.now() of the last datagram from the current address (liveness). */
  lastReceiveMs = performance.now();
  readonly drops = { auth: 0, stale: 0, short: 0, noClient: 0 };
  private serial = 0n;
  private current: ForeignSource | null = null;
  private authed: ForeignSource | null = null;
  private path: ServerPath | null = null;

  constructor(
    private readonly proxyKey: Uint8Array,
    private readonly clientId: bigint,
    private readonly serverId: bigint,
  ) {
    super();
  }

  /** Serve the reference client on `path`'s port (diverting it on the client's first valid auth packet). */
  attach(path: ServerPath): void {
    this.path = path;
    path.setForeignReceiver(this);
  }

  /** The current client address, or null before the first / after a time-out cleared it. */
  get peer(): { address: string; port: number } | null {
    return this.current === null ? null : { address: this.current.address, port: this.current.port };
  }

  /** Send one transport datagram to the current address (dropped while there is none). */
  send(datagram: Uint8Array): void {
    if (this.current === null) {
      this.drops.noClient++;
      return;
    }
    this.path?.sendForeign(datagram, this.current);
  }

  /**
   * The client went silent past its heartbeat time-out: forget its addresses
   * (as the Go tsshd does), so nobody else can use them; it comes back with a
   * new auth packet.
   */
  forgetAddresses(): void {
    if (this.current?.conn) this.current.conn.destroy();
    this.current = null;
    this.authed = null;
  }

  offer(datagram: Buffer, from: ForeignSource): boolean {
    return this.tryAuth(datagram, from);
  }

  receive(datagram: Buffer, from: ForeignSource): void {
    const cur = this.current;
    if (cur !== null && same(cur, from)) {
      this.deliver(datagram);
      return;
    }
    const authed = this.authed;
    if (authed !== null && from.conn === null && same(authed, from)) {
      if (this.tryAuth(datagram, from)) return;
      // The first datagram that is not an auth packet: this address is now the client's.
      this.authed = null;
      this.makeCurrent(from);
      this.deliver(datagram);
      return;
    }
    this.tryAuth(datagram, from);
  }

  connectionClosed(conn: net.Socket): void {
    if (this.current?.conn === conn) this.current = null;
  }

  private deliver(datagram: Buffer): void {
    if (datagram.length <= SAFE_TO_DROP_BYTES) {
      this.drops.short++;
      return;
    }
    this.lastReceiveMs = performance.now();
    this.onPacket?.(datagram);
  }

  /** Open `datagram` as the client's auth packet; on success take its serial if newer and answer. True if it was one. */
  private tryAuth(datagram: Buffer, from: ForeignSource): boolean {
    const claim = openAuthPacket(this.proxyKey, datagram);
    if (claim === null || claim.id !== this.clientId) {
      this.drops.auth++;
      return false;
    }
    const repeat = this.authed !== null && same(this.authed, from);
    if (claim.serial < this.serial || (claim.serial === this.serial && !repeat)) {
      // A replay, or an older path of the client's: not an address to move to.
      this.drops.stale++;
      return true;
    }
    this.serial = claim.serial;
    this.path?.sendForeign(sealAuthPacket(this.proxyKey, this.serverId, this.serial), from);
    if (from.conn !== null) {
      // TCP: the connection that authenticated is the client's from now on; the older one is finished.
      const old = this.current?.conn;
      this.makeCurrent(from);
      if (old && old !== from.conn) old.destroy();
    } else if (!repeat) {
      this.authed = { ...from };
    }
    return true;
  }

  private makeCurrent(from: ForeignSource): void {
    this.current = { ...from };
    this.lastReceiveMs = performance.now();
    this.emit('reconnected', from.address, from.port);
  }
}

function same(a: ForeignSource, b: ForeignSource): boolean {
  return a.conn === b.conn && a.port === b.port && a.address === b.address;
}
