/**
 * The reply a tsshd prints on the login, whichever tsshd it is
 * (docs/INTEROP.md "Bootstrap"): after the last BEL, one JSON object.
 *
 *  - The Go tsshd: its ServerInfo (reference protocol only).
 *  - Our tsshd: the same ServerInfo plus `TsshdNative`, our own bootstrap
 *    object (both protocols); or, from an older tsshd of ours, our bootstrap
 *    object alone (native only).
 *
 * parseBootstrapReply reads what the server offers; the client picks.
 */
import { parseBootstrap, type BootstrapInfo } from './bootstrap.js';
import { ReferenceWireError } from './reference/errors.js';
import { NATIVE_FIELD, parseServerInfoObject, serverInfoFromObject, serverInfoJson, type ReferenceServerInfo } from './reference/server-info.js';

/** What the server offers: one family or both. */
export interface BootstrapReply {
  native?: BootstrapInfo;
  reference?: ReferenceServerInfo;
}

/** Read the reply; throws a one-line Error if it offers nothing usable. */
export function parseBootstrapReply(output: string): BootstrapReply {
  const fields = parseServerInfoObject(serverInfoJson(output));
  // Our own line from before the reference family: native only.
  if (fields.protocolVersion !== undefined && fields.Mode === undefined) return { native: parseBootstrap(output) };
  const reply: BootstrapReply = {};
  const native = fields[NATIVE_FIELD];
  if (native !== undefined) {
    reply.native = parseBootstrap(`\x07${JSON.stringify(native)}\n`);
    try {
      reply.reference = serverInfoFromObject(fields);
    } catch {
      // Our tsshd's reference half is not needed when the native one is there.
    }
    return reply;
  }
  reply.reference = serverInfoFromObject(fields);
  return reply;
}

/** Which protocol the client speaks: auto follows the server, native or reference pin it. */
export type ProtocolChoice = 'auto' | 'native' | 'reference';

/** The family to use, or a one-line ReferenceWireError naming why the pinned one is not offered. */
export function chooseProtocol(
  reply: BootstrapReply,
  choice: ProtocolChoice,
  host: string,
): { kind: 'native'; info: BootstrapInfo } | { kind: 'reference'; info: ReferenceServerInfo } {
  if (choice !== 'reference' && reply.native !== undefined) return { kind: 'native', info: reply.native };
  if (choice !== 'native' && reply.reference !== undefined) return { kind: 'reference', info: reply.reference };
  if (choice === 'native') {
    const v = reply.reference?.serverVersion ? ` ${reply.reference.serverVersion}` : '';
    throw new ReferenceWireError(`TsshdProtocol native, but the tsshd on ${host} is the Go tsshd${v}, which speaks only the reference protocol; set TsshdProtocol auto or reference`);
  }
  throw new ReferenceWireError(`TsshdProtocol reference, but the tsshd on ${host} answered only in the native protocol (an older tsshd of ours); set TsshdProtocol auto or native`);
}
