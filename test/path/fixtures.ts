import dgram from 'node:dgram';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath, type ClientPathOptions } from '../../src/path/client-path.js';
import { ServerPath, type ServerPathOptions } from '../../src/path/server-path.js';
import { waitFor } from '../support/wait.js';

/**
 * A 100-port spec at a random place below the ephemeral range, so parallel
 * test files rarely meet (and the server tries another port when they do).
 */
export function testPortSpec(): string {
  const base = 20_000 + Math.floor(Math.random() * 9_800);
  return `${base}-${base + 99}`;
}

/** A server on 127.0.0.1 and a client talking to it directly. */
export interface PathPair {
  secret: Buffer;
  server: ServerPath;
  client: ClientPath;
  close(): void;
}

/** Start a ServerPath and a ClientPath on loopback and wait until the server knows its peer. */
export async function startPair(
  options: {
    server?: Partial<ServerPathOptions>;
    client?: Partial<ClientPathOptions>;
    /** Send the client to this port instead of the server's (a relay in between). */
    clientPort?: (serverPort: number) => Promise<number> | number;
  } = {},
): Promise<PathPair> {
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: testPortSpec(), secret, host: '127.0.0.1', ...options.server });
  const port = options.clientPort ? await options.clientPort(server.port) : server.port;
  const client = await ClientPath.create({ host: '127.0.0.1', port, secret, interfacePollMs: 0, ...options.client });
  await waitFor('server to learn its peer', () => server.stats().peer);
  // The client rekeys right after it starts (docs/REKEY.md): let that finish so tests start from a quiet path.
  if (options.client?.rekey?.atStart ?? true) {
    await waitFor('the rekey at start', () => client.stats().rekey.epoch >= 1 && server.stats().rekey.epoch >= 1);
  }
  return {
    secret,
    server,
    client,
    close(): void {
      client.close();
      server.close();
    },
  };
}

/** startPair() with the client sending through a UdpRelay (so datagrams can be dropped, held and copied; the server sees the relay's outbound address). */
export async function pairThroughRelay(options: Omit<Parameters<typeof startPair>[0], 'clientPort'> = {}): Promise<{ pair: PathPair; relay: UdpRelay }> {
  let relay: UdpRelay | null = null;
  const pair = await startPair({
    ...options,
    clientPort: async (serverPort) => {
      relay = await UdpRelay.start(serverPort);
      return relay.port;
    },
  });
  return { pair, relay: relay! };
}

/** A bare UDP socket for sending arbitrary bytes (forged, replayed, random) at a port. */
export class RawSender {
  private constructor(readonly socket: dgram.Socket) {}

  static async open(): Promise<RawSender> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new RawSender(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(datagram: Uint8Array, port: number): void {
    this.socket.send(datagram, port, '127.0.0.1');
  }

  close(): void {
    this.socket.close();
  }
}

/** What a relay does with one client datagram. */
export type RelayVerdict = 'forward' | 'drop';

/**
 * A tiny UDP relay between one client and a server (test-only): it forwards
 * both ways from a fixed outbound socket (so the server sees one address),
 * records what passes, and can black out both directions or let a hook decide
 * a client datagram's fate.
 */
export class UdpRelay {
  /** Client datagrams seen, in arrival order. */
  readonly fromClient: Buffer[] = [];
  /** Server datagrams seen, in arrival order. */
  readonly fromServer: Buffer[] = [];
  /** While true, nothing passes in either direction. */
  blackout = false;
  /** Decides each client datagram's fate (after blackout); default forward. */
  onClientDatagram: ((datagram: Buffer) => RelayVerdict) | null = null;
  /** Decides each server datagram's fate (after blackout); default forward. */
  onServerDatagram: ((datagram: Buffer) => RelayVerdict) | null = null;
  private clientPort = 0;

  private constructor(
    private readonly listen: dgram.Socket,
    private readonly outbound: dgram.Socket,
    serverPort: number,
  ) {
    listen.on('message', (msg, rinfo) => {
      this.clientPort = rinfo.port;
      this.fromClient.push(msg);
      if (this.blackout) return;
      if (this.onClientDatagram && this.onClientDatagram(msg) === 'drop') return;
      outbound.send(msg, serverPort, '127.0.0.1');
    });
    outbound.on('message', (msg) => {
      this.fromServer.push(msg);
      if (this.blackout || this.clientPort === 0) return;
      if (this.onServerDatagram && this.onServerDatagram(msg) === 'drop') return;
      listen.send(msg, this.clientPort, '127.0.0.1');
    });
  }

  static async start(serverPort: number): Promise<UdpRelay> {
    const bind = async (): Promise<dgram.Socket> => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      return socket;
    };
    return new UdpRelay(await bind(), await bind(), serverPort);
  }

  /** The port clients send to. */
  get port(): number {
    return this.listen.address().port;
  }

  /** The source port the server sees. */
  get outboundPort(): number {
    return this.outbound.address().port;
  }

  close(): void {
    this.listen.close();
    this.outbound.close();
  }
}
