/**
 * ProxyCommand for the UDP session's TCP mode (UdpProxyMode TCP): each
 * connection to tsshd is a fresh run of the command, with %h and %p standing
 * for the server and tsshd's TCP port, as ssh runs it for its own connection
 * (`/bin/sh -c "exec COMMAND"`; the command's stderr is ours). Datagrams
 * cannot follow a proxy command, so UDP mode does not use it.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/** Expand ssh's tokens in a ProxyCommand: %h host, %p port, %r remote user, %n host as given, %% a percent. */
export function expandProxyCommand(command: string, t: { host: string; port: number; user: string; original: string }): string {
  return command.replace(/%(.)/g, (whole, c: string) => {
    switch (c) {
      case 'h':
        return t.host;
      case 'p':
        return String(t.port);
      case 'r':
        return t.user;
      case 'n':
        return t.original;
      case '%':
        return '%';
      default:
        return whole;
    }
  });
}

/** Start the command and return its stdin and stdout as one stream; destroying it ends the command. */
export function proxyCommandStream(command: string): Duplex {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.on('error', (err) => stream.destroy(err));
  child.stdin.on('error', () => undefined);
  stream.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return stream;
}
