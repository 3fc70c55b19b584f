/**
 * The client end of the reference family's path (docs/INTEROP.md "Proxy"):
 * one connected UDP socket (or one TCP connection in UDP-over-TCP mode) that
 * the Go tsshd has authenticated with an auth packet, renewed as a whole -
 * new socket, next serial - whenever the way to the server may have changed.
 *
 * Roaming is ours, within the reference's rules:
 * - a renewal starts at once when the local addresses change, when a send
 *   fails, and when the server has been silent for `silenceMs` although we
 *   sent after we last heard from it (a NAT that rebound drops its answers);
 *   the Go client waits for a 3 s heartbeat timeout instead;
 * - the new socket sends its auth packet and then, right behind it, whatever
 *   the transport has to send: the server takes the new address with the
 *   first non-auth datagram after the auth, so the session moves in half a
 *   round trip, not one and a half. Auth packets repeat every 100 ms until
 *   answered (or until the server's traffic arrives on the new socket).
 *
 * Datagrams are handed to `onDatagram`, which returns whether they opened
 * (the AEAD lives in the transport's framing): only those count as contact.
 *
 * Events: 'renewed' (reason); 'contact-lost' (sinceMs); 'contact-restored';
 * 'gave-up' (reason); 'close'.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SendOutcome, TcpClientCarrier, UdpClientCarrier, type ClientCarrier, type ClientCarrierSink } from './client-carrier.js';
import { localAddressFingerprint } from './local-addresses.js';
import { ClientAuthState, SAFE_TO_DROP_BYTES } from './reference-auth.js';

export interface ReferenceClientPathOptions {
  /** The server's address (already resolved) and the port of its ServerInfo. */
  address: string;
  port: number;
  proxyMode: 'udp' | 'tcp';
  proxyKey: Uint8Array;
  clientId: bigint;
  serverId: bigint;
  /** Largest datagram (TCP frame limit). */
  mtu: number;
  /** The first authentication must succeed within this long. Default 10000. */
  connectTimeoutMs?: number;
  /** Silence (with our data unanswered) that starts a renewal. Default 1000. */
  silenceMs?: number;
  /** No contact for this long: 'contact-lost'. Default 3000. */
  heartbeatTimeoutMs?: number;
  /** No contact for this long: 'gave-up'. Default 24 h. */
  aliveTimeoutMs?: number;
  /** How often local addresses are compared, ms; 0 turns it off. Default 1000. */
  interfacePollMs?: number;
  localAddressFingerprint?: () => string;
}

/** Auth packets repeat this often until answered (as the reference). */
const AUTH_RESEND_MS = 100;
/** A renewal without any answer is started over (new socket, next serial) after this long. */
const RENEW_RETRY_MS = 3000;
/** The one timer's period: liveness, auth resends and the interface poll all ride on it. */
const TICK_MS = 100;

export interface ReferencePathStats {
  renewals: number;
  authPacketsSent: number;
  datagramsSent: number;
  datagramsReceived: number;
  /** Datagrams that did not open (counted, dropped). */
  dropped: number;
  localPort: number;
}

export class ReferenceClientPath extends EventEmitter implements ClientCarrierSink {
  /** Receives each datagram; returns true if it was authentic (opened by the transport). */
  onDatagram: ((datagram: Buffer) => boolean) | null = null;
  private carrier: ClientCarrier | null = null;
  private opening: Promise<void> | null = null;
  private readonly auth: ClientAuthState;
  private authed = false;
  private authSentAt = 0;
  private renewStartedAt = 0;
  private lastHeard: number;
  private lastSent = 0;
  private lost = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private fingerprint: string;
  private lastPoll = 0;
  private readonly family: 4 | 6;
  private readonly silenceMs: number;
  private readonly heartbeatMs: number;
  private readonly aliveMs: number;
  private readonly pollMs: number;
  private readonly fingerprintOf: () => string;
  private readonly counters = { renewals: 0, authPacketsSent: 0, datagramsSent: 0, datagramsReceived: 0, dropped: 0 };

  private constructor(private readonly o: ReferenceClientPathOptions) {
    super();
    this.auth = new ClientAuthState(o.proxyKey, o.clientId, o.serverId);
    this.family = isIP(o.address) === 6 ? 6 : 4;
    this.silenceMs = o.silenceMs ?? 1000;
    this.heartbeatMs = o.heartbeatTimeoutMs ?? 3000;
    this.aliveMs = o.aliveTimeoutMs ?? 24 * 3600 * 1000;
    this.pollMs = o.interfacePollMs ?? 1000;
    this.fingerprintOf = o.localAddressFingerprint ?? localAddressFingerprint;
    this.fingerprint = this.pollMs > 0 ? this.fingerprintOf() : '';
    this.lastHeard = performance.now();
  }

  /** Open the first path and authenticate it; rejects with one line if the server does not answer in time. */
  static async create(o: ReferenceClientPathOptions): Promise<ReferenceClientPath> {
    const path = new ReferenceClientPath(o);
    const timeout = o.connectTimeoutMs ?? 10_000;
    await path.openCarrier();
    path.timer = setInterval(() => path.tick(), TICK_MS);
    const start = performance.now();
    while (!path.authed) {
      if (path.closed) throw new Error('path closed');
      if (performance.now() - start > timeout) {
        path.close();
        const how = o.proxyMode === 'tcp' ? 'TCP' : 'UDP';
        throw new Error(`no answer from tsshd at ${o.address}:${o.port} (${how}) within ${Math.round(timeout / 1000)} s; a firewall may block the port`);
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          path.off('authed', done);
          path.off('tick', done);
          resolve();
        };
        path.on('authed', done);
        path.on('tick', done);
      });
    }
    return path;
  }

  /** When a datagram from the server last opened (performance.now()). */
  get lastContactMs(): number {
    return this.lastHeard;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): ReferencePathStats {
    return { ...this.counters, localPort: this.carrier?.localPort ?? 0 };
  }

  /** Send one datagram to the server (dropped, as UDP would, while no socket is open). */
  send(datagram: Buffer): void {
    const c = this.carrier;
    if (c === null || this.closed) return;
    this.lastSent = performance.now();
    this.counters.datagramsSent++;
    const outcome = c.send(c.headroom === 0 ? datagram : withHeadroom(datagram, c.headroom));
    if (outcome === SendOutcome.Failed) this.renew('send failed');
  }

  /** Start a new path now (new socket, next serial): `~P`, or one of the triggers above. */
  renew(reason = 'asked'): void {
    if (this.closed || this.opening !== null) return;
    this.counters.renewals++;
    this.openCarrier().then(
      () => this.emit('renewed', reason),
      () => undefined,
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.carrier?.close();
    this.carrier = null;
    this.emit('close');
  }

  // ---- ClientCarrierSink ----

  carrierDatagram(datagram: Buffer): void {
    if (this.closed) return;
    this.counters.datagramsReceived++;
    if (!this.authed && this.auth.accepts(datagram)) {
      this.onAuthed();
      return;
    }
    if (datagram.length <= SAFE_TO_DROP_BYTES || this.onDatagram === null || !this.onDatagram(datagram)) {
      this.counters.dropped++;
      return;
    }
    // The server's traffic on this socket means it took the address, whatever became of its auth answer.
    if (!this.authed) this.onAuthed();
    this.lastHeard = performance.now();
    if (this.lost) {
      this.lost = false;
      this.emit('contact-restored');
    }
  }

  carrierSendFailed(carrier: ClientCarrier): void {
    if (carrier === this.carrier) this.renew('send failed');
  }

  carrierFailed(carrier: ClientCarrier): void {
    if (carrier === this.carrier) this.renew('socket failed');
  }

  carrierMalformed(carrier: ClientCarrier): void {
    if (carrier === this.carrier) this.renew('malformed TCP frame');
  }

  // ---- internals ----

  private onAuthed(): void {
    this.authed = true;
    this.emit('authed');
  }

  private openCarrier(): Promise<void> {
    const old = this.carrier;
    this.carrier = null;
    old?.close();
    this.authed = false;
    const packet = this.auth.nextPath();
    this.renewStartedAt = performance.now();
    const o = this.o;
    const opening = (o.proxyMode === 'tcp'
      ? TcpClientCarrier.open(o.address, o.port, o.mtu, o.connectTimeoutMs ?? 10_000, this)
      : UdpClientCarrier.open(o.address, o.port, this.family, this)
    ).then(
      (carrier) => {
        this.opening = null;
        if (this.closed) {
          carrier.close();
          return;
        }
        this.carrier = carrier;
        this.sendAuth(packet);
      },
      (err: Error) => {
        this.opening = null;
        throw err;
      },
    );
    this.opening = opening;
    return opening;
  }

  private sendAuth(packet = this.auth.packet()): void {
    const c = this.carrier;
    if (c === null) return;
    this.counters.authPacketsSent++;
    this.authSentAt = performance.now();
    c.send(c.headroom === 0 ? packet : withHeadroom(packet, c.headroom));
  }

  private tick(): void {
    if (this.closed) return;
    const now = performance.now();
    this.emit('tick');
    if (!this.authed && this.carrier !== null && now - this.authSentAt >= AUTH_RESEND_MS) this.sendAuth();
    if (this.pollMs > 0 && now - this.lastPoll >= this.pollMs) {
      this.lastPoll = now;
      const fp = this.fingerprintOf();
      if (fp !== this.fingerprint) {
        this.fingerprint = fp;
        this.renew('local addresses changed');
        return;
      }
    }
    const silent = now - this.lastHeard;
    if (!this.lost && silent >= this.heartbeatMs) {
      this.lost = true;
      this.emit('contact-lost', silent);
    }
    if (silent >= this.aliveMs) {
      this.emit('gave-up', 'alive timeout');
      this.close();
      return;
    }
    // Unanswered: our data went out after the server last spoke, and it has been quiet since.
    const unanswered = this.lastSent > this.lastHeard && silent >= this.silenceMs;
    const sinceRenew = now - this.renewStartedAt;
    if (this.opening === null && unanswered && sinceRenew >= (this.authed ? this.silenceMs : RENEW_RETRY_MS)) this.renew('server silent');
  }
}

function withHeadroom(datagram: Buffer, headroom: number): Buffer {
  const out = Buffer.allocUnsafe(headroom + datagram.length);
  datagram.copy(out, headroom);
  return out;
}
