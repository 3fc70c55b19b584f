import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  SendOutcome,
  TcpClientCarrier,
  UdpClientCarrier,
  type ClientCarrier,
  type ClientCarrierSink,
} from './client-carrier.js';
import { DatagramCodec } from './datagram-codec.js';
import { DatagramType, PATH_OVERHEAD_BYTES } from './datagram-format.js';
import type { DatagramPath } from './datagram-path.js';
import { DeadlineTimer } from './deadline-timer.js';
import { localAddressFingerprint } from './local-addresses.js';
import { PATH_DEFAULTS, resolveCommonPathConfig, type CommonPathConfig, type ProxyMode } from './path-options.js';
import { emptyDrops, type ClientPathStats } from './path-stats.js';

/** Options of ClientPath.create(). */
export interface ClientPathOptions {
  /** The server's host name or address (resolved once, at create()). */
  host: string;
  /** The port the server printed in its bootstrap line. */
  port: number;
  /** The 32-byte session secret. */
  secret: Uint8Array;
  /** UdpMTU, default 1400; must not exceed the server's. */
  mtu?: number;
  /** No authenticated datagram for this long: 'contact-lost' and a renewal (again every this long). Default 3000. */
  heartbeatTimeoutMs?: number;
  /** UdpAliveTimeout: no contact for this long and the path gives up. Default 24 h. */
  aliveTimeoutMs?: number;
  /** UdpProxyMode: 'udp' (default) or 'tcp'. */
  proxyMode?: ProxyMode;
  /** How often to look for a change of local addresses, ms; 0 turns it off. Default 2000. */
  interfacePollMs?: number;
  /** Where the local-address fingerprint comes from; default os.networkInterfaces(). A seam for tests. */
  localAddressFingerprint?: () => string;
}

/** Automatic renewals (send errors, TCP reconnects) are at least this far apart, so a dead network cannot spin them. */
const MAX_RENEWAL_INTERVAL_FLOOR_MS = 1000;

function errorCode(err: Error | null): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? err?.message ?? 'closed';
}

/**
 * The client end of the secure roaming path. It sends sealed datagrams to the
 * server and renews itself (closes its socket and opens a fresh one on a new
 * source port) when a send fails, when the machine's local addresses change
 * and when the server has been silent for heartbeatTimeoutMs. A renewal is
 * followed at once by a keepalive, so the server moves to the new address on
 * that first datagram. No network error escapes; the layer above only sees
 * some datagrams lost, and 'renewed' as its cue to probe.
 *
 * Keepalives go out when nothing was sent for heartbeatTimeoutMs/3, and also
 * when nothing was received for that long (so a client that only uploads
 * still hears from the server). The server answers each one.
 *
 * Events: 'renewed' (reason); 'contact-lost' (sinceMs); 'contact-restored' ();
 * 'gave-up' (reason); 'close' (reason?: string).
 */
export class ClientPath extends EventEmitter implements DatagramPath, ClientCarrierSink {
  readonly payloadBudget: number;
  onDatagram: ((payload: Buffer) => void) | null = null;

  private readonly drops = emptyDrops();
  private readonly codec: DatagramCodec;
  private readonly timer: DeadlineTimer;
  private readonly keepaliveIntervalMs: number;
  private readonly minRenewalIntervalMs: number;
  private readonly interfacePollMs: number;
  private readonly fingerprintSource: () => string;
  private carrier: ClientCarrier | null = null;
  private renewing: Promise<void> | null = null;
  private pendingRenewal: string | null = null;
  private injectedSendError: string | null = null;
  private fingerprint: string;
  private nextPollAt: number;
  private lastRenewAt = -Infinity;
  private lastSendAt: number;
  private lastKeepaliveAt: number;
  private lastContactAt: number;
  private contactLost = false;
  private closed = false;
  private datagramsSent = 0;
  private datagramsReceived = 0;
  private keepalivesSent = 0;
  private keepalivesReceived = 0;
  private renewals = 0;
  private renewalFailures = 0;
  private lastRenewalReason: string | null = null;

  private constructor(
    private readonly config: CommonPathConfig,
    private readonly serverAddress: string,
    private readonly serverPort: number,
    private readonly family: 4 | 6,
    options: ClientPathOptions,
  ) {
    super();
    this.payloadBudget = config.mtu - PATH_OVERHEAD_BYTES;
    this.codec = new DatagramCodec(config.secret, 'client', this.drops);
    this.timer = new DeadlineTimer(this.onTimer);
    this.keepaliveIntervalMs = config.heartbeatTimeoutMs / 3;
    this.minRenewalIntervalMs = Math.min(MAX_RENEWAL_INTERVAL_FLOOR_MS, this.keepaliveIntervalMs);
    this.interfacePollMs = options.interfacePollMs ?? PATH_DEFAULTS.interfacePollMs;
    this.fingerprintSource = options.localAddressFingerprint ?? localAddressFingerprint;
    this.fingerprint = this.interfacePollMs > 0 ? this.fingerprintSource() : '';
    const now = performance.now();
    this.nextPollAt = now + this.interfacePollMs;
    this.lastSendAt = now;
    this.lastKeepaliveAt = now;
    this.lastContactAt = now;
  }

  /**
   * Resolve the server's address, open the first socket and send a first
   * keepalive so the server learns this client at once. Throws only for
   * invalid options or a host name that does not resolve; an unreachable
   * server (e.g. TCP refused) is retried in the background like a renewal.
   */
  static async create(options: ClientPathOptions): Promise<ClientPath> {
    const config = resolveCommonPathConfig(options);
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new RangeError(`port must be 1..65535, got ${options.port}`);
    }
    const interfacePollMs = options.interfacePollMs ?? PATH_DEFAULTS.interfacePollMs;
    if (!Number.isFinite(interfacePollMs) || interfacePollMs < 0) {
      throw new RangeError(`interfacePollMs must be >= 0, got ${interfacePollMs}`);
    }
    const resolved = await lookup(options.host);
    const path = new ClientPath(config, resolved.address, options.port, resolved.family === 6 ? 6 : 4, options);
    await path.renewNow('initial connection', true);
    return path;
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

  /**
   * Switch to a fresh socket now (new source port; for TCP a new connection)
   * and send a keepalive through it. Resolves once the new socket is in use
   * (or the attempt failed and a retry is scheduled); never rejects for
   * network trouble.
   */
  renew(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.renewNow('requested');
  }

  /**
   * Test seam: the next send fails as if the operating system had refused it
   * with `code` (e.g. 'ENETUNREACH' after losing Wi-Fi), which counts a send
   * error and triggers a renewal exactly as a real failure does.
   */
  injectSendError(code = 'ENETUNREACH'): void {
    this.injectedSendError = code;
  }

  stats(): ClientPathStats {
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
      localPort: this.carrier?.localPort ?? 0,
      renewals: this.renewals,
      renewalFailures: this.renewalFailures,
      lastRenewalReason: this.lastRenewalReason,
    };
  }

  /** Send a goodbye carrying `reason` (best effort), then stop. Idempotent. */
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.timer.stop();
    const carrier = this.carrier;
    this.carrier = null;
    if (carrier !== null) {
      const text = Buffer.from(reason, 'utf8').subarray(0, this.payloadBudget);
      carrier.close(this.codec.seal(DatagramType.Goodbye, text, carrier.headroom, performance.now()));
    }
    this.emit('close', reason);
  }

  // ClientCarrierSink: called by the current (or a just-replaced) carrier.

  /** @internal */
  carrierDatagram(datagram: Buffer): void {
    if (this.closed) return;
    const now = performance.now();
    const payload = this.codec.open(datagram, now);
    if (payload === null) return;
    this.datagramsReceived++;
    this.lastContactAt = now;
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
        return;
      case DatagramType.Goodbye: {
        const reason = payload.toString('utf8');
        this.closed = true;
        this.timer.stop();
        this.carrier?.close();
        this.carrier = null;
        this.emit('close', reason);
        return;
      }
    }
  }

  /** @internal */
  carrierSendFailed(carrier: ClientCarrier, err: Error): void {
    this.drops.sendError++;
    if (carrier !== this.carrier || this.closed) return;
    const code = errorCode(err);
    // Nobody listening at the server's port: a new source port would not help; the heartbeat timeout decides.
    if (code === 'ECONNREFUSED') return;
    this.requestRenewal(`send failed: ${code}`);
  }

  /** @internal */
  carrierFailed(carrier: ClientCarrier, err: Error | null): void {
    if (carrier !== this.carrier || this.closed) return;
    const code = errorCode(err);
    if (code === 'ECONNREFUSED') return;
    if (err === null) {
      // A TCP connection ended: it cannot carry anything more.
      this.carrier = null;
      carrier.close();
    }
    this.requestRenewal(`socket failed: ${code}`);
  }

  /** @internal */
  carrierMalformed(carrier: ClientCarrier): void {
    this.drops.malformed++;
    this.carrierFailed(carrier, null);
  }

  private transmit(type: DatagramType, payload: Uint8Array | null, now: number): void {
    const carrier = this.carrier;
    if (carrier === null) {
      this.drops.noSocket++;
      return;
    }
    if (this.injectedSendError !== null) {
      const code = this.injectedSendError;
      this.injectedSendError = null;
      this.drops.sendError++;
      this.requestRenewal(`send failed: ${code}`);
      return;
    }
    const outcome = carrier.send(this.codec.seal(type, payload, carrier.headroom, now));
    if (outcome === SendOutcome.Sent) {
      this.datagramsSent++;
      this.lastSendAt = now;
      if (type === DatagramType.Keepalive) {
        this.keepalivesSent++;
        this.lastKeepaliveAt = now;
      }
    } else if (outcome === SendOutcome.Congested) {
      this.drops.congested++;
    } else {
      this.drops.sendError++;
      this.requestRenewal('send failed');
    }
  }

  private sendKeepalive(now: number): void {
    this.transmit(DatagramType.Keepalive, null, now);
    // Even an unsent keepalive counts as an attempt, so a missing socket does not make the timer spin.
    this.lastKeepaliveAt = now;
  }

  /** Renew now, or as soon as the minimum interval since the last renewal allows. */
  private requestRenewal(reason: string): void {
    if (this.closed || this.renewing !== null) return;
    const earliest = this.lastRenewAt + this.minRenewalIntervalMs;
    if (performance.now() >= earliest) {
      void this.renewNow(reason);
    } else {
      this.pendingRenewal = reason;
      this.timer.atLatest(earliest);
    }
  }

  private renewNow(reason: string, initial = false): Promise<void> {
    if (this.renewing === null) {
      this.renewing = this.replaceCarrier(reason, initial).finally(() => {
        this.renewing = null;
      });
    }
    return this.renewing;
  }

  private async replaceCarrier(reason: string, initial: boolean): Promise<void> {
    this.pendingRenewal = null;
    this.lastRenewAt = performance.now();
    let fresh: ClientCarrier;
    try {
      fresh =
        this.config.proxyMode === 'tcp'
          ? await TcpClientCarrier.open(this.serverAddress, this.serverPort, this.config.mtu, this.config.heartbeatTimeoutMs, this)
          : await UdpClientCarrier.open(this.serverAddress, this.serverPort, this.family, this);
    } catch {
      this.renewalFailures++;
      if (!this.closed) {
        this.pendingRenewal = reason;
        // armTimer skips renewal deadlines while `renewing` is set, and it is still set here.
        this.timer.atLatest(this.lastRenewAt + this.minRenewalIntervalMs);
      }
      return;
    }
    if (this.closed) {
      fresh.close();
      return;
    }
    const old = this.carrier;
    this.carrier = fresh;
    old?.close();
    const now = performance.now();
    // The first datagram from the new socket tells the server where we are now: no extra round trip.
    this.sendKeepalive(now);
    this.armTimer(now);
    if (initial) return;
    this.renewals++;
    this.lastRenewalReason = reason;
    this.emit('renewed', reason);
  }

  /** A keepalive is due when nothing was sent, or nothing received, for a keepalive interval; at most one per interval. */
  private keepaliveDueAt(): number {
    const k = this.keepaliveIntervalMs;
    return Math.max(this.lastKeepaliveAt + k, Math.min(this.lastSendAt, this.lastContactAt) + k);
  }

  private armTimer(now: number): void {
    const { heartbeatTimeoutMs, aliveTimeoutMs } = this.config;
    let due = this.lastContactAt + aliveTimeoutMs;
    if (!this.contactLost) due = Math.min(due, this.lastContactAt + heartbeatTimeoutMs);
    // While a renewal is in flight its own completion re-arms the timer; counting its deadlines here would spin.
    if (this.renewing === null) {
      if (this.contactLost) due = Math.min(due, this.lastRenewAt + heartbeatTimeoutMs);
      if (this.pendingRenewal !== null) due = Math.min(due, this.lastRenewAt + this.minRenewalIntervalMs);
    }
    if (this.interfacePollMs > 0) due = Math.min(due, this.nextPollAt);
    due = Math.min(due, this.keepaliveDueAt());
    this.timer.atLatest(Math.max(due, now));
  }

  private readonly onTimer = (): void => {
    if (this.closed) return;
    const now = performance.now();
    const { heartbeatTimeoutMs, aliveTimeoutMs } = this.config;
    const silentMs = now - this.lastContactAt;
    if (silentMs >= aliveTimeoutMs) {
      const reason = `no authenticated datagram for ${Math.round(silentMs)} ms (UdpAliveTimeout ${aliveTimeoutMs} ms)`;
      this.emit('gave-up', reason);
      this.close(reason);
      return;
    }
    if (!this.contactLost && silentMs >= heartbeatTimeoutMs) {
      this.contactLost = true;
      this.emit('contact-lost', silentMs);
      if (this.closed) return;
      this.requestRenewal(`no contact for ${heartbeatTimeoutMs} ms`);
    } else if (this.contactLost && now - this.lastRenewAt >= heartbeatTimeoutMs) {
      this.requestRenewal(`still no contact after ${Math.round(silentMs)} ms`);
    }
    if (this.pendingRenewal !== null && this.renewing === null && now >= this.lastRenewAt + this.minRenewalIntervalMs) {
      void this.renewNow(this.pendingRenewal);
    }
    if (this.interfacePollMs > 0 && now >= this.nextPollAt) {
      this.nextPollAt = now + this.interfacePollMs;
      const fingerprint = this.fingerprintSource();
      if (fingerprint !== this.fingerprint) {
        this.fingerprint = fingerprint;
        this.requestRenewal('local addresses changed');
      }
    }
    if (now >= this.keepaliveDueAt()) this.sendKeepalive(now);
    if (!this.closed) this.armTimer(now);
  };
}
