import { performance } from 'node:perf_hooks';
import { deriveNextEpoch, EphemeralKey, wipe, X25519_PUBLIC_KEY_BYTES, type EpochSecrets } from '../crypto/rekey-keys.js';
import type { DatagramCodec } from './datagram-codec.js';
import { DatagramType } from './datagram-format.js';
import type { DeadlineTimer } from './deadline-timer.js';
import type { RekeyConfig } from './path-options.js';

/** Where a handshake stands (docs/REKEY.md). */
const Phase = {
  /** Nothing under way (an old receive key may still be held for the overlap). */
  Idle: 0,
  /** We sent RekeyInit with our ephemeral key and wait for the reply. */
  Initiated: 1,
  /** We answered a RekeyInit: the new receive key is installed, we still seal under the current one. */
  Responded: 2,
  /** We initiated, got the reply and seal under the new key; we wait for the peer's first datagram under it. */
  Confirming: 3,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Sends of one handshake message before giving up (init) or relying on ordinary traffic (confirm). */
export const REKEY_MAX_SENDS = 10;
/** Retransmission timeout bounds: 2 x srtt + 20 ms, clamped; 250 ms before an RTT sample. */
const MIN_RTO_MS = 100;
const MAX_RTO_MS = 1000;
const INITIAL_RTO_MS = 250;
/** After a handshake that got no answer, try again after min(intervalMs, this). */
const RETRY_CAP_MS = 30_000;
/**
 * The server's interval and byte limit are this much longer than the client's: the client normally
 * starts every rekey, and the server only when the client did not, so the two rarely start at once.
 */
const SERVER_TRIGGER_SLACK = 1.1;
const EPOCH_BYTES = 4;
const KEY_MESSAGE_BYTES = EPOCH_BYTES + X25519_PUBLIC_KEY_BYTES;

/** Rekey counters, in a path's stats(). */
export interface RekeyStats {
  /** The key epoch this side seals under (0 until the first rekey). */
  epoch: number;
  /** Completed switches of this side's sending key. */
  rekeys: number;
  /** Handshakes this side started. */
  initiated: number;
  /** RekeyInits this side answered. */
  responded: number;
  /** Own handshakes given up for the client's simultaneous one (server only). */
  yielded: number;
  /** Own handshakes given up after REKEY_MAX_SENDS unanswered RekeyInits. */
  failures: number;
  /** Handshake messages sent again (init, confirm, or a reply to a repeated init). */
  retransmits: number;
  /** Authentic rekey messages that did nothing: stale or future epoch, wrong phase, bad length or key. */
  ignored: number;
  /** Whether the previous epoch's receive key is still held (the overlap). */
  oldEpochHeld: boolean;
}

/** What the Rekeyer needs of its path. */
export interface RekeyHost {
  /** Seal and send one control datagram under the current sending key. */
  sendControl(type: DatagramType, payload: Buffer, now: number): void;
  /** Whether a handshake can start (the server needs a peer). */
  canRekey(): boolean;
  /** Smoothed RTT in ms, NaN before a sample. */
  readonly srttMs: number;
}

/**
 * Key lifetime of one path end: periodic rekeying with forward secrecy. It
 * owns every epoch's secrets (the codec only borrows the keys), runs the
 * three-message handshake (RekeyInit, RekeyReply, RekeyConfirm) in path
 * control datagrams sealed under the current keys, switches keys without
 * losing datagrams in flight, and wipes retired secrets. Triggers: time,
 * bytes (the codec counts), rekey(). Simultaneous handshakes: the client's wins.
 */
export class Rekeyer {
  private epoch = 0;
  private chain: Buffer;
  private sendKey: Buffer;
  private receiveKey: Buffer;
  private oldReceiveKey: Buffer | null = null;
  private oldEpoch = -1;
  private oldWipeAt = Infinity;
  private phase: Phase = Phase.Idle;
  private ephemeral: EphemeralKey | null = null;
  /** Responder: the derived next epoch, and the initiator's public key and our reply key it came from. */
  private pending: EpochSecrets | null = null;
  private pendingPeerPublic: Buffer | null = null;
  private replyPublic: Buffer | null = null;
  private sends = 0;
  /** The epoch this side last switched to as the responder (it answers that epoch's confirms). */
  private respondedEpoch = -1;
  private retransmitAt = Infinity;
  private nextRekeyAt: number;
  private readonly intervalMs: number;
  private disposed = false;
  private readonly counters = { rekeys: 0, initiated: 0, responded: 0, yielded: 0, failures: 0, retransmits: 0, ignored: 0 };

  constructor(
    initial: EpochSecrets,
    private readonly side: 'client' | 'server',
    private readonly codec: DatagramCodec,
    private readonly timer: DeadlineTimer,
    private readonly host: RekeyHost,
    private readonly config: RekeyConfig,
    now: number,
  ) {
    this.chain = initial.chain;
    this.sendKey = this.sendOf(initial);
    this.receiveKey = this.receiveOf(initial);
    const slack = side === 'server' ? SERVER_TRIGGER_SLACK : 1;
    this.intervalMs = config.intervalMs * slack;
    this.nextRekeyAt = side === 'client' && config.atStart ? now : now + this.intervalMs;
    codec.byteLimit = config.bytes * slack;
    codec.onByteLimit = this.onByteLimit;
  }

  /** Earliest time onTimer() has work: a retransmission, wiping the old key, or a due rekey. */
  get dueAt(): number {
    const due = Math.min(this.retransmitAt, this.oldWipeAt);
    return this.settled() ? Math.min(due, this.nextRekeyAt) : due;
  }

  stats(): RekeyStats {
    return { epoch: this.epoch, ...this.counters, oldEpochHeld: this.oldReceiveKey !== null };
  }

  /** Rekey as soon as the previous rekey has settled. */
  rekey(): void {
    if (this.disposed) return;
    this.nextRekeyAt = Math.min(this.nextRekeyAt, performance.now());
    if (this.settled()) this.timer.atLatest(this.nextRekeyAt);
  }

  /** Every authenticated datagram's epoch: the first one under the new epoch completes a handshake. */
  opened(epoch: number, now: number): void {
    if (this.phase === Phase.Responded) {
      if (epoch === this.epoch + 1) this.peerSwitched(now);
    } else if (this.phase === Phase.Confirming) {
      if (epoch === this.epoch) this.peerSwitched(now);
    }
  }

  /** An authenticated rekey message (its epoch already went through opened()). */
  receive(type: DatagramType, payload: Buffer, now: number): void {
    if (this.disposed) return;
    if (type === DatagramType.RekeyConfirm) {
      // Switching was opened()'s work. The responder answers (under the new key), so an idle initiator learns it too.
      if (payload.length !== EPOCH_BYTES) this.counters.ignored++;
      else if (payload.readUInt32BE(0) === this.epoch && this.respondedEpoch === this.epoch) this.sendConfirm(now, false);
      return;
    }
    if (payload.length !== KEY_MESSAGE_BYTES) {
      this.counters.ignored++;
      return;
    }
    const epoch = payload.readUInt32BE(0);
    const peerPublic = payload.subarray(EPOCH_BYTES);
    if (type === DatagramType.RekeyInit) this.onInit(epoch, peerPublic, now);
    else this.onReply(epoch, peerPublic, now);
  }

  /** Retransmit, wipe the old key, or start a due rekey. */
  onTimer(now: number): void {
    if (this.disposed) return;
    if (now >= this.oldWipeAt) this.wipeOld();
    if (now >= this.retransmitAt) this.retransmit(now);
    if (this.settled() && now >= this.nextRekeyAt) this.start(now);
  }

  /** The path is closing: wipe every secret. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ephemeral?.dispose();
    this.ephemeral = null;
    if (this.pending !== null) wipe(this.pending.chain, this.pending.clientToServer, this.pending.serverToClient);
    this.pending = null;
    wipe(this.chain, this.sendKey, this.receiveKey, this.oldReceiveKey);
    this.oldReceiveKey = null;
    this.retransmitAt = Infinity;
    this.oldWipeAt = Infinity;
    this.nextRekeyAt = Infinity;
  }

  /** @internal test seam: every secret Buffer held now (to check later that retired ones were zeroed). */
  secretBuffersForTest(): Buffer[] {
    const held = [this.chain, this.sendKey, this.receiveKey];
    if (this.oldReceiveKey !== null) held.push(this.oldReceiveKey);
    if (this.pending !== null) held.push(this.pending.chain, this.pending.clientToServer, this.pending.serverToClient);
    return held;
  }

  private settled(): boolean {
    return this.phase === Phase.Idle && this.oldReceiveKey === null && !this.disposed;
  }

  private sendOf(secrets: EpochSecrets): Buffer {
    return this.side === 'client' ? secrets.clientToServer : secrets.serverToClient;
  }

  private receiveOf(secrets: EpochSecrets): Buffer {
    return this.side === 'client' ? secrets.serverToClient : secrets.clientToServer;
  }

  private rto(): number {
    const srtt = this.host.srttMs;
    if (!Number.isFinite(srtt)) return INITIAL_RTO_MS;
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, 2 * srtt + 20));
  }

  private readonly onByteLimit = (): void => {
    this.rekey();
  };

  private start(now: number): void {
    if (!this.host.canRekey()) {
      this.nextRekeyAt = now + Math.min(this.config.intervalMs, RETRY_CAP_MS);
      return;
    }
    this.ephemeral = new EphemeralKey();
    this.phase = Phase.Initiated;
    this.counters.initiated++;
    this.sends = 0;
    this.sendKeyMessage(DatagramType.RekeyInit, this.ephemeral.publicKey, now);
  }

  private sendKeyMessage(type: DatagramType, publicKey: Buffer, now: number): void {
    const payload = Buffer.alloc(KEY_MESSAGE_BYTES);
    payload.writeUInt32BE(this.epoch + 1, 0);
    publicKey.copy(payload, EPOCH_BYTES);
    this.host.sendControl(type, payload, now);
    if (type === DatagramType.RekeyReply) return;
    this.sends++;
    this.retransmitAt = now + this.rto();
    this.timer.atLatest(this.retransmitAt);
  }

  /** RekeyConfirm under the new epoch: the initiator's (retransmitted until answered) or the responder's answer. */
  private sendConfirm(now: number, initiator = true): void {
    const payload = Buffer.alloc(EPOCH_BYTES);
    payload.writeUInt32BE(this.epoch, 0);
    this.host.sendControl(DatagramType.RekeyConfirm, payload, now);
    if (!initiator) return;
    this.sends++;
    this.retransmitAt = now + this.rto();
    this.timer.atLatest(this.retransmitAt);
  }

  private retransmit(now: number): void {
    this.retransmitAt = Infinity;
    if (this.phase === Phase.Initiated) {
      if (this.sends >= REKEY_MAX_SENDS) {
        // No answer: the peer is unreachable for now. Forget this attempt; try again later.
        this.abandonInit();
        this.counters.failures++;
        this.nextRekeyAt = now + Math.min(this.config.intervalMs, RETRY_CAP_MS);
        return;
      }
      this.counters.retransmits++;
      this.sendKeyMessage(DatagramType.RekeyInit, (this.ephemeral as EphemeralKey).publicKey, now);
    } else if (this.phase === Phase.Confirming && this.sends < REKEY_MAX_SENDS) {
      // Past the limit, any datagram sealed under the new key confirms just as well.
      this.counters.retransmits++;
      this.sendConfirm(now);
    }
  }

  private abandonInit(): void {
    this.ephemeral?.dispose();
    this.ephemeral = null;
    this.phase = Phase.Idle;
    this.retransmitAt = Infinity;
  }

  private onInit(epoch: number, peerPublic: Buffer, now: number): void {
    if (epoch !== this.epoch + 1) {
      this.counters.ignored++;
      return;
    }
    switch (this.phase) {
      case Phase.Confirming:
        this.counters.ignored++;
        return;
      case Phase.Initiated:
        // Both sides started at once: the client's handshake wins, the server answers it.
        if (this.side === 'client') {
          this.counters.ignored++;
          return;
        }
        this.abandonInit();
        this.counters.yielded++;
        break;
      case Phase.Responded:
        if (this.pendingPeerPublic !== null && this.pendingPeerPublic.equals(peerPublic)) {
          // Our reply was lost: send the same one again.
          this.counters.retransmits++;
          this.sendKeyMessage(DatagramType.RekeyReply, this.replyPublic as Buffer, now);
          return;
        }
        // The initiator gave up on its earlier attempt and started afresh: forget what we derived for it.
        this.dropPending();
        break;
      default:
        // The peer settled long enough ago to start a new handshake, so its datagrams under our old key are long gone.
        if (this.oldReceiveKey !== null) this.wipeOld();
    }
    const ephemeral = new EphemeralKey();
    const shared = ephemeral.agree(peerPublic);
    ephemeral.dispose();
    if (shared === null) {
      this.counters.ignored++;
      return;
    }
    const next = this.derive(shared, epoch, ephemeral.publicKey, peerPublic);
    this.pending = next;
    this.pendingPeerPublic = Buffer.from(peerPublic);
    this.replyPublic = ephemeral.publicKey;
    this.codec.installReceiveKey(epoch, this.receiveOf(next));
    this.phase = Phase.Responded;
    this.counters.responded++;
    this.sendKeyMessage(DatagramType.RekeyReply, ephemeral.publicKey, now);
  }

  private onReply(epoch: number, peerPublic: Buffer, now: number): void {
    const ephemeral = this.ephemeral;
    if (this.phase !== Phase.Initiated || ephemeral === null || epoch !== this.epoch + 1) {
      this.counters.ignored++;
      return;
    }
    const shared = ephemeral.agree(peerPublic);
    if (shared === null) {
      this.counters.ignored++;
      return;
    }
    this.abandonInit();
    const next = this.derive(shared, epoch, ephemeral.publicKey, peerPublic);
    this.codec.installReceiveKey(epoch, this.receiveOf(next));
    this.switchTo(next, epoch, now);
    // The old receive key stays until the peer shows it switched too (its datagrams under it may still come).
    this.phase = Phase.Confirming;
    this.sends = 0;
    this.sendConfirm(now);
  }

  /** The next epoch's secrets from our chain and the shared secret, which is wiped. */
  private derive(shared: Buffer, epoch: number, ownPublic: Buffer, peerPublic: Buffer): EpochSecrets {
    const [clientPublic, serverPublic] = this.side === 'client' ? [ownPublic, peerPublic] : [peerPublic, ownPublic];
    const next = deriveNextEpoch(this.chain, shared, epoch, clientPublic, serverPublic);
    wipe(shared);
    return next;
  }

  /** Seal under `next` from now on; wipe our old sending key and chain; keep the old receive key for now. */
  private switchTo(next: EpochSecrets, epoch: number, now: number): void {
    this.codec.switchSendKey(epoch, this.sendOf(next));
    wipe(this.sendKey, this.chain);
    this.oldReceiveKey = this.receiveKey;
    this.oldEpoch = this.epoch;
    this.oldWipeAt = Infinity;
    this.chain = next.chain;
    this.sendKey = this.sendOf(next);
    this.receiveKey = this.receiveOf(next);
    this.epoch = epoch;
    this.counters.rekeys++;
    this.nextRekeyAt = now + this.intervalMs;
  }

  /** The peer now seals under the newest epoch: (responder) switch too; both: wipe the old receive key after the overlap. */
  private peerSwitched(now: number): void {
    if (this.phase === Phase.Responded) {
      const next = this.pending as EpochSecrets;
      this.pending = null;
      this.pendingPeerPublic = null;
      this.replyPublic = null;
      this.switchTo(next, this.epoch + 1, now);
      this.respondedEpoch = this.epoch;
    }
    this.phase = Phase.Idle;
    this.retransmitAt = Infinity;
    this.oldWipeAt = now + this.config.overlapMs;
    this.timer.atLatest(this.oldWipeAt);
  }

  private dropPending(): void {
    const pending = this.pending;
    if (pending !== null) {
      this.codec.dropReceiveKey(this.epoch + 1);
      wipe(pending.chain, pending.clientToServer, pending.serverToClient);
    }
    this.pending = null;
    this.pendingPeerPublic = null;
    this.replyPublic = null;
    this.phase = Phase.Idle;
  }

  private wipeOld(): void {
    this.codec.dropReceiveKey(this.oldEpoch);
    wipe(this.oldReceiveKey);
    this.oldReceiveKey = null;
    this.oldEpoch = -1;
    this.oldWipeAt = Infinity;
  }
}
