import type { Duplex } from 'node:stream';
import { lookup } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';
import {
  SendOutcome,
  TcpClientCarrier,
  UdpClientCarrier,
  type ClientCarrier,
  type ClientCarrierSink,
} from './client-carrier.js';
import { DatagramType, PATH_OVERHEAD_BYTES } from './datagram-format.js';
import { localAddressFingerprint } from './local-addresses.js';
import { largestMtu, mtuForPeer } from './loopback-mtu.js';
import { PathEnd } from './path-end.js';
import { silenceThresholdMs } from './silence.js';
import { PATH_DEFAULTS, resolveCommonPathConfig, type CommonPathConfig, type ProxyMode, type RekeyConfig } from './path-options.js';
import type { ClientPathStats } from './path-stats.js';

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
  /**
   * UdpMTU was not set: when the server's address is a loopback address, use
   * the loopback size instead of `mtu` (loopback-mtu.ts). Default false.
   */
  largeOnLoopback?: boolean;
  /** No authenticated datagram for this long: 'contact-lost' and a renewal (again every this long). Default 3000. */
  heartbeatTimeoutMs?: number;
  /** UdpAliveTimeout: no contact for this long and the path gives up. Default 24 h. */
  aliveTimeoutMs?: number;
  /** UdpProxyMode: 'udp' (default) or 'tcp'. */
  proxyMode?: ProxyMode;
  /** UdpProxyMode TCP only: make each connection with this instead of connecting (a ProxyCommand's stdio). */
  tcpDial?: () => Duplex;
  /** How often to look for a change of local addresses, ms; 0 turns it off. Default 1000. */
  interfacePollMs?: number;
  /** Where the local-address fingerprint comes from; default os.networkInterfaces(). A seam for tests. */
  localAddressFingerprint?: () => string;
  /** When to rekey (interval, byte limit, old-key overlap); defaults in REKEY_DEFAULTS (docs/REKEY.md). */
  rekey?: Partial<RekeyConfig>;
}


/**
 * The keepalive a new socket sends first, and the silence probe, are padded to this many sealed bytes (at most
 * the MTU): they are what a server sees first from a new address, and it may answer an address it has not yet
 * validated with at most 3x what it received from there (address-validation.ts), so a padded first datagram
 * lets the server's replies (and the transport's replay) reach the new address at once instead of one round
 * trip later. The server ignores a keepalive's payload.
 */
const ADDRESS_PROBE_BYTES = 1200;

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
 * still hears from the server). The server answers each one. One more, the
 * silence probe, goes out once data stopped arriving for silenceThresholdMs() (silence.ts) and nothing
 * was sent for half of that: a NAT that took a new mapping drops everything the server sends to the old one,
 * and the probe goes out through the new mapping, so the server follows within a fraction of a second
 * instead of at the next regular keepalive.
 *
 * Events: 'renewed' (reason); 'contact-lost' (sinceMs); 'contact-restored' ();
 * 'gave-up' (reason); 'close' (reason?: string).
 */
export class ClientPath extends PathEnd implements ClientCarrierSink {
  private readonly keepaliveIntervalMs: number;
  private readonly minRenewalIntervalMs: number;
  private readonly interfacePollMs: number;
  private readonly fingerprintSource: () => string;
  private readonly tcpDial: (() => Duplex) | undefined;
  private carrier: ClientCarrier | null = null;
  private renewing: Promise<void> | null = null;
  private pendingRenewal: string | null = null;
  private injectedSendError: string | null = null;
  private fingerprint: string;
  private nextPollAt: number;
  private lastRenewAt = -Infinity;
  private lastSendAt: number;
  private lastKeepaliveAt: number;
  /** performance.now() of the last data datagram received, and whether a silence probe is waiting for it. */
  private lastDataAt = -Infinity;
  private silenceProbePending = false;
  private renewals = 0;
  private challengesAnswered = 0;
  /** Zero bytes that pad an address probe (kept: it is sealed by copy). */
  private padding: Buffer | null = null;
  private renewalFailures = 0;
  private lastRenewalReason: string | null = null;

  private constructor(
    config: CommonPathConfig,
    private readonly serverAddress: string,
    private readonly serverPort: number,
    private readonly family: 4 | 6,
    options: ClientPathOptions,
  ) {
    super(config, 'client');
    this.keepaliveIntervalMs = config.heartbeatTimeoutMs / 3;
    this.minRenewalIntervalMs = Math.min(MAX_RENEWAL_INTERVAL_FLOOR_MS, this.keepaliveIntervalMs);
    this.interfacePollMs = options.interfacePollMs ?? PATH_DEFAULTS.interfacePollMs;
    this.fingerprintSource = options.localAddressFingerprint ?? localAddressFingerprint;
    this.tcpDial = options.tcpDial;
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
    // The server's address never changes for this path, so neither does the route to it: decided once.
    config.mtu = mtuForPeer(config.mtu, config.largeOnLoopback, resolved.address);
    const path = new ClientPath(config, resolved.address, options.port, resolved.family === 6 ? 6 : 4, options);
    await path.renewNow('initial connection', true);
    return path;
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
    return {
      ...this.pathStats(),
      localPort: this.carrier?.localPort ?? 0,
      renewals: this.renewals,
      renewalFailures: this.renewalFailures,
      lastRenewalReason: this.lastRenewalReason,
      challengesAnswered: this.challengesAnswered,
    };
  }

  protected closeSockets(goodbyeReason: string | null): void {
    const carrier = this.carrier;
    this.carrier = null;
    if (carrier === null) return;
    carrier.close(goodbyeReason === null ? null : this.sealGoodbye(goodbyeReason, carrier.headroom));
  }

  // ClientCarrierSink: called by the current (or a just-replaced) carrier.

  /** @internal */
  carrierDatagram(datagram: Buffer): void {
    const now = performance.now();
    const payload = this.authenticate(datagram, now);
    if (payload === null) return;
    if (this.codec.type === DatagramType.Data) {
      this.lastDataAt = now;
      // One timer per probe delay at most while data flows: the timer finds the data newer and waits again.
      if (!this.silenceProbePending) {
        this.silenceProbePending = true;
        this.timer.atLatest(now + this.silenceProbeDelayMs());
      }
    }
    this.deliver(payload, now);
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

  private addressProbePadding(): Buffer {
    const bytes = Math.min(ADDRESS_PROBE_BYTES, this.config.mtu) - PATH_OVERHEAD_BYTES;
    if (this.padding === null || this.padding.length !== bytes) this.padding = Buffer.alloc(bytes);
    return this.padding;
  }

  protected transmit(type: DatagramType, payload: Uint8Array | null, now: number): void {
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
      this.countSent(type);
      this.lastSendAt = now;
      if (type === DatagramType.Keepalive) this.lastKeepaliveAt = now;
    } else if (outcome === SendOutcome.Congested) {
      this.drops.congested++;
    } else {
      this.drops.sendError++;
      this.requestRenewal('send failed');
    }
  }

  /** Answer at once, through the current socket: the answer arriving from our address is what validates it. */
  protected override challengeReceived(challenge: Buffer, now: number): void {
    this.challengesAnswered++;
    this.transmit(DatagramType.PathResponse, challenge, now);
  }

  /** `padded`: this keepalive may be the first the server sees from a new address (ADDRESS_PROBE_BYTES). */
  private sendKeepalive(now: number, padded = false): void {
    this.transmit(DatagramType.Keepalive, padded ? this.addressProbePadding() : null, now);
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
          ? await TcpClientCarrier.open(this.serverAddress, this.serverPort, largestMtu(this.config.mtu, this.config.largeOnLoopback), this.config.heartbeatTimeoutMs, this, this.tcpDial)
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
    this.sendKeepalive(now, true);
    this.armTimer(now);
    if (initial) return;
    this.renewals++;
    this.lastRenewalReason = reason;
    this.emit('renewed', reason);
  }

  private silenceProbeDelayMs(): number {
    return Math.min(this.keepaliveIntervalMs, silenceThresholdMs(this.codec.rtt.srttMs));
  }

  /**
   * The silence probe is due once data stopped for the probe delay; it is skipped (already answered) when
   * something was sent in the last half of that delay, since that datagram told the server where we are.
   */
  private silenceProbe(now: number): void {
    const delay = this.silenceProbeDelayMs();
    if (now < this.lastDataAt + delay) return;
    this.silenceProbePending = false;
    // Data stopping is also when a lost address shows: look now rather than at the next poll (our socket is
    // connected, so its source address stays the old one until a renewal).
    if (this.interfacePollMs > 0) this.pollInterfaces(now);
    if (now - this.lastSendAt >= delay / 2) this.sendKeepalive(now, true);
  }

  /** Compare the local addresses with the last look; a change renews the socket. */
  private pollInterfaces(now: number): void {
    this.nextPollAt = now + this.interfacePollMs;
    const fingerprint = this.fingerprintSource();
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.requestRenewal('local addresses changed');
    }
  }

  /** A keepalive is due when nothing was sent, or nothing received, for a keepalive interval; at most one per interval. */
  private keepaliveDueAt(): number {
    const k = this.keepaliveIntervalMs;
    return Math.max(this.lastKeepaliveAt + k, Math.min(this.lastSendAt, this.lastContactAt) + k);
  }

  protected armTimer(now: number): void {
    const { heartbeatTimeoutMs } = this.config;
    let due = this.livenessDeadline();
    // While a renewal is in flight its own completion re-arms the timer; counting its deadlines here would spin.
    if (this.renewing === null) {
      if (this.contactLost) due = Math.min(due, this.lastRenewAt + heartbeatTimeoutMs);
      if (this.pendingRenewal !== null) due = Math.min(due, this.lastRenewAt + this.minRenewalIntervalMs);
    }
    if (this.interfacePollMs > 0) due = Math.min(due, this.nextPollAt);
    if (this.silenceProbePending) due = Math.min(due, this.lastDataAt + this.silenceProbeDelayMs());
    due = Math.min(due, this.keepaliveDueAt());
    this.timer.atLatest(Math.max(due, now));
  }

  /** Renew when contact is lost and every heartbeatTimeoutMs while it stays lost; poll interfaces; send keepalives. */
  protected timerFired(now: number, silentMs: number, contactJustLost: boolean): void {
    const { heartbeatTimeoutMs } = this.config;
    if (contactJustLost) {
      this.requestRenewal(`no contact for ${heartbeatTimeoutMs} ms`);
    } else if (this.contactLost && now - this.lastRenewAt >= heartbeatTimeoutMs) {
      this.requestRenewal(`still no contact after ${Math.round(silentMs)} ms`);
    }
    if (this.pendingRenewal !== null && this.renewing === null && now >= this.lastRenewAt + this.minRenewalIntervalMs) {
      void this.renewNow(this.pendingRenewal);
    }
    if (this.interfacePollMs > 0 && now >= this.nextPollAt) this.pollInterfaces(now);
    if (this.silenceProbePending) this.silenceProbe(now);
    if (now >= this.keepaliveDueAt()) this.sendKeepalive(now);
    if (!this.closed) this.armTimer(now);
  }
}
