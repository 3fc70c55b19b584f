import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DatagramCodec } from './datagram-codec.js';
import { DatagramType, PATH_OVERHEAD_BYTES } from './datagram-format.js';
import type { DatagramPath } from './datagram-path.js';
import { DeadlineTimer } from './deadline-timer.js';
import { largestMtu } from './loopback-mtu.js';
import type { CommonPathConfig } from './path-options.js';
import { emptyDrops, type PathStats } from './path-stats.js';
import { Rekeyer, type RekeyHost } from './rekeyer.js';

/** A timer that runs this much later than due means the process was stopped or the machine slept (see onDue). */
export const STALL_MS = 1000;

/**
 * What both ends of the path do alike: seal and open datagrams, count them,
 * watch liveness (contact lost after heartbeatTimeoutMs, give up after
 * aliveTimeoutMs), act on an opened datagram by its type and say goodbye.
 * ServerPath and ClientPath add their sockets and what only their side does
 * through the protected hooks below. Key lifetime (periodic forward-secret
 * rekeying, docs/REKEY.md) is the Rekeyer's: the transport above never notices.
 *
 * Events: 'contact-lost' (sinceMs); 'contact-restored' (); 'gave-up' (reason);
 * 'resumed' (stalledMs) (this process ran again after a stop or sleep; the stall is not counted as silence);
 * 'close' (reason?: string) (after a local close(), a peer's goodbye or giving up).
 */
export abstract class PathEnd extends EventEmitter implements DatagramPath {
  private budget: number;
  onDatagram: ((payload: Buffer) => void) | null = null;

  protected readonly drops = emptyDrops();
  protected readonly codec: DatagramCodec;
  protected readonly timer: DeadlineTimer;
  protected readonly rekeyer: Rekeyer;
  protected lastContactAt = performance.now();
  protected contactLost = false;
  protected closed = false;
  protected datagramsSent = 0;
  protected datagramsReceived = 0;
  protected keepalivesSent = 0;
  protected keepalivesReceived = 0;

  protected constructor(
    protected readonly config: CommonPathConfig,
    side: 'client' | 'server',
  ) {
    super();
    this.budget = config.mtu - PATH_OVERHEAD_BYTES;
    this.codec = new DatagramCodec(config.secret, side, this.drops);
    // The keys are derived: the raw session secret is not needed again (docs/REKEY.md, wipe discipline).
    config.secret.fill(0);
    this.timer = new DeadlineTimer(this.onDue);
    const codec = this.codec;
    const host: RekeyHost = {
      sendControl: (type, payload, now) => {
        if (!this.closed) this.transmit(type, payload, now);
      },
      canRekey: () => this.hasPeer() && !this.closed,
      get srttMs() {
        return codec.rtt.srttMs;
      },
    };
    this.rekeyer = new Rekeyer(codec.initialSecrets, side, codec, this.timer, host, config.rekey, performance.now());
  }

  /**
   * Start a rekey now (or as soon as the previous one has settled) instead of
   * waiting for the interval or byte limit. The transport above notices nothing.
   */
  rekey(): void {
    if (!this.closed) this.rekeyer.rekey();
  }

  get payloadBudget(): number {
    return this.budget;
  }

  get largestPayloadBudget(): number {
    return Math.max(this.budget, largestMtu(this.config.mtu, this.config.largeOnLoopback) - PATH_OVERHEAD_BYTES);
  }

  get srttMs(): number {
    return this.codec.rtt.srttMs;
  }

  /** performance.now() time of the last authenticated datagram (creation time before the first). */
  get lastContactMs(): number {
    return this.lastContactAt;
  }

  /** Whether close() ran or the path closed itself. */
  get isClosed(): boolean {
    return this.closed;
  }

  send(payload: Uint8Array): void {
    if (payload.length > this.payloadBudget) {
      throw new RangeError(`datagram of ${payload.length} bytes exceeds the path's limit of ${this.payloadBudget} bytes`);
    }
    if (this.closed) return;
    this.transmit(DatagramType.Data, payload, performance.now());
  }

  /** @internal test seam: the secret Buffers this end holds now (tests check retired ones were zeroed). */
  secretBuffersForTest(): Buffer[] {
    return this.rekeyer.secretBuffersForTest();
  }

  /** Counters, RTT and liveness, plus what this side reports of its own. */
  abstract stats(): PathStats;

  /** Send a goodbye carrying `reason` to the peer (best effort), then stop. Idempotent. */
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.stop(reason, true);
  }

  // Hooks: what each side does its own way.

  /** Seal `payload` as a datagram of `type` and hand it to the socket (or count why not, in `drops`). */
  protected abstract transmit(type: DatagramType, payload: Uint8Array | null, now: number): void;

  /** Set the timer for this side's next deadline (`now` is performance.now() at the call). */
  protected abstract armTimer(now: number): void;

  /**
   * The timer fired, the path is open and the common liveness checks ran
   * (`contactJustLost`: this run emitted 'contact-lost'): do this side's timed work and re-arm.
   */
  protected abstract timerFired(now: number, silentMs: number, contactJustLost: boolean): void;

  /** Let go of the socket(s); first send a goodbye carrying `goodbyeReason` (best effort) unless it is null. */
  protected abstract closeSockets(goodbyeReason: string | null): void;

  /** Whether there is a peer to lose contact with (the server has none before its first authenticated datagram). */
  protected hasPeer(): boolean {
    return true;
  }

  /** A PathChallenge arrived; the client answers it (address-validation.ts), the server never gets one. */
  protected challengeReceived(_challenge: Buffer, _now: number): void {
    // Nothing by default.
  }

  /** A keepalive arrived (already counted); the server answers it, the client needs nothing more. */
  protected keepaliveReceived(_now: number): void {
    // Nothing by default.
  }

  // Helpers for the two sides.

  /** Let datagrams of up to `mtu` sealed bytes out from now on (it never shrinks) and tell the transport ('payload-budget'). */
  protected growMtu(mtu: number): void {
    const budget = mtu - PATH_OVERHEAD_BYTES;
    if (budget <= this.budget) return;
    this.budget = budget;
    this.emit('payload-budget', budget);
  }

  /** The stats() fields both sides report. */
  protected pathStats(): PathStats {
    const rtt = this.codec.rtt;
    return {
      rttMs: rtt.latestMs,
      srttMs: rtt.srttMs,
      rttVarMs: rtt.rttVarMs,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      keepalivesSent: this.keepalivesSent,
      keepalivesReceived: this.keepalivesReceived,
      dropped: { ...this.drops },
      lastContactMs: this.lastContactAt,
      contactLost: this.contactLost,
      rekey: this.rekeyer.stats(),
    };
  }

  /** Count one sealed datagram handed to the socket. */
  protected countSent(type: DatagramType): void {
    this.datagramsSent++;
    if (type === DatagramType.Keepalive) this.keepalivesSent++;
  }

  /**
   * Authenticate a received datagram and note the contact. Returns its payload
   * (its type in `codec.type`), or null when the path is closed or the datagram
   * was refused (counted in `drops`). Pass the result to deliver().
   */
  protected authenticate(datagram: Buffer, now: number): Buffer | null {
    if (this.closed) return null;
    const payload = this.codec.open(datagram, now);
    if (payload === null) return null;
    this.datagramsReceived++;
    this.lastContactAt = now;
    this.rekeyer.opened(this.codec.epoch, now);
    return payload;
  }

  /** Act on an authenticated datagram: end a contact loss, then hand data up, take a keepalive or close on goodbye. */
  protected deliver(payload: Buffer, now: number): void {
    if (this.contactLost) {
      this.contactLost = false;
      this.armTimer(now);
      this.emit('contact-restored');
      if (this.closed) return;
    }
    switch (this.codec.type) {
      case DatagramType.Data:
        this.onDatagram?.(payload);
        return;
      case DatagramType.Keepalive:
        this.keepalivesReceived++;
        this.keepaliveReceived(now);
        return;
      case DatagramType.Goodbye:
        this.stop(payload.toString('utf8'), false);
        return;
      case DatagramType.PathChallenge:
        this.challengeReceived(payload, now);
        return;
      case DatagramType.PathResponse:
        // The server checked it against its candidate before this (address-validation.ts).
        return;
      default:
        this.rekeyer.receive(this.codec.type, payload, now);
    }
  }

  /** The earliest deadline both sides share: giving up, (with a peer in contact) losing contact, and rekey work. */
  protected livenessDeadline(): number {
    let due = Math.min(this.lastContactAt + this.config.aliveTimeoutMs, this.rekeyer.dueAt);
    if (!this.contactLost && this.hasPeer()) due = Math.min(due, this.lastContactAt + this.config.heartbeatTimeoutMs);
    return due;
  }

  /** A goodbye datagram carrying `reason` (cut to the payload budget), with `headroom` spare bytes in front. */
  protected sealGoodbye(reason: string, headroom: number): Buffer {
    const text = Buffer.from(reason, 'utf8');
    return this.codec.seal(DatagramType.Goodbye, text.subarray(0, this.payloadBudget), headroom, performance.now());
  }

  private stop(reason: string, sayGoodbye: boolean): void {
    this.closed = true;
    this.timer.stop();
    this.closeSockets(sayGoodbye ? reason : null);
    this.rekeyer.dispose();
    this.emit('close', reason);
  }

  private readonly onDue = (meantAt: number): void => {
    if (this.closed) return;
    const now = performance.now();
    const stalledMs = now - meantAt;
    if (stalledMs > STALL_MS) {
      // This process did not run (SIGSTOP, a sleeping laptop): nothing could be heard meanwhile, so that time
      // is not the peer's silence. Liveness is judged from the resume, after the socket's backlog is read.
      this.lastContactAt = Math.min(this.lastContactAt + stalledMs, now);
      this.emit('resumed', stalledMs);
      if (this.closed) return;
    }
    const { heartbeatTimeoutMs, aliveTimeoutMs } = this.config;
    const silentMs = now - this.lastContactAt;
    if (silentMs >= aliveTimeoutMs) {
      const reason = `no authenticated datagram for ${Math.round(silentMs)} ms (UdpAliveTimeout ${aliveTimeoutMs} ms)`;
      this.emit('gave-up', reason);
      this.close(reason);
      return;
    }
    let contactJustLost = false;
    if (!this.contactLost && silentMs >= heartbeatTimeoutMs && this.hasPeer()) {
      this.contactLost = true;
      this.emit('contact-lost', silentMs);
      if (this.closed) return;
      contactJustLost = true;
    }
    this.rekeyer.onTimer(now);
    if (this.closed) return;
    this.timerFired(now, silentMs, contactJustLost);
  };
}
