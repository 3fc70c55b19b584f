/**
 * Forwarding over the reference protocol (docs/INTEROP.md "Streams"):
 * -L and -D open a `dial` stream per connection, -R holds a `listen` stream
 * on which the server announces each connection it accepted, fetched with an
 * `accept` stream; agent connections are offered on the bus (`channel`) and
 * fetched the same way. Bytes are spliced as ssh's channels are (half-close
 * both ways). What the Go tsshd refuses (AllowTcpForwarding, ...) is
 * reported in one line, as ssh reports a refused forward.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import * as M from '../protocol/reference/messages.js';
import { parseIdReply } from '../protocol/reference/messages.js';
import { encodeMessage, StreamFrameReader } from '../protocol/reference/stream-codec.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import type { SmuxStream } from '../transport/reference/smux.js';
import type { AgentX11Choice } from './agent-x11-options.js';
import type { ForwardPlan } from './forward-plan.js';
import type { ForwardConnect, ForwardSpec } from './forward-spec.js';
import { clientBindPlan, remoteBindHost } from './local-bind.js';
import { readStreamMessage, type ReferenceClient } from './reference-client.js';
import { ReferenceUdpForwards } from './reference-udp-forward.js';
import { X11Forwarding } from './x11-forward.js';
import { readSocksRequest, socksReply } from './socks.js';

export interface ReferenceForwardsOptions {
  log: (line: string) => void;
  quiet: boolean;
  agentX11?: AgentX11Choice;
}

/** "host:port" as Go's net.Dial reads it (IPv6 in brackets). */
function goAddr(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function target(c: ForwardConnect): { net: string; addr: string } {
  return 'path' in c ? { net: 'unix', addr: c.path } : { net: 'tcp', addr: goAddr(c.host, c.port) };
}

export class ReferenceForwards {
  private readonly servers: Server[] = [];
  private readonly listenStreams: SmuxStream[] = [];
  private udp: ReferenceUdpForwards | null = null;
  private readonly x11: X11Forwarding | null;
  private closed = false;

  constructor(
    private readonly client: ReferenceClient,
    private readonly o: ReferenceForwardsOptions,
  ) {
    const x = o.agentX11?.x11;
    this.x11 = x !== undefined ? new X11Forwarding(null, { target: x.target, auth: x.auth, log: (line) => o.log(line) }) : null;
    client.on('channel', this.onChannel);
  }

  /** Set up every forward of the plan; false (after one line each) if one failed and ExitOnForwardFailure is set. */
  async setUp(plan: ForwardPlan): Promise<boolean> {
    let ok = true;
    const failed = (what: string, err: Error): void => {
      this.o.log(`tssh: ${what}: ${err.message}`);
      ok = false;
    };
    for (const spec of plan.local) {
      if (spec.proto === 'udp') {
        this.udp ??= new ReferenceUdpForwards(this.client, plan.udpTimeoutMs);
        await this.udp.listen(spec, plan.gatewayPorts).catch((err: Error) => failed(`bind for ${this.describe(spec)} failed`, err));
        continue;
      }
      await this.listenLocal(spec, plan.gatewayPorts).catch((err: Error) => failed(`bind for ${this.describe(spec)} failed`, err));
    }
    for (const d of plan.dynamic) {
      await this.listenSocks(d.listen.host, d.listen.port, plan.gatewayPorts).catch((err: Error) => failed(`dynamic forward on port ${d.listen.port} failed`, err));
    }
    for (const spec of plan.remote) {
      if (spec.proto === 'udp') {
        failed(`cannot forward ${this.describe(spec)}`, new Error('remote UDP forwarding (-R udp/...) with the Go tsshd is not supported by tssh yet; use -L udp/... or tssh\'s own tsshd'));
        continue;
      }
      await this.listenRemote(spec).catch((err: Error) => failed(`remote port forwarding failed for listen ${this.describeListen(spec)}`, err));
    }
    return ok || !plan.exitOnForwardFailure;
  }

  /** A `dial` stream to host:port on the server's side (-W, -D, -L). */
  async dial(host: string, port: number): Promise<SmuxStream> {
    return this.dialTo({ net: 'tcp', addr: goAddr(host, port) });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.off('channel', this.onChannel);
    for (const s of this.servers) s.close();
    for (const s of this.listenStreams) s.destroy();
    this.udp?.close();
    this.x11?.close();
  }

  private async dialTo(t: { net: string; addr: string }): Promise<SmuxStream> {
    const stream = await this.client.openStream(M.StreamCommand.Dial);
    await this.client.request(stream, `connect to ${t.addr} failed`, M.encodeDial({ net: t.net, addr: t.addr, timeoutMs: 10_000 }));
    return stream;
  }

  private listenLocal(spec: ForwardSpec, gatewayPorts: boolean): Promise<void> {
    const to = target(spec.connect);
    return this.serve(spec.listen, gatewayPorts, (socket) => {
      this.dialTo(to).then(
        (stream) => spliceSocket(socket, stream),
        (err: Error) => {
          if (!this.o.quiet) this.o.log(`tssh: ${err.message}`);
          socket.destroy();
        },
      );
    });
  }

  private listenSocks(host: string | undefined, port: number, gatewayPorts: boolean): Promise<void> {
    return this.serve({ ...(host !== undefined ? { host } : {}), port }, gatewayPorts, (socket) => {
      readSocksRequest(socket).then(
        (req) =>
          this.dial(req.target.host, req.target.port).then(
            (stream) => {
              socket.write(socksReply(req.version, 'ok'));
              spliceSocket(socket, stream);
            },
            () => {
              socket.end(socksReply(req.version, 'connect-failed'));
            },
          ),
        () => socket.destroy(),
      );
    });
  }

  private serve(listen: ForwardSpec['listen'], gatewayPorts: boolean, onSocket: (s: Socket) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        if (this.closed) return void socket.destroy();
        onSocket(socket);
      });
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.servers.push(server);
        resolve();
      };
      if ('path' in listen) server.listen(listen.path, done);
      else {
        const plan = clientBindPlan(listen.host, gatewayPorts);
        const host = plan.kind === 'wildcard' ? undefined : plan.kind === 'loopback' ? '127.0.0.1' : plan.host;
        server.listen({ port: listen.port, ...(host !== undefined ? { host } : {}) }, done);
      }
    });
  }

  private async listenRemote(spec: ForwardSpec): Promise<void> {
    const listen = spec.listen;
    const l = 'path' in listen ? { net: 'unix', addr: listen.path } : { net: 'tcp', addr: goAddr(remoteBindHost(listen.host) ?? 'localhost', listen.port) };
    const stream = await this.client.openStream(M.StreamCommand.Listen);
    await this.client.request(stream, 'tsshd refused', M.encodeListen(l.net, l.addr));
    this.listenStreams.push(stream);
    const to = spec.connect;
    const reader = new StreamFrameReader();
    stream.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (;;) {
        let m;
        try {
          m = reader.readMessage();
        } catch {
          stream.destroy();
          return;
        }
        if (m === undefined) return;
        const id = M.parseAccept(m);
        void this.accept(id).then(
          (s) => {
            const socket = 'path' in to ? createConnection({ path: to.path, allowHalfOpen: true }) : createConnection({ host: to.host, port: to.port, allowHalfOpen: true });
            spliceSocket(socket, s);
          },
          () => undefined,
        );
      }
    });
    stream.on('error', () => undefined);
  }

  private async accept(id: number): Promise<SmuxStream> {
    const stream = await this.client.openStream(M.StreamCommand.Accept);
    stream.write(encodeMessage(M.encodeAccept(id)));
    const reply = parseIdReply(await readStreamMessage(stream));
    if (!M.isNoError(reply)) {
      stream.destroy();
      throw new Error(reply.msg);
    }
    return stream;
  }

  private readonly onChannel = (type: string, id: number): void => {
    const x11 = this.x11;
    if (type === M.X11_CHANNEL_TYPE && x11 !== null) {
      void this.accept(id).then(
        (s) => x11.serve(s),
        () => undefined,
      );
      return;
    }
    const agent = this.o.agentX11?.agentSocket;
    if (type === M.AGENT_CHANNEL_TYPE && agent !== undefined) {
      void this.accept(id).then(
        (s) => spliceSocket(createConnection({ path: agent, allowHalfOpen: true }), s),
        () => undefined,
      );
    }
  };

  private describe(spec: ForwardSpec): string {
    return `${this.describeListen(spec)} -> ${'path' in spec.connect ? spec.connect.path : goAddr(spec.connect.host, spec.connect.port)}`;
  }

  private describeListen(spec: ForwardSpec): string {
    return 'path' in spec.listen ? spec.listen.path : `${spec.listen.host ? `${spec.listen.host}:` : ''}${spec.listen.port}`;
  }
}
