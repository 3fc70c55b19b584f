/**
 * The control master of a UDP session: what `ssh -O` asks (control-master.ts)
 * done on the session's Forwarder, with the forwards set up at the start
 * known by key so that `-O cancel` finds them too.
 */
import { ControlMaster, forwardKey, type MuxForwardRequest } from './control-master.js';
import type { ForwardSetupResult } from './forward-setup.js';
import type { ActiveForward, Forwarder } from './forwarder.js';
import type { DynamicForwardSpec, ForwardSpec } from './forward-spec.js';

/** ControlMaster and ControlPath as decided by tssh-main. */
export interface ControlMasterChoice {
  path: string;
  /** ControlMaster auto/autoask: a master already answering there is used quietly (by ssh), not replaced. */
  auto: boolean;
}

/** What the session gives its control master. */
export interface SessionControlContext {
  choice: ControlMasterChoice;
  /** The session's Forwarder, created on first use. */
  forwarder: () => Forwarder;
  /** The forwards set up at the start. */
  initial: ForwardSetupResult['entries'];
  say: (line: string) => void;
  /** ssh -O exit. */
  terminate: () => void;
}

/** Start serving; resolves with the function that stops it (a no-op when the path was taken). */
export async function serveControlMaster(ctx: SessionControlContext): Promise<() => void> {
  const forwards = new Map<string, ActiveForward>();
  for (const entry of ctx.initial) forwards.set(forwardKey(asRequest(entry.kind, entry.spec)), entry.forward);
  const master = await ControlMaster.listen(
    ctx.choice.path,
    {
      openForward: async (request) => {
        const key = forwardKey(request);
        if (forwards.has(key)) return {};
        const forwarder = ctx.forwarder();
        const active =
          request.kind === 'D'
            ? await forwarder.dynamicForward(request.spec)
            : request.kind === 'L'
              ? await forwarder.localForward(request.spec)
              : await forwarder.remoteForward(request.spec);
        forwards.set(key, active);
        const askedPort = 'path' in request.spec.listen ? undefined : request.spec.listen.port;
        return request.kind === 'R' && askedPort === 0 && active.port !== undefined ? { allocatedPort: active.port } : {};
      },
      closeForward: (request) => {
        const key = forwardKey(request);
        const active = forwards.get(key);
        if (active === undefined) return false;
        forwards.delete(key);
        active.close();
        return true;
      },
      terminate: ctx.terminate,
    },
    { auto: ctx.choice.auto, say: ctx.say },
  );
  return () => master?.close();
}

function asRequest(kind: 'L' | 'R' | 'D', spec: ForwardSpec | DynamicForwardSpec): MuxForwardRequest {
  return kind === 'D' ? { kind, spec: spec as DynamicForwardSpec } : { kind, spec: spec as ForwardSpec };
}
