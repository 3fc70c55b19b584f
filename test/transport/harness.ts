import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath } from '../../src/path/client-path.js';
import type { RekeyConfig } from '../../src/path/path-options.js';
import { ServerPath } from '../../src/path/server-path.js';
import type { Connection } from '../../src/transport/connection.js';
import { KcpConnection } from '../../src/transport/kcp-connection.js';
import type { ImpairmentOptions } from '../support/impairment.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';

/** A client and a server Connection over real UDP paths joined by the impairment proxy. */
export interface TransportPair {
  client: Connection;
  server: Connection;
  proxy: ImpairmentProxy;
  clientPath: ClientPath;
  serverPath: ServerPath;
  close(): Promise<void>;
}

export interface TransportPairOptions {
  clientToServer?: ImpairmentOptions;
  serverToClient?: ImpairmentOptions;
  seed?: number;
  heartbeatTimeoutMs?: number;
  /** Rekey options for both paths (e.g. a forced short interval). */
  rekey?: Partial<RekeyConfig>;
  /** Both paths use the loopback size (UdpMTU unset; the proxy is on loopback too). */
  largeOnLoopback?: boolean;
}

/** Builds one transport's Connection over a path; the suite runs once per transport. */
export type ConnectionFactory = (path: ClientPath | ServerPath, role: 'client' | 'server') => Connection;

/** Kind 7 (the suite's bulk kind) travels in KCP's bulk lane, everything else in the interactive lane. */
export const kcpFactory: ConnectionFactory = (path, role) => new KcpConnection(path, { role, laneOf: (kind) => (kind === 7 ? 1 : 0) });

/** A port range unlikely to collide with other tests running at the same time. */
function randomPortSpec(): string {
  const base = 20000 + Math.floor(Math.random() * 400) * 100;
  return `${base}-${base + 99}`;
}

export async function createTransportPair(factory: ConnectionFactory, options: TransportPairOptions = {}): Promise<TransportPair> {
  const secret = generateSessionSecret();
  const serverPath = await ServerPath.create({ portSpec: randomPortSpec(), secret, host: '127.0.0.1', rekey: options.rekey, largeOnLoopback: options.largeOnLoopback });
  const proxy = await ImpairmentProxy.start({
    targetHost: '127.0.0.1',
    targetPort: serverPath.port,
    clientToServer: options.clientToServer,
    serverToClient: options.serverToClient,
    seed: options.seed ?? 1,
  });
  const clientPath = await ClientPath.create({
    host: '127.0.0.1',
    port: proxy.port,
    secret,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    interfacePollMs: 0,
    rekey: options.rekey,
    largeOnLoopback: options.largeOnLoopback,
  });
  const client = factory(clientPath, 'client');
  const server = factory(serverPath, 'server');
  return {
    client,
    server,
    proxy,
    clientPath,
    serverPath,
    async close() {
      client.destroy();
      server.destroy();
      clientPath.close();
      serverPath.close();
      proxy.close();
    },
  };
}
