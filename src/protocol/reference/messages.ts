/**
 * The reference family's JSON messages (docs/INTEROP.md "Bus" and "Streams"),
 * with the Go tsshd's field names. Go's encoding rules apply: empty fields
 * are omitted, []byte is standard base64, time.Duration is an integer count
 * of nanoseconds, IDs are unsigned integers (ours stay below 2^53).
 *
 * parse* functions take a decoded JSON object and return the typed message,
 * or throw ReferenceWireError with one line naming the bad field. Unknown
 * fields are ignored, as Go does.
 */
import { ReferenceWireError } from './errors.js';
import { NO_ERROR_MSG } from './stream-codec.js';

type Json = Record<string, unknown>;

/** Stream kinds: the command that opens a stream. */
export const StreamCommand = {
  Bus: 'bus',
  Session: 'session',
  Stderr: 'stderr',
  Dial: 'dial',
  Listen: 'listen',
  Accept: 'accept',
  DialUdp: 'dial-udp',
  ListenUdp: 'listen-udp',
  AcceptUdp: 'accept-udp',
} as const;

/** Bus events (each a command followed by its message). */
export const BusCommand = {
  Alive: 'alive',
  Resize: 'resize',
  Exit: 'exit',
  Close: 'close',
  Setting: 'setting',
  Rekey: 'rekey',
  Quit: 'quit',
  Error: 'error',
  Debug: 'debug',
  Discard: 'discard',
  Channel: 'channel',
} as const;

/** Channel types the server announces on the bus for X11 and agent connections. */
export const X11_CHANNEL_TYPE = 'x11';
export const AGENT_CHANNEL_TYPE = 'auth-agent@openssh.com';

/** errorMessage: the server's answer to a stream's command or request. */
export interface ErrorReply {
  code: number;
  msg: string;
}
/** True if the reply says "no error". */
export function isNoError(r: ErrorReply): boolean {
  return r.msg === NO_ERROR_MSG;
}
export function errorReply(msg: string, code = 0): Json {
  return code ? { Code: code, Msg: msg } : { Msg: msg };
}
export const NO_ERROR: Json = { Msg: NO_ERROR_MSG };
export function parseErrorReply(m: Json): ErrorReply {
  return { code: optInt(m, 'Code'), msg: optStr(m, 'Msg') };
}

/** busMessage: the client's first message on the bus stream. Durations in ms here, ns on the wire. */
export interface BusInit {
  clientVersion: string;
  protoVersion: number;
  aliveTimeoutMs: number;
  intervalMs: number;
  heartbeatTimeoutMs: number;
  sessionName?: string;
}
export function encodeBusInit(b: BusInit): Json {
  const m: Json = { ClientVer: b.clientVersion, ProtoVer: b.protoVersion };
  if (b.aliveTimeoutMs) m.AliveTimeout = msToNs(b.aliveTimeoutMs);
  if (b.intervalMs) m.IntervalTime = msToNs(b.intervalMs);
  if (b.heartbeatTimeoutMs) m.HeartbeatTimeout = msToNs(b.heartbeatTimeoutMs);
  if (b.sessionName) m.SessionName = b.sessionName;
  return m;
}
export function parseBusInit(m: Json): BusInit {
  const out: BusInit = {
    clientVersion: optStr(m, 'ClientVer'),
    protoVersion: optInt(m, 'ProtoVer'),
    aliveTimeoutMs: nsToMs(m, 'AliveTimeout'),
    intervalMs: nsToMs(m, 'IntervalTime'),
    heartbeatTimeoutMs: nsToMs(m, 'HeartbeatTimeout'),
  };
  const name = optStr(m, 'SessionName');
  if (name) out.sessionName = name;
  return out;
}
/** busResponse: errorMessage plus the next session id. */
export function parseBusResponse(m: Json): ErrorReply & { nextSessionId: number } {
  return { ...parseErrorReply(m), nextSessionId: optInt(m, 'NextSessionID') };
}

/** startMessage: what a session stream runs. */
export interface StartRequest {
  id: number;
  pty: boolean;
  shell: boolean;
  name?: string;
  args?: string[];
  cols?: number;
  rows?: number;
  envs?: Record<string, string>;
  x11?: { channelType: string; singleConnection: boolean; authProtocol: string; authCookie: string; screenNumber: number };
  agent?: { channelType: string };
  subsystem?: string;
}
export function encodeStart(s: StartRequest): Json {
  const m: Json = { ID: s.id };
  if (s.pty) m.Pty = true;
  if (s.shell) m.Shell = true;
  if (s.name) m.Name = s.name;
  if (s.args && s.args.length > 0) m.Args = s.args;
  if (s.cols) m.Cols = s.cols;
  if (s.rows) m.Rows = s.rows;
  if (s.envs && Object.keys(s.envs).length > 0) m.Envs = s.envs;
  if (s.x11) {
    m.X11 = {
      ChannelType: s.x11.channelType,
      SingleConnection: s.x11.singleConnection || undefined,
      AuthProtocol: s.x11.authProtocol,
      AuthCookie: s.x11.authCookie,
      ScreenNumber: s.x11.screenNumber || undefined,
    };
  }
  if (s.agent) m.Agent = { ChannelType: s.agent.channelType };
  if (s.subsystem) m.Subs = s.subsystem;
  return m;
}
export function parseStart(m: Json): StartRequest {
  const out: StartRequest = { id: optInt(m, 'ID'), pty: optBool(m, 'Pty'), shell: optBool(m, 'Shell') };
  const name = optStr(m, 'Name');
  if (name) out.name = name;
  if (m.Args !== undefined) {
    if (!Array.isArray(m.Args) || !m.Args.every((a) => typeof a === 'string')) throw invalid('Args', 'a list of strings');
    out.args = m.Args as string[];
  }
  if (m.Cols !== undefined) out.cols = optInt(m, 'Cols');
  if (m.Rows !== undefined) out.rows = optInt(m, 'Rows');
  if (m.Envs !== undefined) {
    if (typeof m.Envs !== 'object' || m.Envs === null || Array.isArray(m.Envs) || !Object.values(m.Envs).every((v) => typeof v === 'string')) {
      throw invalid('Envs', 'an object of strings');
    }
    out.envs = { ...(m.Envs as Record<string, string>) };
  }
  if (m.X11 !== undefined && m.X11 !== null) {
    const x = obj(m, 'X11');
    out.x11 = {
      channelType: optStr(x, 'ChannelType'),
      singleConnection: optBool(x, 'SingleConnection'),
      authProtocol: optStr(x, 'AuthProtocol'),
      authCookie: optStr(x, 'AuthCookie'),
      screenNumber: optInt(x, 'ScreenNumber'),
    };
  }
  if (m.Agent !== undefined && m.Agent !== null) out.agent = { channelType: optStr(obj(m, 'Agent'), 'ChannelType') };
  const subs = optStr(m, 'Subs');
  if (subs) out.subsystem = subs;
  return out;
}

/** exitMessage: client → server "close session ID"; server → client "session ID exited with ExitCode". */
export interface ExitNote {
  id: number;
  exitCode: number;
}
export function encodeExit(e: ExitNote): Json {
  return e.exitCode ? { ID: e.id, ExitCode: e.exitCode } : { ID: e.id };
}
export function parseExit(m: Json): ExitNote {
  return { id: optInt(m, 'ID'), exitCode: optSignedInt(m, 'ExitCode') };
}

/** resizeMessage. Marker (base64 on the wire) asks the server to drop output before the redraw. */
export interface Resize {
  id: number;
  cols: number;
  rows: number;
  redraw?: boolean;
  marker?: Buffer;
}
export function encodeResize(r: Resize): Json {
  const m: Json = { ID: r.id, Cols: r.cols, Rows: r.rows };
  if (r.redraw) m.Redraw = true;
  if (r.marker && r.marker.length > 0) m.Marker = r.marker.toString('base64');
  return m;
}
export function parseResize(m: Json): Resize {
  const out: Resize = { id: optInt(m, 'ID'), cols: optInt(m, 'Cols'), rows: optInt(m, 'Rows') };
  if (optBool(m, 'Redraw')) out.redraw = true;
  const marker = optBytes(m, 'Marker');
  if (marker.length > 0) out.marker = marker;
  return out;
}

/** aliveMessage: the heartbeat, echoed by the server. Time in ms since the epoch. */
export function encodeAlive(timeMs: number): Json {
  return { Time: timeMs };
}
export function parseAlive(m: Json): number {
  return optSignedInt(m, 'Time');
}

/** quitMessage / debugMessage / error event texts. */
export function parseQuit(m: Json): string {
  return optStr(m, 'Msg');
}
export function parseDebug(m: Json): { msg: string; timeMs: number } {
  return { msg: optStr(m, 'Msg'), timeMs: optSignedInt(m, 'Time') };
}

/** stderrMessage: opens the stderr stream of session ID. */
export function encodeStderr(id: number): Json {
  return { ID: id };
}
export function parseStderr(m: Json): number {
  return optInt(m, 'ID');
}

/** channelMessage: the server has an X11 or agent connection for the client to accept (stream "accept" with ID). */
export function encodeChannel(channelType: string, id: number): Json {
  return { ChannelType: channelType, ID: id };
}
export function parseChannel(m: Json): { channelType: string; id: number } {
  return { channelType: optStr(m, 'ChannelType'), id: optInt(m, 'ID') };
}

/** dialMessage / dial-udp: Net ("tcp", "unix", "udp"), Addr, Timeout. */
export interface DialRequest {
  net: string;
  addr: string;
  timeoutMs: number;
}
export function encodeDial(d: DialRequest): Json {
  const m: Json = { Net: d.net, Addr: d.addr };
  if (d.timeoutMs) m.Timeout = msToNs(d.timeoutMs);
  return m;
}
export function parseDial(m: Json): DialRequest {
  return { net: optStr(m, 'Net'), addr: optStr(m, 'Addr'), timeoutMs: nsToMs(m, 'Timeout') };
}
/** dialUdpResponse: errorMessage plus the datagram channel ID. */
export function parseIdReply(m: Json): ErrorReply & { id: number } {
  return { ...parseErrorReply(m), id: optInt(m, 'ID') };
}

/** listenMessage / listen-udp. */
export function encodeListen(net: string, addr: string): Json {
  return { Net: net, Addr: addr };
}
export function parseListen(m: Json): { net: string; addr: string } {
  return { net: optStr(m, 'Net'), addr: optStr(m, 'Addr') };
}

/** acceptMessage / acceptUdpMessage: the ID of a connection the server holds. */
export function encodeAccept(id: number): Json {
  return { ID: id };
}
export function parseAccept(m: Json): number {
  return optInt(m, 'ID');
}

/** discardMessage: after a reconnect, the marker to send before new input, and what was thrown away. */
export interface DiscardNote {
  marker: Buffer;
  discardedInput: Buffer;
  discardedOutputLines: number;
  discardedOutputBytes: number;
}
export function encodeDiscard(d: DiscardNote): Json {
  const m: Json = {};
  if (d.marker.length > 0) m.DiscardMarker = d.marker.toString('base64');
  if (d.discardedInput.length > 0) m.DiscardedInput = d.discardedInput.toString('base64');
  if (d.discardedOutputLines) m.DiscardedOutputLines = d.discardedOutputLines;
  if (d.discardedOutputBytes) m.DiscardedOutputBytes = d.discardedOutputBytes;
  return m;
}
export function parseDiscard(m: Json): DiscardNote {
  return {
    marker: optBytes(m, 'DiscardMarker'),
    discardedInput: optBytes(m, 'DiscardedInput'),
    discardedOutputLines: optInt(m, 'DiscardedOutputLines'),
    discardedOutputBytes: optInt(m, 'DiscardedOutputBytes'),
  };
}

/** settingsMessage: absent fields leave a setting as it is. */
export interface Settings {
  keepPendingInput?: boolean;
  keepPendingOutput?: boolean;
}
export function encodeSettings(s: Settings): Json {
  const m: Json = {};
  if (s.keepPendingInput !== undefined) m.KeepPendingInput = s.keepPendingInput;
  if (s.keepPendingOutput !== undefined) m.KeepPendingOutput = s.keepPendingOutput;
  return m;
}
export function parseSettings(m: Json): Settings {
  const out: Settings = {};
  if (m.KeepPendingInput !== undefined && m.KeepPendingInput !== null) out.keepPendingInput = optBool(m, 'KeepPendingInput');
  if (m.KeepPendingOutput !== undefined && m.KeepPendingOutput !== null) out.keepPendingOutput = optBool(m, 'KeepPendingOutput');
  return out;
}

/** rekeyMessage: an uncompressed P-256 public key (65 bytes), base64 on the wire. */
export function encodeRekey(publicKey: Buffer): Json {
  return { PubKey: publicKey.toString('base64') };
}
export function parseRekey(m: Json): Buffer {
  const key = optBytes(m, 'PubKey');
  if (key.length !== 65 || key[0] !== 4) throw invalid('PubKey', 'an uncompressed P-256 point (65 bytes)');
  return key;
}

// ---- field helpers (Go's decoder: absent or null means zero) ----

const MAX_TEXT = 64 * 1024;

function optStr(m: Json, name: string): string {
  const v = m[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || v.length > MAX_TEXT) throw invalid(name, 'a string');
  return v;
}

function optBool(m: Json, name: string): boolean {
  const v = m[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(name, 'true or false');
  return v;
}

function optInt(m: Json, name: string): number {
  const v = m[name];
  if (v === undefined || v === null) return 0;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(name, 'an unsigned integer below 2^53');
  return v as number;
}

function optSignedInt(m: Json, name: string): number {
  const v = m[name];
  if (v === undefined || v === null) return 0;
  if (!Number.isSafeInteger(v)) throw invalid(name, 'an integer');
  return v as number;
}

function optBytes(m: Json, name: string): Buffer {
  const v = m[name];
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string' || v.length > 4 * MAX_TEXT * 16 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw invalid(name, 'standard base64');
  }
  return Buffer.from(v, 'base64');
}

function obj(m: Json, name: string): Json {
  const v = m[name];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(name, 'an object');
  return v as Json;
}

function msToNs(ms: number): number {
  return Math.round(ms) * 1_000_000;
}

function nsToMs(m: Json, name: string): number {
  const v = m[name];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || !Number.isInteger(v)) throw invalid(name, 'a duration in nanoseconds');
  return Math.floor(v / 1_000_000);
}

function invalid(name: string, expected: string): ReferenceWireError {
  return new ReferenceWireError(`reference message field "${name}" must be ${expected}`);
}
