#!/usr/bin/env node
// Writes the man pages dist/man/tssh.1 and dist/man/tsshd.1 from the compiled
// src/cli/manual.js (the same tables as --help); package.json "man" installs them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { tsshManPage, tsshdManPage } = await import(join(root, 'dist/src/cli/manual.js'));
mkdirSync(join(root, 'dist/man'), { recursive: true });
writeFileSync(join(root, 'dist/man/tssh.1'), tsshManPage());
writeFileSync(join(root, 'dist/man/tsshd.1'), tsshdManPage());
