import dgram from 'node:dgram';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { MIN_PATH_DATAGRAM_BYTES } from './datagram-format.js';
import { FRAME_HEADER_BYTES, TcpFrameDecoder, writeFrameHeader } from './tcp-framing.js';

/** What became of one send. */
export const SendOutcome = {
  /** Handed to the operating system (a later asynchronous failure is reported to the sink). */
  Sent: 0,
  /** TCP write buffer full: dropped rather than queued (the datagram is unreliable anyway). */
  Congested: 1,
  /** Refused at once; the carrier is unusable. */
  Failed: 2,
} as const;
export type SendOutcome = (typeof SendOutcome)[keyof typeof SendOutcome];

/** Where a carrier reports to (the ClientPath). Methods, not closures, so nothing is allocated per packet. */
export interface ClientCarrierSink {
  /** A datagram arrived (not yet authenticated). */
  carrierDatagram(datagram: Buffer): void;
  /** A send failed asynchronously. */
  carrierSendFailed(carrier: ClientCarrier, err: Error): void;
  /** The carrier broke (socket error, TCP connection closed); `err` null for a plain close. */
  carrierFailed(carrier: ClientCarrier, err: Error | null): void;
  /** A TCP frame with an impossible length arrived; the connection is being closed. */
  carrierMalformed(carrier: ClientCarrier): void;
}

/** One socket of a ClientPath: replaced as a whole on renewal. */
export interface ClientCarrier {
  /** Spare bytes the sealed datagram must have in front (TCP length prefix). */
  readonly headroom: number;
  /** Local port of the socket. */
  readonly localPort: number;
  /** Send a sealed datagram that has `headroom` spare bytes in front. */
  send(datagram: Buffer): SendOutcome;
  /** Send a last datagram if given (best effort), then close. Idempotent. */
  close(last?: Buffer | null): void;
}

/** A TCP connection's write buffer beyond which datagrams are dropped, not queued. */
export const TCP_WRITE_LIMIT_BYTES = 256 * 1024;
/** Receive/send socket buffer asked for (the kernel caps it at rmem_max/wmem_max). */
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

/** Ask for large socket buffers; the kernel may grant less, which is fine. */
export function enlargeUdpBuffers(socket: dgram.Socket): void {
  try {
    socket.setRecvBufferSize(UDP_BUFFER_BYTES);
    socket.setSendBufferSize(UDP_BUFFER_BYTES);
  } catch {
    // Not fatal: the defaults work, with more loss under bursts.
  }
}

/** A connected UDP socket (a connected socket needs no address lookup per send). */
export class UdpClientCarrier implements ClientCarrier {
  readonly headroom = 0;
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly sink: ClientCarrierSink,
  ) {
    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
  }

  /** Open a socket on a fresh ephemeral port, connected to the server. */
  static open(address: string, port: number, family: 4 | 6, sink: ClientCarrierSink): Promise<UdpClientCarrier> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      const fail = (err: Error): void => {
        socket.off('error', fail);
        try {
          socket.close();
        } catch {
          // Already closed by the failure.
        }
        reject(err);
      };
      socket.once('error', fail);
      socket.connect(port, address, (err?: Error) => {
        if (err) {
          fail(err);
          return;
        }
        socket.off('error', fail);
        enlargeUdpBuffers(socket);
        resolve(new UdpClientCarrier(socket, sink));
      });
    });
  }

  get localPort(): number {
    try {
      return this.socket.address().port;
    } catch {
      return 0;
    }
  }

  send(datagram: Buffer): SendOutcome {
    if (this.closed) return SendOutcome.Failed;
    try {
      this.socket.send(datagram, this.onSendDone);
      return SendOutcome.Sent;
    } catch {
      return SendOutcome.Failed;
    }
  }

  close(last: Buffer | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.off('message', this.onMessage);
    if (last !== null) {
      try {
        this.socket.send(last, this.closeSocket);
        return;
      } catch {
        // Fall through to closing at once.
      }
    }
    this.closeSocket();
  }

  private readonly closeSocket = (): void => {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  };

  private readonly onMessage = (msg: Buffer): void => {
    this.sink.carrierDatagram(msg);
  };

  private readonly onSendDone = (err: Error | null): void => {
    if (err && !this.closed) this.sink.carrierSendFailed(this, err);
  };

  private readonly onError = (err: Error): void => {
    if (!this.closed) this.sink.carrierFailed(this, err);
  };
}

/** One TCP connection carrying [u16 BE length][datagram] frames (UdpProxyMode TCP). */
export class TcpClientCarrier implements ClientCarrier {
  readonly headroom = FRAME_HEADER_BYTES;
  private closed = false;
  private readonly decoder: TcpFrameDecoder;

  private constructor(
    private readonly socket: net.Socket | Duplex,
    private readonly sink: ClientCarrierSink,
    mtu: number,
  ) {
    this.decoder = new TcpFrameDecoder(MIN_PATH_DATAGRAM_BYTES, mtu, this.onFrame);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /**
   * Connect to the server; rejects when the connection cannot be made. With
   * `dial`, the byte stream it returns stands for the connection (a
   * ProxyCommand's stdin and stdout), made anew for every reconnection.
   */
  static open(address: string, port: number, mtu: number, connectTimeoutMs: number, sink: ClientCarrierSink, dial?: () => Duplex): Promise<TcpClientCarrier> {
    if (dial !== undefined) return Promise.resolve(new TcpClientCarrier(dial(), sink, mtu));
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address, port });
      const fail = (err: Error): void => {
        socket.destroy();
        reject(err);
      };
      // A blackholed SYN would otherwise wait for the kernel's two-minute retry budget.
      const onTimeout = (): void => fail(new Error(`TCP connect to ${address}:${port} timed out after ${connectTimeoutMs} ms`));
      socket.setTimeout(connectTimeoutMs, onTimeout);
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        socket.off('timeout', onTimeout);
        socket.setTimeout(0);
        socket.setNoDelay(true);
        resolve(new TcpClientCarrier(socket, sink, mtu));
      });
    });
  }

  get localPort(): number {
    return this.socket instanceof net.Socket ? (this.socket.localPort ?? 0) : 0;
  }

  send(frame: Buffer): SendOutcome {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return SendOutcome.Failed;
    if (this.socket.writableLength > TCP_WRITE_LIMIT_BYTES) return SendOutcome.Congested;
    writeFrameHeader(frame);
    this.socket.write(frame);
    return SendOutcome.Sent;
  }

  close(last: Buffer | null = null): void {
    if (this.closed) return;
    this.closed = true;
    if (last !== null && this.socket.writable) {
      writeFrameHeader(last);
      this.socket.end(last, () => this.socket.destroy());
      return;
    }
    this.socket.destroy();
  }

  private readonly onFrame = (datagram: Buffer): void => {
    if (!this.closed) this.sink.carrierDatagram(datagram);
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return;
    if (!this.decoder.push(chunk)) {
      this.sink.carrierMalformed(this);
      this.socket.destroy();
    }
  };

  private readonly onError = (): void => {
    // 'close' follows every error; the failure is reported there once.
  };

  private readonly onClose = (): void => {
    if (!this.closed) this.sink.carrierFailed(this, null);
  };
}
