/**
 * The control socket of an attachable tsshd (`socket-<pid>` in the user's
 * 0700 directory, attach-dir.ts) and the client side the commands use. One
 * request per connection: a JSON object on one line; one JSON line answers
 * it, `{"error": "..."}` on failure. Both sides give up after
 * CONTROL_TIMEOUT_MS and read at most MAX_CONTROL_LINE bytes, so a stuck or
 * hostile peer costs one bounded connection. Requests (docs/PROTOCOL.md,
 * "Control socket"):
 *   {"type":"info"}                 -> {"pid","name","startedMs","sessions":[...]}
 *   {"type":"view","session":N}     -> {"lines":[...]}
 *   {"type":"attach","link":{...}}  -> {"bootstrapLine":"\u0007{...}\n"}  (a fresh secret: keys travel only here and over ssh)
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Seconds-scale bound on one request, either side. */
export const CONTROL_TIMEOUT_MS = 3000;
/** Longest request or answer line, in bytes. */
export const MAX_CONTROL_LINE = 1024 * 1024;

/** What a request asks; the daemon checks every field. */
export type ControlRequest = { type: 'info' } | { type: 'view'; session: number } | { type: 'attach'; link: Record<string, unknown> };

/** Answers a checked request; throw for an error answer. */
export type ControlHandler = (request: ControlRequest) => Promise<object>;

/** Read one line (without its LF) or fail on size, end or time. */
function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no answer within ${CONTROL_TIMEOUT_MS / 1000} s`)), CONTROL_TIMEOUT_MS);
    const finish = (result: Error | string): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (typeof result === 'string') resolve(result);
      else reject(result);
    };
    const onData = (chunk: string): void => {
      text += chunk;
      const at = text.indexOf('\n');
      if (at >= 0) finish(text.slice(0, at));
      else if (text.length > MAX_CONTROL_LINE) finish(new Error('line too long'));
    };
    const onEnd = (): void => finish(new Error('closed before a whole line'));
    const onError = (err: Error): void => finish(err);
    socket.setEncoding('utf8');
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

function parseRequest(line: string): ControlRequest {
  const value = JSON.parse(line) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('a request is a JSON object');
  const o = value as Record<string, unknown>;
  if (o.type === 'info') return { type: 'info' };
  if (o.type === 'view') {
    const session = o.session;
    if (typeof session !== 'number' || !Number.isInteger(session) || session < 0 || session > 0xffff_ffff) throw new Error('view needs a session id');
    return { type: 'view', session };
  }
  if (o.type === 'attach') {
    if (typeof o.link !== 'object' || o.link === null || Array.isArray(o.link)) throw new Error('attach needs link options');
    return { type: 'attach', link: o.link as Record<string, unknown> };
  }
  throw new Error(`unknown request type ${JSON.stringify(String(o.type)).slice(0, 40)}`);
}

/** The daemon's listening control socket. */
export class ControlSocket {
  private constructor(private readonly server: Server, readonly path: string) {}

  /** Listen at `path` (a stale socket there is replaced), mode 0600. */
  static async listen(path: string, handler: ControlHandler): Promise<ControlSocket> {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
      else throw new Error(`${path} exists and is not a socket; remove it`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const server = createServer((socket) => void serve(socket, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    server.on('error', () => undefined);
    return new ControlSocket(server, path);
  }

  close(): void {
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

async function serve(socket: Socket, handler: ControlHandler): Promise<void> {
  socket.on('error', () => undefined);
  socket.setTimeout(CONTROL_TIMEOUT_MS, () => socket.destroy());
  let answer: object;
  try {
    answer = await handler(parseRequest(await readLine(socket)));
  } catch (err) {
    answer = { error: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 500) };
  }
  if (!socket.destroyed) socket.end(`${JSON.stringify(answer)}\n`);
}

/** Send one request to the daemon at `path`; resolves with its answer, rejects with a one-line Error (its error answer included). */
export async function controlRequest(path: string, request: ControlRequest): Promise<Record<string, unknown>> {
  const socket = connect(path);
  socket.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot connect within ${CONTROL_TIMEOUT_MS / 1000} s`)), CONTROL_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    socket.write(`${JSON.stringify(request)}\n`);
    const answer = JSON.parse(await readLine(socket)) as Record<string, unknown>;
    if (typeof answer !== 'object' || answer === null) throw new Error('the answer is not a JSON object');
    if (typeof answer.error === 'string') throw new Error(answer.error);
    return answer;
  } finally {
    socket.destroy();
  }
}
