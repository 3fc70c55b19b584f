/**
 * A fake local X server (cookie-checking, then echoing) and the X client script
 * the remote session runs against the forwarded display: shared by the X11
 * forwarding tests of our tssh and of the reference Go tssh.
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** Debian's xauth. */
export const XAUTH = '/usr/bin/xauth';

/** A fake local X server on a Unix socket: reads the setup request, records the cookie, answers Success (then echoes) or Failed. */
export class FakeXServer {
  readonly cookies: Buffer[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    readonly server: Server,
    readonly path: string,
    readonly number: number,
    readonly real: Buffer,
  ) {}

  static async start(real: Buffer): Promise<FakeXServer> {
    const dir = '/tmp/.X11-unix';
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o1777);
    }
    for (let attempt = 0; attempt < 50; attempt++) {
      const number = 600 + Math.floor(Math.random() * 300);
      const path = join(dir, `X${number}`);
      if (existsSync(path)) continue;
      const fake = new FakeXServer(createServer((s) => fake.accept(s)), path, number, real);
      const ok = await new Promise<boolean>((resolve) => {
        fake.server.once('error', () => resolve(false));
        fake.server.listen(path, () => resolve(true));
      });
      if (ok) return fake;
    }
    throw new Error('no free fake X display');
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let setUp = false;
    socket.on('data', (chunk: Buffer) => {
      if (setUp) {
        socket.write(chunk); // echo: the relay carries bytes both ways after the setup
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 12) return;
      const le = buf[0] === 0x6c;
      const u16 = (at: number): number => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
      const n = u16(6);
      const d = u16(8);
      const pad = (x: number): number => (x + 3) & ~3;
      const total = 12 + pad(n) + pad(d);
      if (buf.length < total) return;
      const name = buf.toString('latin1', 12, 12 + n);
      const data = buf.subarray(12 + pad(n), 12 + pad(n) + d);
      this.cookies.push(Buffer.from(data));
      const reply = Buffer.alloc(8 + 32);
      const w = (v: number, at: number): number => (le ? reply.writeUInt16LE(v, at) : reply.writeUInt16BE(v, at));
      if (name === 'MIT-MAGIC-COOKIE-1' && data.equals(this.real)) {
        reply[0] = 1;
        w(11, 2);
        w(8, 6);
        setUp = true;
        socket.write(reply);
        const rest = buf.subarray(total);
        if (rest.length > 0) socket.write(rest);
      } else {
        socket.end(Buffer.from([0, 0, 11, 0, 0, 0, 0, 0]));
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}

/**
 * The X client run in the remote session: takes the cookie `xauth list $DISPLAY`
 * gives it (the fake one tsshd registered), connects to $DISPLAY over TCP,
 * sends the setup request and a ping, and prints what came back.
 */
export const X_CLIENT = `
const net = require('node:net');
const { execFileSync } = require('node:child_process');
const display = process.env.DISPLAY || '';
const m = /^localhost:([0-9]+)\\.([0-9]+)$/.exec(display);
if (!m) { console.log('display=' + display); process.exit(3); }
const line = execFileSync('${XAUTH}', ['list', display], { encoding: 'utf8' }).trim().split('\\n')[0] || '';
const hex = line.split(/\\s+/)[2] || '';
console.log('display=' + display + ' cookie=' + hex);
const name = Buffer.from('MIT-MAGIC-COOKIE-1');
const data = Buffer.from(hex, 'hex');
const pad = (b) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const head = Buffer.alloc(12);
head[0] = 0x6c; head.writeUInt16LE(11, 2); head.writeUInt16LE(name.length, 6); head.writeUInt16LE(data.length, 8);
const bulk = Number(process.argv[2] || 0);
const payload = bulk > 0 ? Buffer.alloc(bulk, 'tsshd-x11-bulk-0123456789') : Buffer.from('ping');
const s = net.connect(6000 + Number(m[1]), '127.0.0.1');
let got = Buffer.alloc(0);
s.on('data', (c) => {
  got = Buffer.concat([got, c]);
  if (got[0] !== 1) { console.log('x11=failed'); s.destroy(); return; }
  if (got.length >= 40 + payload.length) {
    const echo = got.subarray(40);
    const shown = bulk > 0 ? require('node:crypto').createHash('sha256').update(echo).digest('hex') + ' ' + echo.length : echo.toString();
    console.log('x11=ok echo=' + shown);
    s.destroy();
  }
});
s.on('error', (e) => console.log('x11=error ' + e.message));
s.on('close', () => { if (got.length === 0) console.log('x11=closed'); });
s.write(Buffer.concat([head, pad(name), pad(data), payload]));
`;
