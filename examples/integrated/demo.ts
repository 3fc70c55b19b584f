/**
 * `npm start`: the integrated example (an ssh2 SSH server that is also
 * tsshd) on 127.0.0.1 with throwaway keys in a private temp dir, and
 * `tssh --udp` into it in this terminal: a real shell over UDP, no remote
 * host and no OpenSSH server needed (only the ssh client tssh logs in with).
 * When the shell ends, everything started here is stopped and the temp dir removed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { INTEGRATED_PROGRAM } from './integrated.js';
import { stopServerProcesses } from './processes.js';
import { service } from './service.js';
import { startSshServer, type SshServer } from './ssh-server.js';

const TSSH = fileURLToPath(new URL('../../../bin/tssh', import.meta.url));
const HOST = '127.0.0.1';

function banner(port: number): string {
  const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
  return [
    bold('tsshd demo: a real shell over UDP, with roaming, on this machine'),
    `  An SSH server built on ssh2 (examples/integrated) listens on ${HOST} port ${port} with throwaway keys.`,
    '  tssh logged in to it over TCP, started tsshd through it, and now talks to it over encrypted UDP (KCP).',
    `  At the start of a line type ${bold('~?')} for the connection's status, ${bold('~P')} to move to a new UDP path`,
    `  (a new local port, as when your laptop changes networks), ${bold('~.')} to disconnect. ${bold('exit')} ends the demo.`,
    '',
  ].join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'tsshd-demo-'));
let server: SshServer | undefined;
let status = 1;
try {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'tsshd-demo-host' });
  const userKey = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'tsshd-demo-user' });
  const identity = join(dir, 'id_ed25519');
  writeFileSync(identity, userKey.private, { mode: 0o600 });
  server = await startSshServer({ host: HOST, port: 0, hostKey: hostKey.private, authorizedKeys: userKey.public, handler: service, tsshdProgram: INTEGRATED_PROGRAM });
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[${HOST}]:${server.port} ${hostKey.public}\n`, { mode: 0o600 });
  // An empty config: the user's ~/.ssh/config must not change what the demo does.
  const config = join(dir, 'ssh_config');
  writeFileSync(config, '', { mode: 0o600 });
  process.stdout.write(banner(server.port));
  const tssh = spawn(
    process.execPath,
    [
      TSSH,
      '-F', config,
      '--udp',
      '-p', String(server.port),
      '-l', userInfo().username,
      '-i', identity,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR',
      HOST,
    ],
    { stdio: 'inherit' },
  );
  // The terminal belongs to tssh now: Ctrl-C goes to the remote shell, not to this process.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  const stop = (): void => void tssh.kill('SIGTERM');
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  status = await new Promise<number>((resolve) => {
    tssh.once('error', (err) => {
      process.stderr.write(`demo: cannot start tssh: ${err.message}\n`);
      resolve(255);
    });
    tssh.once('exit', (code, signal) => resolve(code ?? (signal ? 255 : 1)));
  });
  process.off('SIGINT', ignore);
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message.split('\n')[0]}\n`);
} finally {
  await server?.close();
  // tsshd ends by itself when its last session ends; whatever is left after a few seconds is stopped.
  const stopped = await stopServerProcesses(process.pid, 5000);
  if (stopped.length > 0) process.stderr.write(`demo: stopped ${stopped.length} leftover process(es)\n`);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
