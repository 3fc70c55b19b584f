import { EventEmitter } from 'node:events';
import type { DatagramPath } from '../../src/path/datagram-path.js';
import { Impairment, type ImpairmentOptions } from './impairment.js';

/** Options for createMemoryPathPair. */
export interface MemoryPathPairOptions {
  /** Impairment of datagrams from a to b. */
  aToB?: ImpairmentOptions;
  /** Impairment of datagrams from b to a. */
  bToA?: ImpairmentOptions;
  /** payloadBudget of both ends; default 1370 (UdpMTU 1400 minus sealing overhead). */
  payloadBudget?: number;
  /** Seed for aToB (bToA gets seed + 1) unless the direction's options carry their own; default 1. */
  seed?: number;
}

/** Two connected in-memory DatagramPaths and the impairments between them. */
export interface MemoryPathPair {
  /** The client side (the one that sees 'renewed'). */
  a: MemoryPath;
  /** The server side. */
  b: MemoryPath;
  aToB: Impairment;
  bToA: Impairment;
  /** Emit 'renewed' on a, as a real path renewal would. */
  rebind(): void;
  /** Close both ends and discard what is in flight. Idempotent. */
  close(): void;
}

/**
 * One end of an in-memory datagram pipe. Behaves as DatagramPath promises:
 * send() copies, rejects oversize payloads with RangeError, never throws for
 * "network" trouble and never calls the peer's onDatagram synchronously.
 */
export class MemoryPath extends EventEmitter implements DatagramPath {
  onDatagram: ((payload: Buffer) => void) | null = null;
  private closed = false;
  /** Datagrams sent and received by this end (received counts those handed to onDatagram). */
  readonly counters = { sent: 0, received: 0 };

  /** @internal built by createMemoryPathPair */
  constructor(
    readonly payloadBudget: number,
    private readonly outbound: Impairment,
    private readonly inbound: Impairment,
  ) {
    super();
  }

  /** The sum of both directions' configured delays: what a real path would measure. */
  get srttMs(): number {
    return this.outbound.options.delayMs + this.inbound.options.delayMs;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  send(payload: Uint8Array): void {
    if (payload.length > this.payloadBudget) {
      throw new RangeError(`payload of ${payload.length} bytes exceeds the path's budget of ${this.payloadBudget} bytes`);
    }
    if (this.closed) return;
    this.counters.sent++;
    const copy = Buffer.allocUnsafe(payload.length);
    copy.set(payload);
    this.outbound.push(copy);
  }

  /** @internal called by the inbound impairment */
  receive(payload: Buffer): void {
    if (this.closed) return;
    this.counters.received++;
    this.onDatagram?.(payload);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onDatagram = null;
    this.emit('close');
  }
}

/**
 * Build two DatagramPaths joined in memory through an Impairment per
 * direction. Without impairment, delivery happens in batches on the next
 * setImmediate, so a sender never re-enters its peer.
 */
export function createMemoryPathPair(options: MemoryPathPairOptions = {}): MemoryPathPair {
  const seed = options.seed ?? 1;
  const budget = options.payloadBudget ?? 1370;
  if (!Number.isInteger(budget) || budget < 1) throw new RangeError(`payloadBudget must be a positive integer, got ${budget}`);
  // Late-bound receivers: the paths need their impairments and vice versa.
  let a: MemoryPath | null = null;
  let b: MemoryPath | null = null;
  const aToB = new Impairment((p) => b?.receive(p), { ...options.aToB, seed: options.aToB?.seed ?? seed });
  const bToA = new Impairment((p) => a?.receive(p), { ...options.bToA, seed: options.bToA?.seed ?? seed + 1 });
  a = new MemoryPath(budget, aToB, bToA);
  b = new MemoryPath(budget, bToA, aToB);
  const pathA = a;
  const pathB = b;
  return {
    a: pathA,
    b: pathB,
    aToB,
    bToA,
    rebind(): void {
      if (!pathA.isClosed) pathA.emit('renewed');
    },
    close(): void {
      aToB.close();
      bToA.close();
      pathA.close();
      pathB.close();
    },
  };
}
