import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Impairment, type ImpairmentOptions, type ImpairmentStats } from './impairment.js';

/** Where the proxy listens, where it forwards, and how each direction misbehaves. */
export interface ImpairmentProxyOptions {
  /** Default 127.0.0.1. */
  listenHost?: string;
  /** Default 0 (any free port; read `.port`). */
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  clientToServer?: ImpairmentOptions;
  serverToClient?: ImpairmentOptions;
  /** Seed for c2s (s2c gets seed + 1) unless a direction's options carry their own; default 1. */
  seed?: number;
}

/** Counters of the proxy, next to each direction's impairment counters. */
export interface ImpairmentProxyStats {
  fromClient: number;
  toServer: number;
  fromServer: number;
  toClient: number;
  /** Datagrams at the outbound socket from anyone but the target, dropped. */
  strays: number;
  /** Socket send failures (counted, as a real network would just lose the packet). */
  sendErrors: number;
  rebinds: number;
  c2s: Readonly<ImpairmentStats>;
  s2c: Readonly<ImpairmentStats>;
}

function socketType(host: string): 'udp4' | 'udp6' {
  return isIPv6(host) ? 'udp6' : 'udp4';
}

/** The outbound socket binds to loopback of the target's family, so traffic never leaves the machine. */
function loopbackFor(host: string): string {
  return isIPv6(host) ? '::1' : '127.0.0.1';
}

function bindSocket(socket: dgram.Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/**
 * A UDP relay between one client and a server, with an Impairment per
 * direction. The client sends to `.port`; the proxy forwards from its own
 * outbound socket, so the server sees the proxy's outbound address as the
 * client. rebind() swaps that socket for a new one (a new source port), as a
 * Wi-Fi to cellular switch would. Replies go to the latest client address.
 */
export class ImpairmentProxy {
  /** Client to server impairment; change it at run time with set()/outage(). */
  readonly c2s: Impairment;
  /** Server to client impairment. */
  readonly s2c: Impairment;
  /** Sees every datagram from the client as it arrives (before impairment): how tests capture packets to replay. */
  tapClient: ((datagram: Buffer) => void) | null = null;
  private outbound: dgram.Socket | null = null;
  private clientAddress: string | null = null;
  private clientPort = 0;
  private closed = false;
  private readonly counters = { fromClient: 0, toServer: 0, fromServer: 0, toClient: 0, strays: 0, sendErrors: 0, rebinds: 0 };

  private constructor(
    private readonly listen: dgram.Socket,
    private readonly targetHost: string,
    private readonly targetPort: number,
    options: ImpairmentProxyOptions,
  ) {
    const seed = options.seed ?? 1;
    this.c2s = new Impairment(this.toServer, { ...options.clientToServer, seed: options.clientToServer?.seed ?? seed });
    this.s2c = new Impairment(this.toClient, { ...options.serverToClient, seed: options.serverToClient?.seed ?? seed + 1 });
    listen.on('message', this.onClientMessage);
    listen.on('error', this.onSendError);
  }

  /** Bind the listen and outbound sockets and start relaying. */
  static async start(options: ImpairmentProxyOptions): Promise<ImpairmentProxy> {
    const listenHost = options.listenHost ?? '127.0.0.1';
    if (!Number.isInteger(options.targetPort) || options.targetPort < 1 || options.targetPort > 65535) {
      throw new RangeError(`targetPort must be 1..65535, got ${options.targetPort}`);
    }
    const listen = dgram.createSocket(socketType(listenHost));
    try {
      await bindSocket(listen, options.listenPort ?? 0, listenHost);
    } catch (err) {
      listen.close();
      throw err;
    }
    const proxy = new ImpairmentProxy(listen, options.targetHost, options.targetPort, options);
    try {
      await proxy.openOutbound();
    } catch (err) {
      proxy.close();
      throw err;
    }
    return proxy;
  }

  /** The port clients send to. */
  get port(): number {
    return this.listen.address().port;
  }

  /** The source port the server currently sees for the client. */
  get outboundPort(): number {
    return this.outbound ? this.outbound.address().port : 0;
  }

  /** Counters, plus each direction's impairment counters. */
  get stats(): ImpairmentProxyStats {
    return { ...this.counters, c2s: this.c2s.stats, s2c: this.s2c.stats };
  }

  /**
   * Close the outbound socket and open a new one on a new port. Replies the
   * server sends to the old address are lost, as they would be after a real
   * address change.
   */
  async rebind(): Promise<void> {
    if (this.closed) return;
    const old = this.outbound;
    this.outbound = null;
    old?.close();
    this.counters.rebinds++;
    await this.openOutbound();
  }

  /** Close both sockets and both impairments. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.c2s.close();
    this.s2c.close();
    this.outbound?.close();
    this.outbound = null;
    this.listen.close();
  }

  private async openOutbound(): Promise<void> {
    const socket = dgram.createSocket(socketType(this.targetHost));
    try {
      await bindSocket(socket, 0, loopbackFor(this.targetHost));
    } catch (err) {
      socket.close();
      throw err;
    }
    if (this.closed) {
      socket.close();
      return;
    }
    socket.on('message', this.onServerMessage);
    socket.on('error', this.onSendError);
    this.outbound = socket;
  }

  private readonly onClientMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.counters.fromClient++;
    this.tapClient?.(msg);
    this.clientAddress = rinfo.address;
    this.clientPort = rinfo.port;
    this.c2s.push(msg);
  };

  private readonly onServerMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (rinfo.port !== this.targetPort) {
      this.counters.strays++;
      return;
    }
    this.counters.fromServer++;
    this.s2c.push(msg);
  };

  private readonly toServer = (packet: Buffer): void => {
    // During a rebind there is briefly no socket: the packet is lost, as on a real switch.
    if (!this.outbound) return;
    this.counters.toServer++;
    this.outbound.send(packet, this.targetPort, this.targetHost);
  };

  private readonly toClient = (packet: Buffer): void => {
    if (this.clientAddress === null || this.closed) return;
    this.counters.toClient++;
    this.listen.send(packet, this.clientPort, this.clientAddress);
  };

  private readonly onSendError = (): void => {
    this.counters.sendErrors++;
  };
}
