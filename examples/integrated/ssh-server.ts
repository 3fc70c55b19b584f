/**
 * A TCP SSH server on ssh2 that serves sessions with a tsshd Handler, and
 * starts tsshd for `tssh --udp`: an exec request for `tsshd [flags]` (or tssh's
 * default search for it, see tsshdFlags) re-executes this example in tsshd mode with the connection's
 * details (SSH_CONNECTION, SSH_CLIENT), relays its bootstrap line on the
 * channel and its exit status, exactly as a shell under OpenSSH's sshd would.
 * Public-key logins only, for the user running the server.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, ServerChannel, Session as Ssh2Session } from 'ssh2';
import { buildLoginEnv, currentLogin, envAcceptedBy, LOGIN_MARKER, serveSession, sessionEnv, splitLoginMarker, StreamSession, type Handler, type PtyInfo } from 'tsshd';
import { SERVER_MARKER_ENV } from './service.js';

/** How to start the server. */
export interface SshServerOptions {
  /** Address to listen on (e.g. 127.0.0.1). */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** The host's private key (OpenSSH or PEM format). */
  hostKey: string | Buffer;
  /** authorized_keys text: one public key per line. */
  authorizedKeys: string;
  /** Serves shells, commands and subsystems over TCP. */
  handler: Handler;
  /** The program started as `node PROGRAM tsshd [flags]` for tssh --udp. */
  tsshdProgram: string;
}

/** A listening server. */
export interface SshServer {
  /** The TCP port listened on. */
  readonly port: number;
  /** Stop listening and hang up every connection. */
  close(): Promise<void>;
}

/** Only these client variables reach sessions (as OpenSSH's default AcceptEnv). */
const accepted = envAcceptedBy(['LANG', 'LC_*']);
/** A tsshd command line as tssh writes it: plain words only. */
const PLAIN_WORDS = /^[A-Za-z0-9_./:=,+@%~-]+(\s+[A-Za-z0-9_./:=,+@%-]+)*$/;

function parseAuthorizedKeys(text: string): ParsedKey[] {
  const keys: ParsedKey[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const key = ssh2.utils.parseKey(line.trim());
    if (key instanceof Error) throw new Error(`authorized keys: ${key.message}`);
    keys.push(Array.isArray(key) ? key[0] : key);
  }
  return keys;
}

/**
 * tssh's remote command when TsshdPath is left at `tsshd`: a one-line sh
 * script that runs ~/.local/bin/tsshd or else tsshd from PATH, then tsshd's
 * flags (`exec sh -c '...' sh --kcp ...`).
 */
const SEARCH_COMMAND = /^exec sh -c '[^']*tsshd[^']*' sh((?:\s+[A-Za-z0-9_./:=,+@%-]+)*)$/;

/** The tsshd flags an exec request asks for (`tsshd`, `/some/path/tsshd` or tssh's search for it, then flags), or null when it is not tsshd. */
export function tsshdFlags(command: string): string[] | null {
  const trimmed = command.trim();
  const search = SEARCH_COMMAND.exec(trimmed);
  if (search) return search[1]!.trim().split(/\s+/).filter((w) => w !== '');
  const words = trimmed.split(/\s+/);
  return PLAIN_WORDS.test(trimmed) && basename(words[0] ?? '') === 'tsshd' ? words.slice(1) : null;
}

/** Listen for SSH over TCP; resolves once listening. Throws for an unusable host key or authorized key. */
export async function startSshServer(o: SshServerOptions): Promise<SshServer> {
  const allowed = parseAuthorizedKeys(o.authorizedKeys);
  const login = currentLogin();
  const connections = new Set<Connection>();
  let listenPort = 0;
  const server = new ssh2.Server({ hostKeys: [o.hostKey] }, (client, info) => {
    connections.add(client);
    client.on('error', () => undefined);
    client.on('close', () => connections.delete(client));
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== login.user) return ctx.reject(['publickey']);
      const key = allowed.find((k) => k.getPublicSSH().equals(ctx.key.data));
      if (!key) return ctx.reject(['publickey']);
      // Without a signature the client only asks whether this key would do.
      if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept();
      if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
      return ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      const sshConnection = `${info.ip} ${info.port} ${o.host} ${listenPort}`;
      const sshClient = `${info.ip} ${info.port} ${listenPort}`;
      const remote = (): { address: string; port: number } => ({ address: info.ip, port: info.port });
      client.on('session', (acceptSession) => {
        const ssh = acceptSession();
        serveSsh2Session(ssh, { handler: o.handler, remote, sshConnection, sshClient, tsshdProgram: o.tsshdProgram });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  listenPort = (server.address() as AddressInfo).port;
  return {
    port: listenPort,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.end();
        server.close(() => resolve());
      }),
  };
}

interface SessionContext {
  handler: Handler;
  remote: () => { address: string; port: number };
  sshConnection: string;
  sshClient: string;
  tsshdProgram: string;
}

/** One ssh2 session channel: collect pty and env requests, then run the shell, command or subsystem as a tsshd Session. */
function serveSsh2Session(ssh: Ssh2Session, c: SessionContext): void {
  let pty: PtyInfo | undefined;
  const clientEnv: Record<string, string> = {};
  let session: StreamSession | undefined;
  ssh.on('pty', (accept, _reject, info) => {
    pty = { term: info.term || 'vt100', cols: info.cols || 80, rows: info.rows || 24 };
    accept?.();
  });
  ssh.on('env', (accept, _reject, info) => {
    clientEnv[info.key] = info.val;
    accept?.();
  });
  ssh.on('window-change', (accept, _reject, info) => {
    session?.windowChange(info.cols, info.rows);
    accept?.();
  });
  const start = (channel: ServerChannel, what: { command?: string; subsystem?: string }): void => {
    channel.on('error', () => undefined);
    const loginEnv = buildLoginEnv(currentLogin({ sshConnection: c.sshConnection, sshClient: c.sshClient }));
    const options: ConstructorParameters<typeof StreamSession>[0] = {
      input: channel,
      output: channel,
      environ: sessionEnv(loginEnv, clientEnv, accepted, pty?.term),
      remote: c.remote,
      open: () => (pty ? undefined : channel.stderr),
      reportExit: (status) => (typeof status === 'number' ? channel.exit(status) : channel.exit(status.signal)),
    };
    if (what.command !== undefined) options.command = what.command;
    if (what.subsystem !== undefined) options.subsystem = what.subsystem;
    if (pty) options.pty = pty;
    const s = new StreamSession(options);
    session = s;
    // The channel closed under the session: the client is gone, hang it up.
    channel.once('close', () => s.hangup('the SSH channel closed'));
    void serveSession(c.handler, s);
  };
  ssh.on('shell', (accept) => start(accept(), {}));
  ssh.on('subsystem', (accept, _reject, info) => start(accept(), { subsystem: info.name }));
  ssh.on('exec', (accept, _reject, info) => {
    // tssh puts `echo tssh-login-ran; ` before the tsshd command: answer with the marker line, as a shell would.
    const { marked, command } = splitLoginMarker(info.command);
    const flags = tsshdFlags(command);
    if (flags !== null) {
      const channel = accept();
      if (marked) channel.write(`${LOGIN_MARKER}\n`);
      runTsshd(channel, flags, c);
    } else start(accept(), { command: info.command });
  });
}

/** `tsshd [flags]`: run this example in tsshd mode, as sshd would run tsshd, and relay what it prints. */
function runTsshd(channel: ServerChannel, flags: readonly string[], c: SessionContext): void {
  channel.on('error', () => undefined);
  const child = spawn(process.execPath, [c.tsshdProgram, 'tsshd', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SSH_CONNECTION: c.sshConnection, SSH_CLIENT: c.sshClient, [SERVER_MARKER_ENV]: String(process.pid) },
  });
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  let done = false;
  const finish = (code: number): void => {
    if (done) return;
    done = true;
    channel.exit(code);
    channel.end();
  };
  child.once('error', (err) => {
    channel.stderr.write(`integrated: cannot start tsshd: ${err.message}\n`);
    finish(255);
  });
  child.once('close', (code) => finish(code ?? 255));
}
