/**
 * One program, two servers: a TCP SSH server (ssh2) and tsshd, sharing one
 * Handler (service.ts). `tssh --udp -p PORT host` logs in over TCP, runs
 * `tsshd` through it (this program again, in tsshd mode) and continues over
 * UDP; plain `ssh -p PORT host` gets the same shell over TCP. No OpenSSH
 * server is needed.
 *
 *   node dist/examples/integrated/integrated.js serve --host-key FILE --authorized-keys FILE [--listen 127.0.0.1:2222]
 *   node dist/examples/integrated/integrated.js tsshd [tsshd flags]     (started by the server itself)
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runMain } from 'tsshd';
import { service } from './service.js';

/** This program, for the server to start again in tsshd mode. */
export const INTEGRATED_PROGRAM = fileURLToPath(import.meta.url);

const USAGE = 'usage: integrated.js serve --host-key FILE --authorized-keys FILE [--listen HOST:PORT] | integrated.js tsshd [flags]\n';

async function serve(args: string[]): Promise<number> {
  const options = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i]!, args[i + 1]];
    if (!['--host-key', '--authorized-keys', '--listen'].includes(flag) || value === undefined) {
      process.stderr.write(`integrated: bad argument ${JSON.stringify(flag)}\n${USAGE}`);
      return 2;
    }
    options.set(flag, value);
  }
  const hostKey = options.get('--host-key');
  const authorized = options.get('--authorized-keys');
  if (hostKey === undefined || authorized === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  const listen = /^(.+):(\d+)$/.exec(options.get('--listen') ?? '127.0.0.1:2222');
  if (!listen) {
    process.stderr.write('integrated: --listen takes HOST:PORT, e.g. 127.0.0.1:2222\n');
    return 2;
  }
  // Loaded here: tsshd mode never needs ssh2.
  const { startSshServer } = await import('./ssh-server.js');
  let server;
  try {
    server = await startSshServer({
      host: listen[1]!,
      port: Number(listen[2]),
      hostKey: readFileSync(hostKey),
      authorizedKeys: readFileSync(authorized, 'utf8'),
      handler: service,
      tsshdProgram: INTEGRATED_PROGRAM,
    });
  } catch (err) {
    process.stderr.write(`integrated: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
  process.stdout.write(`integrated: SSH on ${listen[1]} port ${server.port}; connect with tssh --udp -p ${server.port} ${listen[1]}\n`);
  const signal = await new Promise<string>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
  });
  process.stdout.write(`integrated: ${signal}, stopping\n`);
  await server.close();
  return 0;
}

// Only when run as a program (the demo imports INTEGRATED_PROGRAM from here).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === INTEGRATED_PROGRAM) {
  const [mode, ...rest] = process.argv.slice(2);
  let code: number;
  if (mode === 'tsshd') code = await runMain({ argv: rest, daemonArgs: ['tsshd'], handler: service });
  else if (mode === 'serve') code = await serve(rest);
  else {
    process.stderr.write(USAGE);
    code = 2;
  }
  process.exit(code);
}
