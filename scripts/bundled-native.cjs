'use strict';
// src/native-addons.ts for the self-contained tsshd (dist/sea/tsshd.cjs, see
// scripts/bundle.mjs). Native addons are not in the bundle; they come either
// as files in native/ beside it (the bundle run by the server's own Node) or
// as assets of a single executable, written once to a private cache
// directory and loaded from there (a .node file must be a file to be loaded).
const { createRequire, isBuiltin } = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const crypto = require('node:crypto');

// Builtins through a require that works in a single executable too.
const builtin = createRequire(process.execPath);
const sea = isBuiltin('node:sea') ? builtin('node:sea') : null;
const singleExecutable = sea !== null && sea.isSea();

/** Package names (as src/ asks for them) to the addon file in native/ or the asset name. */
function addonFile(id) {
  if (/^@lydell\/node-pty-[a-z0-9]+-[a-z0-9]+\/pty\.node$/.test(id)) return 'pty.node';
  if (/^@matrixai\/quic-[a-z0-9]+-[a-z0-9]+$/.test(id)) return id === `@matrixai/quic-${process.platform}-${process.arch}` ? 'quic.node' : null;
  if (id === 'unix_dgram.node') return 'unix_dgram.node';
  return null;
}

function notFound(id, why) {
  const err = new Error(`Cannot find module '${id}'${why ? ` (${why})` : ''}`);
  err.code = 'MODULE_NOT_FOUND';
  return err;
}

let assetDir = null;

// Ours and writable by us alone: a directory someone else could have made must not supply code.
function trusted(p) {
  try {
    const st = fs.lstatSync(p);
    return !st.isSymbolicLink() && st.uid === process.getuid() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

// The addons already written there are the ones in this executable, byte for byte, in a directory only we can write.
function reusable(dir, blobs) {
  if (!trusted(dir) || !trusted(path.join(dir, '.complete'))) return false;
  return blobs.every(({ name, data }) => {
    const file = path.join(dir, name);
    try {
      return trusted(file) && fs.readFileSync(file).equals(data);
    } catch {
      return false;
    }
  });
}

// The assets of this executable, written once per content to ~/.cache/tsshd/native-<hash> (0700).
function extractedAssetDir() {
  if (assetDir !== null) return assetDir;
  const list = JSON.parse(sea.getAsset('native.json', 'utf8'));
  const hash = crypto.createHash('sha256');
  const blobs = list.map((name) => {
    const data = Buffer.from(sea.getAsset(name));
    hash.update(name).update('\0').update(data);
    return { name, data };
  });
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = path.join(base, 'tsshd', `native-${hash.digest('hex').slice(0, 16)}`);
  if (reusable(dir, blobs)) return (assetDir = dir);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  // Written under a temporary name and renamed: two tsshd starting at once must not see half a file.
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  for (const { name, data } of blobs) fs.writeFileSync(path.join(tmp, name), data, { mode: 0o600 });
  fs.writeFileSync(path.join(tmp, '.complete'), '', { mode: 0o600 });
  try {
    fs.renameSync(tmp, dir);
    return (assetDir = dir);
  } catch {
    // Taken meanwhile by another tsshd (then the same bytes), or held by something we do not trust: use our own copy.
    if (reusable(dir, blobs)) {
      fs.rmSync(tmp, { recursive: true, force: true });
      return (assetDir = dir);
    }
    return (assetDir = tmp);
  }
}

function nativeDir() {
  if (singleExecutable) return extractedAssetDir();
  return path.join(path.dirname(fs.realpathSync(process.argv[1])), 'native');
}

const loaded = new Map();

function requireNative(id) {
  if (id === 'unix-dgram') return require('unix-dgram');
  const file = addonFile(id);
  if (file === null) throw notFound(id, 'not part of this tsshd');
  if (loaded.has(file)) return loaded.get(file);
  let full;
  try {
    full = path.join(nativeDir(), file);
  } catch (err) {
    throw notFound(id, err.message);
  }
  if (!fs.existsSync(full)) throw notFound(id, `this tsshd has no ${file} for ${process.platform}-${process.arch}`);
  const mod = { exports: {} };
  process.dlopen(mod, full);
  loaded.set(file, mod.exports);
  return mod.exports;
}

module.exports = { requireNative, singleExecutable };
