/**
 * `tssh --install-tsshd`, the files: what this tssh can send (install-plan.ts
 * chooses), made from its own package, so the server needs no network:
 * - a bundle for the server's Node: dist/sea/tsshd.cjs (tsshd with its
 *   JavaScript dependencies inside) with the native addons for the server's
 *   platform in native/, and a launcher naming the server's node;
 * - a single executable (Node's single-executable applications): this
 *   machine's node with the same bundle and the addons as assets, for a
 *   server of the same platform without a suitable Node. Built once per
 *   tssh and node version and kept in ~/.cache/tssh.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT, VERSION } from '../version.js';
import { bundleLauncher, type ClientAbilities, type ServerPlatform } from './install-plan.js';
import { gzipTar, type TarEntry } from './tar-archive.js';

const requireFromPackage = createRequire(join(PACKAGE_ROOT, 'package.json'));
/** Platforms @lydell/node-pty has prebuilt addons for. */
const PTY_PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64'];
/** The self-contained tsshd that scripts/bundle.mjs makes. */
const BUNDLE = join(PACKAGE_ROOT, 'dist', 'sea', 'tsshd.cjs');
/** Node's marker for a single executable's blob (docs: Single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function resolveFile(id: string): string | null {
  try {
    return requireFromPackage.resolve(id);
  } catch {
    return null;
  }
}

/** The native addons for a platform that this tssh has, by the name tsshd's bundle loads them as. */
function nativeAddons(p: ServerPlatform, sameNodeAbi: boolean): Map<string, string> {
  const files = new Map<string, string>();
  const pty = resolveFile(`@lydell/node-pty-${p.platform}-${p.arch}/pty.node`);
  if (pty !== null) files.set('pty.node', pty);
  const quic = resolveFile(`@matrixai/quic-${p.platform}-${p.arch}`);
  if (quic !== null) files.set('quic.node', quic);
  // unix-dgram is built for this Node's ABI and platform only.
  const here = p.platform === process.platform && p.arch === process.arch;
  const dgram = here && sameNodeAbi ? resolveFile('unix-dgram/build/Release/unix_dgram.node') : null;
  if (dgram !== null) files.set('unix_dgram.node', dgram);
  return files;
}

/** What this tssh can send (install-plan.ts decides with it). */
export function clientAbilities(): ClientAbilities {
  const ptyPlatforms = PTY_PLATFORMS.filter((name) => resolveFile(`@lydell/node-pty-${name}/pty.node`) !== null);
  const here = `${process.platform}-${process.arch}`;
  let refusal: string | undefined;
  if (process.platform !== 'linux') refusal = 'single executables are built on Linux only';
  else if (!isBuiltin('node:sea')) refusal = `this machine's Node ${process.version} has no single-executable support (Node 20.12 or later has)`;
  else if (resolveFile('postject') === null) refusal = 'the postject package is missing; reinstall tssh with npm';
  else if (!ptyPlatforms.includes(here)) refusal = `this tssh has no terminal addon for ${here}`;
  else if (!existsSync(BUNDLE)) refusal = `${BUNDLE} is missing; run npm run build`;
  return refusal === undefined ? { ptyPlatforms, executablePlatform: here } : { ptyPlatforms, executablePlatform: '', executableRefusal: refusal };
}

/** The bundle for the server's Node: `tsshd` (the launcher), tsshd.cjs and native/. */
export function bundlePayload(o: { platform: ServerPlatform; node: string; nodeAbi: string; installedAt: string }): Buffer {
  const entries: TarEntry[] = [
    { name: 'tsshd', mode: 0o755, data: Buffer.from(bundleLauncher(o.node, `${o.installedAt}/tsshd.cjs`)) },
    { name: 'tsshd.cjs', mode: 0o644, data: readFileSync(BUNDLE) },
    { name: 'native', mode: 0o755 },
  ];
  for (const [name, file] of nativeAddons(o.platform, o.nodeAbi === process.versions.modules)) {
    entries.push({ name: `native/${name}`, mode: 0o644, data: readFileSync(file) });
  }
  return gzipTar(entries);
}

/** A given tsshd executable (--tsshd-bin-path), as the payload. */
export function filePayload(path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new Error(`tssh: cannot read --tsshd-bin-path ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return gzipTar([{ name: 'tsshd', mode: 0o755, data }]);
}

/** The cache for built executables: $XDG_CACHE_HOME/tssh or ~/.cache/tssh. */
function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tssh');
}

/**
 * The single executable for this machine's platform, as the payload (built
 * on first use, then from the cache). `progress` hears what takes seconds.
 */
export async function executablePayload(progress: (line: string) => void): Promise<Buffer> {
  const here = { platform: process.platform, arch: process.arch };
  const addons = nativeAddons(here, true);
  const key = createHash('sha256').update(process.version).update(readFileSync(BUNDLE));
  for (const [name, file] of addons) key.update(name).update(readFileSync(file));
  const cached = join(cacheDir(), `tsshd-${VERSION}-${process.platform}-${process.arch}-${key.digest('hex').slice(0, 16)}.tar.gz`);
  if (existsSync(cached) && writableByUsAlone(cached)) return readFileSync(cached);
  progress(`tssh: building a tsshd single executable from ${process.execPath} (once; kept in ${cacheDir()})`);
  const work = mkdtempSync(join(tmpdir(), 'tssh-sea-'));
  try {
    const exe = await buildExecutable(work, addons);
    const payload = gzipTar([{ name: 'tsshd', mode: 0o755, data: readFileSync(exe) }]);
    mkdirSync(cacheDir(), { recursive: true, mode: 0o700 });
    writeFileSync(`${cached}.tmp`, payload, { mode: 0o600 });
    renameSync(`${cached}.tmp`, cached);
    return payload;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildExecutable(work: string, addons: Map<string, string>): Promise<string> {
  const assets: Record<string, string> = {};
  writeFileSync(join(work, 'native.json'), JSON.stringify([...addons.keys()]));
  assets['native.json'] = join(work, 'native.json');
  for (const [name, file] of addons) assets[name] = file;
  const blob = join(work, 'tsshd.blob');
  const config = { main: BUNDLE, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets };
  writeFileSync(join(work, 'sea-config.json'), JSON.stringify(config));
  const prep = spawnSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { encoding: 'utf8' });
  if (prep.status !== 0) {
    throw new Error(`tssh: node --experimental-sea-config failed: ${(prep.stderr || prep.error?.message || '').trim().split('\n')[0]}`);
  }
  const exe = join(work, 'tsshd');
  copyFileSync(process.execPath, exe);
  // postject's ELF library warns about section names through the console it captured when loaded; what matters is whether the result runs.
  const quiet = silenceConsole();
  try {
    const { inject } = requireFromPackage('postject') as {
      inject: (file: string, name: string, data: Buffer, options: { sentinelFuse: string }) => Promise<void>;
    };
    await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  } catch (err) {
    throw new Error(`tssh: cannot make a single executable from ${process.execPath}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    quiet();
  }
  const check = spawnSync(exe, ['-v'], { encoding: 'utf8', timeout: 30_000 });
  if (check.stdout.trim() !== `tsshd ${VERSION}`) {
    throw new Error(`tssh: the single executable built from ${process.execPath} does not run (${(check.stderr || check.error?.message || 'no output').trim().split('\n')[0]})`);
  }
  return exe;
}

/** A cached executable is sent to servers: only one that nobody else could have written. */
function writableByUsAlone(path: string): boolean {
  const st = lstatSync(path);
  return st.isFile() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

function silenceConsole(): () => void {
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const none = (): void => undefined;
  console.log = none;
  console.warn = none;
  console.error = none;
  return () => Object.assign(console, saved);
}
