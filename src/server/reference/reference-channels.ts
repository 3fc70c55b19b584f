import { Duplex } from 'node:stream';
import { AGENT_CHANNEL_TYPE, X11_CHANNEL_TYPE } from '../../protocol/reference/messages.js';
import { StreamKind } from '../../protocol/stream-kind.js';
import type { Stream } from '../../transport/connection.js';

/**
 * Agent and X11 connections for the reference tssh (docs/INTEROP.md
 * "Channels"). Our agent socket and X11 display (agent-socket.ts,
 * x11-display.ts, under SessionForwarding's policy) open one stream per
 * connection on a Connection and write a header first. The reference
 * instead announces each connection on the bus ("channel" {ChannelType, ID})
 * and the client claims it with an "accept" {ID} stream. ReferenceChannels
 * is the Connection those modules see: openStream() returns a ChannelBridge
 * that drops our header, holds the bytes (with backpressure) until the
 * client's accept stream arrives, then carries both directions.
 */

/** Where a bridge waits to be claimed and how the client is told. */
export interface ChannelRegistry {
  /** Park a claimable connection; returns its ID for the client's accept stream. */
  park(entry: { splice(stream: Duplex & { reset(): void }): void; drop(): void }): number;
  /** Tell the client on the bus that connection `id` of `channelType` is waiting. */
  announce(channelType: string, id: number): void;
}

let bridgeIds = 0;

/** The stream an agent / X11 connection writes to until (and after) the client claims it. */
export class ChannelBridge extends Duplex implements Stream {
  readonly id = ++bridgeIds;
  private target: (Duplex & { reset(): void }) | null = null;
  private headerDropped = false;
  private readonly held: Array<{ chunk: Buffer; callback: (err?: Error | null) => void }> = [];
  private ended = false;

  constructor(readonly kind: number) {
    super({ allowHalfOpen: true });
  }

  /** The client's accept stream arrived: carry both directions through it. */
  attach(target: Duplex & { reset(): void }): void {
    if (this.destroyed) {
      target.reset();
      return;
    }
    this.target = target;
    target.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) target.pause();
    });
    target.once('end', () => this.push(null));
    target.once('error', () => this.destroy());
    target.once('close', () => {
      if (!(target.readableEnded && target.writableFinished)) this.destroy();
    });
    for (const { chunk, callback } of this.held.splice(0)) this.forward(chunk, callback);
    if (this.ended) target.end();
    // The opening was read with the stream paused; adding a 'data' listener does not resume it.
    target.resume();
  }

  reset(): void {
    this.destroy();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    // The first write is our own stream header (agent / x11 and the session), which the reference has no place for.
    if (!this.headerDropped) {
      this.headerDropped = true;
      callback();
      return;
    }
    if (this.target === null) this.held.push({ chunk, callback });
    else this.forward(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.ended = true;
    this.target?.end();
    callback();
  }

  override _read(): void {
    this.target?.resume();
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    this.target?.reset();
    for (const { callback: cb } of this.held.splice(0)) cb();
    callback(err);
  }

  private forward(chunk: Buffer, callback: (err?: Error | null) => void): void {
    const target = this.target!;
    if (target.write(chunk)) callback();
    else target.once('drain', () => callback());
  }
}

/** The Connection agent-socket.ts and x11-display.ts open their streams on, for the reference family. */
export class ReferenceChannels {
  constructor(private readonly registry: ChannelRegistry) {}

  openStream(kind: number): Stream {
    const bridge = new ChannelBridge(kind);
    const id = this.registry.park({ splice: (stream) => bridge.attach(stream), drop: () => bridge.destroy() });
    this.registry.announce(kind === StreamKind.Agent ? AGENT_CHANNEL_TYPE : X11_CHANNEL_TYPE, id);
    return bridge;
  }

}
