/**
 * tssh from argv to exit status: parse the command line as ssh does, resolve
 * tssh's options (config, `#!!` lines, -o, flags), then either run the
 * system `ssh` unchanged (UdpMode no) or log in with it, start tsshd and
 * continue over UDP. Every failure is one line on stderr and status 255.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { matchPattern } from '../protocol/config-syntax.js';
import type { BootstrapMode } from '../protocol/bootstrap.js';
import { chooseProtocol, parseBootstrapReply, type BootstrapReply } from '../protocol/bootstrap-reply.js';
import { MAX_TERM_LENGTH, type PtyRequest } from '../protocol/messages.js';
import { VERSION } from '../version.js';
import { chooseAgentX11 } from './agent-x11-options.js';
import { olderServerNote } from './install-plan.js';
import { AGENT_X11_LETTERS, BootstrapError, bootstrapOverSsh, loginSshArgs, tsshdCommandLine } from './bootstrap-over-ssh.js';
import { readConfigFileArg } from './config-file-arg.js';
import { ForcedCommandError, withLoginMarker } from './login-marker.js';
import { chooseAttachTarget, type AttachTarget } from './attach-picker.js';
import { BACKGROUND_MARKER_ENV, runAsBackground, runInBackground, takeBackgroundRole } from './background.js';
import { EXIT_FAILURE } from './exit-codes.js';
import { forwardCount, forwardPlan, isUdpForwardSpec, udpForwardsWithoutUdpMode } from './forward-plan.js';
import { parseForwardSpec } from './forward-spec.js';
import { runPlainSsh, sshProgram } from './plain-ssh.js';
import type { SessionOptions } from './session-client.js';
import type { SessionWork, UdpSessionOptions } from './udp-session.js';
import type { ControlMasterChoice } from './session-control.js';
import { decidePty, parseSshArgs, PROTOCOL_1_REFUSAL, type SshArgs } from './ssh-args.js';
import { loadSshConfigFiles } from './ssh-config.js';
import { sshEffectiveConfig, type SshEffectiveConfig } from './ssh-effective-config.js';
import type { PredictMode } from './predict/mode.js';
import { Terminal } from './terminal.js';
import { tsshUsage } from './tssh-usage.js';
import { chooseClientTransport } from './transport-choice.js';
import { resolveUdpOptions, sshArgsWithoutTsshOptions, type UdpOptions } from './udp-options.js';
import { prepareJump } from './jump-relay.js';

/**
 * Test seam: `TSSH_TEST_UDP_TARGET=host:port` sends the UDP path there instead
 * of to the address ssh reached and the port tsshd printed (tests put an
 * impairment proxy in between). It carries no secret and only moves where the
 * sealed datagrams go. The proxy stands for a network, so under the seam an
 * unset UdpMTU means 1400 on every path, as on a real network (no loopback size).
 */
export const TEST_UDP_TARGET_ENV = 'TSSH_TEST_UDP_TARGET';

/** Variables sent with every session, as Debian's /etc/ssh/ssh_config does (`SendEnv LANG LC_*`); the server keeps what AcceptEnv allows. */
const DEFAULT_SEND_ENV = ['LANG', 'LC_*'];

/** How long to wait for tsshd's first reply when ConnectTimeout is not set (tsshd itself waits 10 s for us). */
const DEFAULT_CONNECT_TIMEOUT_SEC = 10;

/** Run tssh with `argv` (without node and script); resolves with the exit status. */
export async function tsshMain(givenArgv: readonly string[]): Promise<number> {
  let argv = givenArgv;
  // The background half of -f: everything arrives over IPC.
  if (process.env[BACKGROUND_MARKER_ENV] === '1' && takeBackgroundRole()) return runAsBackground();
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`tssh ${VERSION}\n`);
    return 0;
  }
  let parsed: SshArgs;
  try {
    parsed = parseSshArgs(argv);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (parsed.ourOptions.help) {
    process.stdout.write(tsshUsage());
    return 0;
  }
  if (parsed.ourOptions.version === true && !parsed.passThrough) {
    process.stdout.write(`tssh ${VERSION}\n`);
    return 0;
  }
  const program = sshProgram();
  const install = installRequest(argv, parsed, program);
  if (install !== null) return install;
  const sshArgs = sshArgsWithoutTsshOptions(argv, parsed);
  // -V, -Q, -G, -O: ssh does something other than log in.
  if (parsed.passThrough) {
    if (parsed.letters.some((l) => l.letter === 'V')) process.stderr.write(`tssh ${VERSION}\n`);
    return runPlainSsh(sshArgs, program);
  }
  let udp: UdpOptions;
  try {
    // -F is read once: a pipe cannot be read again by ssh -G and the login.
    const configFile = readConfigFileArg(argv, parsed, homedir());
    if (configFile !== undefined && configFile.argv.some((word, i) => word !== argv[i])) {
      argv = configFile.argv;
      parsed = parseSshArgs(argv);
    }
    udp = resolveOptions(parsed, configFile?.text);
  } catch (err) {
    return fail(oneMessage(err));
  }
  if (udp.udpMode === 'no') {
    const refusal = udpForwardsWithoutUdpMode(parsed, udp);
    if (refusal !== undefined) return fail(refusal);
    return runPlainSsh(sshArgsWithoutTsshOptions(argv, parsed), program);
  }
  try {
    return await runUdp(argv, parsed, udp, program);
  } catch (err) {
    return fail(oneMessage(err));
  }
}

/** --install-tsshd (install-tsshd.ts) as a promise of the exit status; null when not asked for. */
function installRequest(argv: readonly string[], parsed: SshArgs, program: string): Promise<number> | null {
  const own = parsed.ourOptions;
  if (own.installTsshd !== true) {
    const given = { '--install-path': own.installPath, '--tsshd-bin-path': own.tsshdBinPath, '--tsshd-version': own.tsshdVersion };
    const stray = Object.entries(given).find(([, value]) => value !== undefined)?.[0];
    return stray === undefined ? null : Promise.resolve(fail(`tssh: ${stray} goes with --install-tsshd (tssh --install-tsshd ${stray} ... host)`));
  }
  if (parsed.command.length > 0) return Promise.resolve(fail('tssh: --install-tsshd takes no remote command'));
  if (own.tsshdVersion !== undefined && own.tsshdVersion.replace(/^v/, '') !== VERSION) {
    return Promise.resolve(fail(`tssh: this tssh installs tsshd ${VERSION}, the one it carries (not ${own.tsshdVersion}); for another version use that version's tssh, or --tsshd-bin-path`));
  }
  return import('./install-tsshd.js')
    .then(({ installTsshd }) =>
      installTsshd({
        program,
        loginArgs: loginSshArgs(argv, parsed, AGENT_X11_LETTERS),
        host: parsed.host,
        quiet: parsed.quiet,
        ...(own.installPath !== undefined ? { installPath: own.installPath } : {}),
        ...(own.tsshdBinPath !== undefined ? { binPath: own.tsshdBinPath } : {}),
      }),
    )
    .catch((err: unknown) => fail(oneMessage(err)));
}

/** A jump host's own TsshdPath, from its Host block (command-line options belong to the destination, as for ssh -J). */
function hopTsshdPath(parsed: SshArgs): (host: string) => string {
  const home = homedir();
  const configs = loadSshConfigFiles({ home, ...(parsed.configFile !== undefined ? { configFile: parsed.configFile } : {}) });
  return (host) => resolveUdpOptions({ configs, destinationHost: host, localUser: userInfo().username, home }).tsshdPath;
}

function resolveOptions(parsed: SshArgs, configFileText: string | undefined): UdpOptions {
  const home = homedir();
  const configs = loadSshConfigFiles({
    home,
    ...(parsed.configFile !== undefined ? { configFile: parsed.configFile } : {}),
    ...(configFileText !== undefined ? { configFileText } : {}),
  });
  const cli: NonNullable<Parameters<typeof resolveUdpOptions>[0]['cliOptions']> = { options: parsed.options };
  if (parsed.ourOptions.udpMode !== undefined) cli.udpMode = parsed.ourOptions.udpMode;
  if (parsed.ourOptions.tsshdPath !== undefined) cli.tsshdPath = parsed.ourOptions.tsshdPath;
  if (parsed.ourOptions.tsshdPort !== undefined) cli.tsshdPort = parsed.ourOptions.tsshdPort;
  if (parsed.ourOptions.predict !== undefined) cli.predict = parsed.ourOptions.predict.toLowerCase() as PredictMode;
  if (parsed.escapeChar !== undefined) cli.escapeChar = parsed.escapeChar;
  if (parsed.ourOptions.attach === true) cli.attach = true;
  return resolveUdpOptions({
    configs,
    destinationHost: parsed.host,
    localUser: userInfo().username,
    home,
    ...(parsed.user !== undefined ? { user: parsed.user } : {}),
    ...(parsed.port !== undefined ? { port: parsed.port } : {}),
    cliOptions: cli,
  });
}

async function runUdp(argv: readonly string[], parsed: SshArgs, udp: UdpOptions, program: string): Promise<number> {
  const stdio = parsed.stdioForward === undefined ? undefined : parseStdioTarget(parsed.stdioForward);
  // UDP forward specifications are checked before the login (ssh checks its own).
  for (const value of parsed.localForwards.filter(isUdpForwardSpec)) parseForwardSpec(value, { kind: 'L' });
  for (const value of parsed.remoteForwards.filter(isUdpForwardSpec)) parseForwardSpec(value, { kind: 'R' });
  const transport = chooseClientTransport(udp.udpMode === 'quic' && udp.tsshdProtocol !== 'reference' ? 'quic' : 'kcp');
  if (transport.notice !== undefined) process.stderr.write(`${transport.notice}\n`);
  if (!parsed.quiet) for (const warning of udp.warnings) process.stderr.write(`tssh: ${warning}\n`);

  // UdpMTU as set, or (under the test seam, which stands for a network) as on a real network.
  const fixedMtu = udp.udpMtuSet || (process.env[TEST_UDP_TARGET_ENV] ?? '') !== '';
  const login = loginSshArgs(argv, parsed);
  // `ssh -G` runs beside the login: only the UDP target and the session need its answer.
  const effectiveConfig = sshEffectiveConfig(program, login);
  effectiveConfig.catch(() => undefined);
  // --attach: a first login lists the sessions; the bootstrap login then attaches one or starts an attachable one.
  const attachTarget = udp.udpSessionAttach ? await chooseTarget(program, loginSshArgs(argv, parsed, AGENT_X11_LETTERS), parsed, udp) : null;
  if (attachTarget !== null && parsed.commandLine !== '') return fail('tssh: --attach attaches a terminal session and takes no command; drop the command or UdpSessionAttach');
  const startTsshd = (mode: BootstrapMode): Promise<BootstrapReply> =>
    bootstrapOverSsh({
      program,
      // The login is never a control master: its socket would go with it (tssh serves the ControlPath itself).
      args: ['-o', 'ControlMaster=no', ...loginSshArgs(argv, parsed, `${AGENT_X11_LETTERS}M`)],
      remoteCommand: withLoginMarker(
        attachCommandLine(
          tsshdCommandLine({
            tsshdPath: udp.tsshdPath,
            ...(udp.tsshdPort !== undefined ? { tsshdPort: udp.tsshdPort } : {}),
            ...(fixedMtu ? { mtu: udp.udpMtu } : {}),
            tcp: udp.udpProxyMode === 'tcp',
            transport: mode,
          }),
          udp.udpSessionAttach,
          attachTarget,
        ),
      ),
      host: parsed.host,
      tsshdPath: udp.tsshdPath,
    }, parseBootstrapReply);
  // The session's modules load while ssh logs in.
  const sessionModule = import('./udp-session.js');
  sessionModule.catch(() => undefined);
  // ProxyJump: a relay on every hop (jump-relay.ts), logged in beside the target; the test seam goes direct.
  const seam = (process.env[TEST_UDP_TARGET_ENV] ?? '') !== '';
  const jumpSetup = seam ? Promise.resolve(undefined) : effectiveConfig.then((e) => prepareJump({ program, parsed, udp, tsshdPathFor: hopTsshdPath(parsed), effective: e, connectTimeoutSec: e.connectTimeoutSec ?? DEFAULT_CONNECT_TIMEOUT_SEC }));
  jumpSetup.catch(() => undefined);
  let reply;
  try {
    reply = await startTsshd(transport.mode);
  } catch (err) {
    // The server runs something else for this login: be ssh.
    if (err instanceof ForcedCommandError) {
      void jumpSetup.then((j) => j?.cancel(), () => undefined);
      if (!parsed.quiet) process.stderr.write(`${err.message}\n`);
      return runPlainSsh(sshArgsWithoutTsshOptions(argv, parsed), program);
    }
    // tsshd cannot run QUIC there (no engine for that machine, or a tsshd without QUIC): log in again for KCP.
    if (transport.mode !== 'quic' || !(err instanceof BootstrapError) || !/quic/i.test(err.tsshdSaid ?? '')) {
      void jumpSetup.then((j) => j?.cancel(), () => undefined);
      throw err;
    }
    process.stderr.write(`tssh: tsshd on ${parsed.host} cannot use QUIC; using KCP\n`);
    reply = await startTsshd('kcp').catch((e: unknown) => {
      void jumpSetup.then((j) => j?.cancel(), () => undefined);
      throw e;
    });
  }
  let chosen;
  try {
    chosen = chooseProtocol(reply, udp.tsshdProtocol, parsed.host);
    if (chosen.kind === 'reference' && chosen.info.mode === 'QUIC') {
      // The Go tsshd answers QUIC with quic-go, which our QUIC engine cannot meet (docs/INTEROP.md): log in again for KCP.
      process.stderr.write(`tssh: the Go tsshd on ${parsed.host} speaks QUIC only with quic-go's clients; using KCP\n`);
      chosen = chooseProtocol(await startTsshd('kcp'), udp.tsshdProtocol, parsed.host);
    }
  } catch (err) {
    void jumpSetup.then((j) => j?.cancel(), () => undefined);
    if (err instanceof BootstrapError) throw err;
    return fail(`tssh: ${(err as Error).message}`);
  }
  const bootstrap = chosen.info;
  const older = olderServerNote(bootstrap.serverVersion, VERSION, parsed.host, udp.tsshdPath);
  if (older !== null && !parsed.quiet) process.stderr.write(`${older}\n`);
  const effective = await effectiveConfig;
  const jump = await (await jumpSetup)?.complete(bootstrap.port);
  const target = jump?.target ?? (await udpTarget(effective, bootstrap.port));
  const agentX11 = await chooseAgentX11(effective, process.env, homedir());
  if (!parsed.quiet) for (const warning of agentX11.warnings) process.stderr.write(`${warning}\n`);
  const forwards = forwardPlan(effective, parsed, udp);
  const noSession = parsed.noCommand || effective.sessionType === 'none';
  const work: SessionWork = stdio !== undefined ? { kind: 'stdio', ...stdio } : noSession ? { kind: 'none' } : { kind: 'session' };
  const background = parsed.letters.some((l) => l.letter === 'f') || effective.forkAfterAuthentication;
  if (background && work.kind === 'session' && parsed.commandLine === '' && !parsed.subsystem) {
    return fail('Cannot fork into background without a command to execute.');
  }
  if (work.kind === 'none' && forwardCount(forwards) === 0 && !parsed.quiet && process.stderr.isTTY) {
    process.stderr.write('tssh: -N without forwards: nothing to do until the connection ends (Ctrl+C to quit)\n');
  }

  const stdinIsTty = process.stdin.isTTY === true;
  const wantPty = decidePty({
    tCount: parsed.tCount,
    forceNoTty: parsed.forceNoTty,
    command: parsed.command,
    stdinIsTty,
    noCommand: work.kind !== 'session',
    requestTty: effective.requestTty,
    quiet: parsed.quiet,
    warn: (message) => process.stderr.write(`${message}\n`),
  });
  const session: SessionOptions = { env: sessionEnv(effective) };
  // The background half of -f has no terminal.
  if (wantPty && !background) {
    session.pty = ptyRequest();
    // Asked for explicitly: the session is refused rather than run without one, as ssh gives up then.
    if (parsed.tCount > 0 || effective.requestTty === 'yes' || effective.requestTty === 'force') session.pty.required = true;
  }
  if (parsed.subsystem) session.subsystem = parsed.commandLine;
  else if (parsed.commandLine !== '') session.command = parsed.commandLine;
  if (agentX11.agentSocket !== undefined) session.agent = true;
  if (agentX11.x11 !== undefined) session.x11 = agentX11.x11.request;
  if (attachTarget !== null) {
    if (session.pty === undefined) {
      await jump?.end();
      return fail('tssh: attaching a session needs a terminal; run tssh --attach from one (or force one with -t)');
    }
    session.attach = attachTarget.session;
  }

  const common = {
    work,
    forwards,
    address: target.address,
    port: target.port,
    host: effective.hostname,
    session,
    escapeChar: udp.escapeChar,
    stdinNull: background || parsed.letters.some((l) => l.letter === 'n'),
    quiet: parsed.quiet,
    heartbeatTimeoutSec: udp.udpHeartbeatTimeout,
    reconnectTimeoutSec: udp.udpReconnectTimeout,
    aliveTimeoutSec: udp.udpAliveTimeout,
    connectTimeoutSec: effective.connectTimeoutSec ?? DEFAULT_CONNECT_TIMEOUT_SEC,
    mtu: udp.udpMtu,
    largeOnLoopback: !fixedMtu,
    showNotificationOnTop: udp.showNotificationOnTop,
    showFullNotifications: udp.showFullNotifications,
    predict: udp.predictiveEcho,
    agentX11,
    exitKey: udp.udpReconnectExitKey,
    ...(udp.udpSessionAttach
      ? { attachMode: { name: attachTarget?.name || udp.udpSessionName || '', hostArg: parsed.destination } }
      : {}),
    ...(udp.udpSessionName !== undefined ? { sessionName: udp.udpSessionName } : {}),
    ...(jump?.tcpProxyCommand !== undefined ? { tcpProxyCommand: jump.tcpProxyCommand } : {}),
  };
  if (chosen.kind === 'reference') {
    if (background) return fail('tssh: -f (ForkAfterAuthentication) is not supported with the Go tsshd yet; use tssh\'s own tsshd or run tssh in the background yourself');
    const { runReferenceSession } = await import('./reference-session.js');
    const status = await runReferenceSession({ ...common, serverInfo: chosen.info });
    await jump?.end();
    return status;
  }
  const options: UdpSessionOptions = { ...common, bootstrap: chosen.info };
  const control = controlMasterChoice(effective, background);
  if (control !== undefined) options.controlMaster = control;

  if (background) return runInBackground(options);
  const { runUdpSession } = await sessionModule;
  const status = await runUdpSession(options);
  await jump?.end();
  return status;
}

/**
 * Whether this tssh serves ssh's control protocol at ControlPath: a -f tssh
 * whenever ControlMaster is on (yes, ask, auto, autoask), a foreground one
 * only for yes/ask (-M): with `auto` in a Host * block every interactive
 * tssh would otherwise take the path that plain ssh then finds refusing sessions.
 */
function controlMasterChoice(effective: SshEffectiveConfig, background: boolean): ControlMasterChoice | undefined {
  const mode = effective.controlMaster;
  if (effective.controlPath === undefined || mode === 'no') return undefined;
  const auto = mode === 'auto' || mode === 'autoask';
  if (!background && auto) return undefined;
  return { path: effective.controlPath, auto };
}

/** Which session to attach (null: start a new attachable one); see attach-picker.ts. */
async function chooseTarget(program: string, args: string[], parsed: SshArgs, udp: UdpOptions): Promise<AttachTarget | null> {
  // tsshdCommandLine quotes TsshdPath for the remote shell; only the path is wanted here.
  const tsshdCommand = tsshdCommandLine({ tsshdPath: udp.tsshdPath, tcp: false, transport: 'kcp' }).replace(/ --kcp$/, '');
  return chooseAttachTarget({ program, args, tsshdCommand, host: parsed.host, ...(udp.udpSessionName !== undefined ? { sessionName: udp.udpSessionName } : {}) });
}

/** The bootstrap's remote command in attach mode: attach the target, or start an attachable tsshd. */
function attachCommandLine(base: string, attachMode: boolean, target: AttachTarget | null): string {
  if (target !== null) return `${base} --attach ${target.pid}`;
  return attachMode ? `${base} --attachable --socket` : base;
}

/** -W host:port (or [v6]:port), as ssh reads it. */
function parseStdioTarget(value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(value) ?? /^([^:[\]]+):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`tssh: bad stdio forwarding specification ${JSON.stringify(value)}; expected -W host:port`);
  return { host: m[1]!, port };
}

/** The address ssh reached (resolved here, as ssh resolved it) with tsshd's port, or the test seam's target. */
async function udpTarget(effective: SshEffectiveConfig, port: number): Promise<{ address: string; port: number }> {
  const override = process.env[TEST_UDP_TARGET_ENV];
  if (override !== undefined && override !== '') {
    const m = /^\[?([^\]]+?)\]?:([0-9]{1,5})$/.exec(override);
    const p = m ? Number(m[2]) : NaN;
    if (!m || !(p >= 1 && p <= 65535)) throw new Error(`tssh: ${TEST_UDP_TARGET_ENV} must be host:port (got ${JSON.stringify(override)})`);
    return { address: m[1]!, port: p };
  }
  if (isIP(effective.hostname)) return { address: effective.hostname, port };
  try {
    const { address } = await lookup(effective.hostname);
    return { address, port };
  } catch (err) {
    throw new Error(`tssh: cannot resolve ${effective.hostname} for UDP (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the host name`);
  }
}

/** LANG, LC_* and SendEnv's variables from our environment, then SetEnv's values, as ssh sends them. */
function sessionEnv(effective: SshEffectiveConfig): Record<string, string> {
  const patterns = [...DEFAULT_SEND_ENV, ...effective.sendEnv];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.includes('=')) continue;
    if (patterns.some((p) => matchPattern(name, p))) env[name] = value;
  }
  Object.assign(env, effective.setEnv);
  return env;
}

/** TERM and the window size, as ssh sends them in its pty request. */
function ptyRequest(): PtyRequest {
  const term = process.env.TERM;
  const valid = term !== undefined && term.length <= MAX_TERM_LENGTH && /^[\x21-\x7e]+$/.test(term);
  const { cols, rows } = new Terminal().size();
  return { term: valid ? term : 'dumb', cols, rows };
}

function oneMessage(err: unknown): string {
  if (err instanceof BootstrapError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  // ssh's own words (-1) and ssh's messages followed by ours stay as they are.
  return message.startsWith('tssh') || message === PROTOCOL_1_REFUSAL || message.includes('\ntssh: ') ? message : `tssh: ${message}`;
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return EXIT_FAILURE;
}
