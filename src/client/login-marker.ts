/**
 * How tssh tells "the server ran our command line" from "the server ran
 * something else": the login's remote command first prints one marker line
 * on stdout, then starts tsshd. sshd's ForceCommand (internal-sftp too), an
 * authorized_keys `command=` and a certificate's force-command replace the
 * whole command line, so with one of them the marker never comes: the server
 * will not run tsshd for this login, and tssh carries on as plain ssh.
 *
 * The marker also splits the login's stdout: what ssh printed before it is
 * the client's own (LocalCommand's output) and is shown; what the remote
 * side printed between it and the bootstrap line (shell start-up noise) is not.
 */

/** The marker line: plain ASCII any login shell can echo (sh, bash, zsh, fish, csh). */
export const LOGIN_MARKER = 'tssh-login-ran';

/** The remote command line with the marker in front (`echo` is a builtin in every shell sshd may run). */
export function withLoginMarker(command: string): string {
  return `echo ${LOGIN_MARKER}; ${command}`;
}

/**
 * For a server that runs tsshd itself for an exec request (an SSH server
 * embedding tsshd): the command without the marker prefix, and whether it had
 * one (then print `LOGIN_MARKER` and a newline on stdout first).
 */
export function splitLoginMarker(command: string): { marked: boolean; command: string } {
  const m = new RegExp(`^\\s*echo ${LOGIN_MARKER}\\s*;\\s*`).exec(command);
  return m ? { marked: true, command: command.slice(m[0].length) } : { marked: false, command };
}

/** Where the complete marker line starts and ends (the index after its newline) in `stdout`, or null while it has not come. */
export function markerLine(stdout: string): { start: number; end: number } | null {
  let from = 0;
  for (;;) {
    const at = stdout.indexOf(LOGIN_MARKER, from);
    if (at < 0) return null;
    const lineStart = at === 0 || stdout[at - 1] === '\n';
    const after = at + LOGIN_MARKER.length;
    if (lineStart && stdout.startsWith('\n', after)) return { start: at, end: after + 1 };
    if (lineStart && stdout.startsWith('\r\n', after)) return { start: at, end: after + 2 };
    from = after;
  }
}

/** What came after the marker line (all of `stdout` when it never came). */
export function afterMarker(stdout: string): string {
  return stdout.slice(markerLine(stdout)?.end ?? 0);
}

/** A forced command ran instead of tsshd: the message is the one line to print before carrying on as plain ssh. */
export class ForcedCommandError extends Error {
  override name = 'ForcedCommandError';
}

/**
 * Whether the login's outcome shows that a forced command ran: ssh itself
 * succeeded in logging in (not 255, not killed) but the marker never came.
 */
export function forcedCommandRan(r: { stdout: string; code: number | null; signal: NodeJS.Signals | null }): boolean {
  return r.signal === null && r.code !== null && r.code !== 255 && markerLine(r.stdout) === null;
}

/** The one line tssh prints when it carries on as plain ssh. */
export function forcedCommandNotice(host: string): string {
  return `tssh: ${host} runs a forced command for this login (ForceCommand, authorized_keys command= or a certificate's force-command), not tsshd; continuing as plain ssh`;
}
