/**
 * A gzip'd POSIX tar archive of a few files, in memory: what --install-tsshd
 * pipes into `tar -xf -` on the server (any tar reads ustar).
 */
import { gzipSync } from 'node:zlib';

/** One member: a file with its mode, or a directory when `data` is absent. */
export interface TarEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(entry: TarEntry, size: number, mtime: number): Buffer {
  const name = entry.data === undefined && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(entry.mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.fill(' ', 148, 156);
  h.write(entry.data === undefined ? '5' : '0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** The archive, gzip'd (level 6 by default; a 100 MB executable shrinks to about a third). */
export function gzipTar(entries: readonly TarEntry[], level = 6): Buffer {
  const mtime = Math.floor(Date.now() / 1000);
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const size = entry.data?.length ?? 0;
    parts.push(header(entry, size, mtime));
    if (entry.data !== undefined) {
      parts.push(Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length));
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(parts), { level });
}
