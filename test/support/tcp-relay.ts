import net from 'node:net';

/** Where the relay listens, where it connects, and how late it passes bytes on. */
export interface TcpRelayOptions {
  /** Default 127.0.0.1. */
  listenHost?: string;
  /** Default 0 (any free port; read `.port`). */
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  /** One-way delay applied to every chunk in both directions, in ms; default 0. */
  delayMs?: number;
}

/** Counters of the relay. */
export interface TcpRelayStats {
  accepted: number;
  /** Connections ended by cut(). */
  cut: number;
  bytesToServer: number;
  bytesToClient: number;
}

/**
 * Bytes of one direction held back by a fixed delay. The delay is constant, so
 * a FIFO is already in due order and one timer serves the whole queue.
 */
class DelayLine {
  private readonly chunks: Buffer[] = [];
  private readonly dues: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly delayMs: number,
    private readonly to: net.Socket,
  ) {}

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.dues.push(Date.now() + this.delayMs);
    if (!this.timer) this.arm();
  }

  /** Half-close the destination once everything before it has gone. */
  end(): void {
    this.ended = true;
    if (!this.timer) this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.chunks.length = 0;
    this.dues.length = 0;
    this.head = 0;
  }

  private arm(): void {
    this.timer = setTimeout(this.flush, Math.max(0, this.dues[this.head]! - Date.now()));
  }

  private readonly flush = (): void => {
    this.timer = null;
    const now = Date.now();
    while (this.head < this.chunks.length && this.dues[this.head]! <= now) {
      if (!this.to.destroyed) this.to.write(this.chunks[this.head]!);
      this.head++;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.dues.length = 0;
      this.head = 0;
      if (this.ended && !this.to.destroyed) this.to.end();
    } else {
      this.arm();
    }
  };
}

/**
 * A TCP relay on loopback for tests of the UDP-over-TCP fallback: each
 * accepted connection gets its own connection to the target; cut() destroys
 * them all at once, as a NAT timeout or a network switch would.
 */
export class TcpRelay {
  /** Sees each client-to-server chunk as it arrives, before any delay (how tests capture frames to copy). */
  tapClient: ((chunk: Buffer) => void) | null = null;
  private readonly pairs = new Set<{ client: net.Socket; server: net.Socket; lines: DelayLine[] }>();
  private closed = false;
  private readonly counters: TcpRelayStats = { accepted: 0, cut: 0, bytesToServer: 0, bytesToClient: 0 };

  private constructor(
    private readonly server: net.Server,
    private readonly options: TcpRelayOptions,
  ) {
    server.on('connection', (client) => this.relay(client));
  }

  /** Listen and start relaying. */
  static async start(options: TcpRelayOptions): Promise<TcpRelay> {
    const delay = options.delayMs ?? 0;
    if (!(delay >= 0 && Number.isFinite(delay))) throw new RangeError(`delayMs must be a finite number >= 0, got ${delay}`);
    const server = net.createServer({ allowHalfOpen: true });
    const relay = new TcpRelay(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, options.listenHost ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return relay;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections currently relayed. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Counters (a snapshot). */
  get stats(): TcpRelayStats {
    return { ...this.counters };
  }

  /** Destroy every current connection, both sides; the relay keeps accepting new ones. */
  cut(): void {
    for (const pair of this.pairs) {
      this.counters.cut++;
      this.drop(pair);
    }
  }

  /** Stop listening and destroy every connection. Idempotent; resolves when the listener is closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const pair of this.pairs) this.drop(pair);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private drop(pair: { client: net.Socket; server: net.Socket; lines: DelayLine[] }): void {
    this.pairs.delete(pair);
    for (const line of pair.lines) line.stop();
    pair.client.destroy();
    pair.server.destroy();
  }

  private relay(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.counters.accepted++;
    const server = net.connect({ host: this.options.targetHost, port: this.options.targetPort, allowHalfOpen: true });
    const pair = { client, server, lines: [] as DelayLine[] };
    this.pairs.add(pair);
    const delay = this.options.delayMs ?? 0;
    const counters = this.counters;
    client.on('data', (chunk: Buffer) => {
      counters.bytesToServer += chunk.length;
      this.tapClient?.(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      counters.bytesToClient += chunk.length;
    });
    if (delay > 0) {
      const up = new DelayLine(delay, server);
      const down = new DelayLine(delay, client);
      pair.lines.push(up, down);
      client.on('data', (chunk: Buffer) => up.write(chunk));
      server.on('data', (chunk: Buffer) => down.write(chunk));
      client.on('end', () => up.end());
      server.on('end', () => down.end());
    } else {
      client.pipe(server);
      server.pipe(client);
    }
    // An error on either side takes the whole pair down, as a broken middlebox would; a
    // graceful close of one side only ends the pair once the other has flushed and closed too.
    const onError = (): void => {
      if (this.pairs.has(pair)) this.drop(pair);
    };
    const onClose = (): void => {
      if (client.destroyed && server.destroyed) this.pairs.delete(pair);
    };
    client.on('error', onError);
    server.on('error', onError);
    client.on('close', onClose);
    server.on('close', onClose);
  }
}
