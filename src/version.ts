import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package version, read once at start-up from package.json. */
export const VERSION: string = (JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }).version;

/**
 * Wire protocol version carried in the bootstrap line; tssh and tsshd must agree.
 * 2: the KCP multiplexer's connection credit (WINDOW_UPDATE on stream 0, docs/MUX.md).
 */
export const PROTOCOL_VERSION = 2;

/** The package's root directory (dist/src/ and dist/bin/ are both two levels below it). */
export const PACKAGE_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));
