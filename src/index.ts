/**
 * The tsshd library: build an SSH service with roaming and low latency. Write
 * a {@link Handler} for a {@link Session}, wrap it in {@link Middleware}, and
 * start it with {@link runMain}; users connect with `tssh --udp`.
 * See docs/API.md.
 */
export { runMain, type RunMainOptions } from './server/run-main.js';
export {
  compose,
  serveSession,
  StreamSession,
  type Handler,
  type Middleware,
  type PtyInfo,
  type Session,
  type SessionExit,
  type StreamSessionOptions,
  type WindowSize,
} from './server/session.js';
export { shellHandler, type ShellHandlerOptions } from './server/shell-handler.js';
export { buildLoginEnv, currentLogin, sessionEnv, envAcceptedBy } from './server/login-env.js';
export { tsshdCommandLine } from './client/bootstrap-over-ssh.js';
export { LOGIN_MARKER, splitLoginMarker } from './client/login-marker.js';
export { VERSION } from './version.js';
