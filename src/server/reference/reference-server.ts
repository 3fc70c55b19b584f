import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ReferenceServerProxy } from '../../path/reference-server-proxy.js';
import type { ServerPath } from '../../path/server-path.js';
import { parseAccept, parseDial, parseListen, StreamCommand, type BusInit } from '../../protocol/reference/messages.js';
import { REFERENCE_PROTOCOL_VERSION, type ReferenceServerInfo } from '../../protocol/reference/server-info.js';
import { ReferenceKcpSession } from '../../transport/reference/kcp-session.js';
import type { SmuxStream } from '../../transport/reference/smux.js';
import type { DebugLog } from '../debug-log.js';
import type { LifetimeConnection, ServerLifetime } from '../lifetime.js';
import type { SessionHost } from '../session-host.js';
import type { ForwardHost } from '../forward-host.js';
import { ReferenceChannels } from './reference-channels.js';
import { ReferenceForwards } from './reference-forwards.js';
import { ReferenceHost } from './reference-host.js';
import { ReferenceUdpForwards } from './reference-udp-forwards.js';
import type { ForwardPolicy } from '../forward-policy.js';

/**
 * The reference family on tsshd's port, put together (docs/INTEROP.md "Our
 * tsshd and the reference tssh"): fresh keys for the ServerInfo the
 * reference tssh reads, the proxy that authenticates its addresses on our
 * ServerPath's port (diverting the port to it on its first auth packet),
 * kcp-go framing + KCP + smux in the server role, and the stream host that
 * maps its sessions onto our SessionHost. The same lifetime ends it.
 *
 * The reference tssh asks for QUIC unless told --kcp; it follows
 * ServerInfo.Mode, and this server always answers KCP (docs/INTEROP.md says why).
 */

/** Secrets of one run, as the reference tsshd draws them. */
export interface ReferenceSecrets {
  proxyKey: Buffer;
  pass: Buffer;
  salt: Buffer;
  clientId: bigint;
  serverId: bigint;
}

/** Draw the secrets (IDs are never zero: the reference treats zero as absent). */
export function drawReferenceSecrets(): ReferenceSecrets {
  const id = (): bigint => {
    for (;;) {
      const v = randomBytes(8).readBigUInt64BE(0);
      if (v !== 0n) return v;
    }
  };
  return { proxyKey: randomBytes(32), pass: randomBytes(48), salt: randomBytes(48), clientId: id(), serverId: id() };
}

/** The ServerInfo fields for these secrets (the native object is added by the caller). */
export function referenceServerInfo(
  secrets: ReferenceSecrets,
  o: { serverVersion: string; port: number; proxyMode: 'udp' | 'tcp'; mtu: number | undefined },
): ReferenceServerInfo {
  const info: ReferenceServerInfo = {
    serverVersion: o.serverVersion,
    protoVersion: REFERENCE_PROTOCOL_VERSION,
    port: o.port,
    mode: 'KCP',
    pass: secrets.pass,
    salt: secrets.salt,
    proxyKey: secrets.proxyKey,
    clientId: secrets.clientId,
    serverId: secrets.serverId,
    proxyMode: o.proxyMode === 'tcp' ? 'TCP' : 'UDP',
    mtu: o.mtu ?? 0,
  };
  return info;
}

export interface ReferenceServeOptions {
  /** --mtu when given; else the reference default (1400). */
  mtu: number | undefined;
  /** The login's PATH (see command-line.ts). */
  loginPath: string;
  /** --connect-timeout: also how long an accepted -R connection waits for the client to claim it. */
  connectTimeoutMs: number;
  /** sshd_config's forwarding rules (for UDP forwards; TCP ones go through the ForwardHost). */
  forwardPolicy: ForwardPolicy;
}

/** Liveness is checked this often at most (the reference's watchdog runs once a second). */
const LIVENESS_CHECK_MS = 1000;
/** After the last session, how long the reference tssh gets to send "close" itself (it does at once). */
const CLIENT_CLOSE_GRACE_MS = 2000;
/** How long the end waits for the client to acknowledge what is in flight. */
const FLUSH_GRACE_MS = 5000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Wait (bounded) until KCP has nothing queued or unacknowledged. Polls: this runs once, at the end. */
async function untilFlushed(session: ReferenceKcpSession, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const kcp = session.kcp;
    if (kcp === null || kcp.idle) return;
    await delay(10);
  }
}

/**
 * Serve the reference tssh on `path`'s port with these secrets. Until its
 * first auth packet nothing here runs; from then on the port is its and the
 * lifetime winds down its connection.
 */
export function serveReferenceFamily(
  path: ServerPath,
  secrets: ReferenceSecrets,
  host: SessionHost,
  forwards: ForwardHost,
  lifetime: ServerLifetime,
  log: DebugLog,
  options: ReferenceServeOptions,
): ReferenceServerProxy {
  const proxy = new ReferenceServerProxy(secrets.proxyKey, secrets.clientId, secrets.serverId);
  proxy.attach(path);
  const kcpOptions = { role: 'server' as const, pass: secrets.pass, salt: secrets.salt, ...(options.mtu === undefined ? {} : { mtu: options.mtu }) };
  const session = new ReferenceKcpSession({ send: (d) => proxy.send(d) }, kcpOptions);
  proxy.onPacket = (d) => session.input(d);
  const refForwards = new ReferenceForwards(forwards, options.connectTimeoutMs);
  const udpForwards = new ReferenceUdpForwards(options.forwardPolicy, session, (line) => log.log(line));
  session.on('datagram', (d: Buffer) => udpForwards.datagram(d));
  const channels = new ReferenceChannels({
    park: (entry) => refForwards.park(entry),
    announce: (channelType, id) => streams.announceChannel(channelType, id),
  });
  const streams: ReferenceHost = new ReferenceHost(host, {
    installKey: (secret) => session.installKey(secret),
    path: options.loginPath,
    forwardStream: (command, message, stream) => {
      if (command === StreamCommand.DialUdp) udpForwards.dial(parseDial(message), stream);
      else if (command === StreamCommand.ListenUdp) void udpForwards.listen(parseListen(message), stream);
      else if (command === StreamCommand.AcceptUdp) udpForwards.accept(parseAccept(message), stream);
      else refForwards.serve(command, message, stream as SmuxStream);
    },
    channels,
  });
  let reconnects = 0;
  proxy.on('reconnected', (address: string, port: number) => {
    log.log(`reference client ${reconnects === 0 ? 'authenticated' : 'reconnected'} from ${address} port ${port}`);
    if (reconnects++ > 0) {
      // Resend what is in flight at once, and hold input typed while away until the discard marker.
      session.probeNow();
      streams.reconnected();
    }
  });
  let clientClosed: () => void = () => undefined;
  const closedByClient = new Promise<void>((resolve) => (clientClosed = resolve));
  path.once('diverted', () => {
    const conn: LifetimeConnection = {
      once: ((event: string, listener: () => void) => {
        session.once(event, listener);
        return conn;
      }) as LifetimeConnection['once'],
      // The reference tssh ends a session by sending "close" itself: give it the chance, then let what is in flight land.
      close: async () => {
        await Promise.race([closedByClient, delay(CLIENT_CLOSE_GRACE_MS)]);
        await untilFlushed(session, FLUSH_GRACE_MS);
        session.close();
      },
      destroy: () => session.close(),
    };
    lifetime.switchConnection(conn, 'the reference tssh (KCP mode)', (reason) => streams.quit(reason));
  });
  session.on('stream', (stream: SmuxStream) => streams.accept(stream));
  session.on('error', (err: Error) => log.log(`reference smux error: ${err.message}`));
  streams.on('protocol-error', (err: Error) => log.log(`reference client protocol error: ${err.message}`));
  streams.on('rekeyed', () => log.log('reference traffic key rotated'));
  streams.on('close', () => {
    clientClosed();
    lifetime.clientLeft('the client closed the session (reference "close")');
  });
  let watchdog: NodeJS.Timeout | null = null;
  let lastAlive = performance.now();
  streams.on('alive', () => (lastAlive = performance.now()));
  streams.once('bus', (init: BusInit) => {
    lifetime.clientArrived(`reference tssh ${init.clientVersion.slice(0, 40)} (alive timeout ${init.aliveTimeoutMs} ms, heartbeat ${init.heartbeatTimeoutMs} ms)`);
    lastAlive = performance.now();
    let contactLost = false;
    watchdog = setInterval(() => {
      const now = performance.now();
      if (init.aliveTimeoutMs > 0 && now - lastAlive > init.aliveTimeoutMs) {
        lifetime.clientLeft(`no heartbeat for ${Math.round(now - lastAlive)} ms (the client's UdpAliveTimeout)`, 1);
        return;
      }
      // As the reference: once silent past the heartbeat time-out, the client's addresses are forgotten; it re-authenticates.
      const silent = now - proxy.lastReceiveMs;
      if (init.heartbeatTimeoutMs > 0 && silent > 2 * init.heartbeatTimeoutMs && !contactLost) {
        contactLost = true;
        proxy.forgetAddresses();
        log.log(`no datagram from the reference client for ${Math.round(silent)} ms; its address is forgotten until it authenticates again`);
      } else if (silent <= init.heartbeatTimeoutMs) {
        contactLost = false;
      }
    }, Math.max(LIVENESS_CHECK_MS, init.intervalMs));
    watchdog.unref();
  });
  void lifetime.ended.then(() => {
    if (path.isDiverted) {
      const k = session.kcp?.stats();
      log.log(`reference: proxy drops ${JSON.stringify(proxy.drops)}, framing drops ${JSON.stringify(session.framing.drops)}, kcp ${k ? `sent ${k.packetsSent} received ${k.packetsReceived} retransmissions ${k.retransmissions}` : 'never started'}`);
    }
    if (watchdog !== null) clearInterval(watchdog);
    refForwards.close();
    udpForwards.close();
    session.close();
  });
  return proxy;
}
