/**
 * Put a ForwardPlan in place on a Forwarder and report each failure in
 * ssh's words: "Could not request local forwarding." for a local listener
 * that cannot bind, "Warning: remote port forwarding failed for listen port
 * N" for a refused remote one ("Error: ..." and exit 255 with
 * ExitOnForwardFailure), "Allocated port N for remote forward to ..." when
 * the server picked the port. tssh adds the reason on the line before.
 */
import { describeTarget } from '../protocol/forward-messages.js';
import type { ActiveForward, Forwarder } from './forwarder.js';
import type { ForwardPlan } from './forward-plan.js';
import type { DynamicForwardSpec, ForwardSpec } from './forward-spec.js';

/** What setting up the forwards came to. */
export interface ForwardSetupResult {
  /** False when a forward failed and ExitOnForwardFailure is set: tssh must exit with 255. */
  ok: boolean;
  active: ActiveForward[];
  /** The forwards in place with what asked for them (-L, -R, -D), for a control master's cancel. */
  entries: Array<{ kind: 'L' | 'R' | 'D'; spec: ForwardSpec | DynamicForwardSpec; forward: ActiveForward }>;
}

/**
 * Set up every forward of `plan` (all at once; the remote ones wait for
 * tsshd's answer) and write ssh's lines through `say` (one line each, no
 * newline). `verbose` false (-q) keeps the informational lines back.
 */
export async function setUpForwards(forwarder: Forwarder, plan: ForwardPlan, say: (line: string) => void, verbose: boolean): Promise<ForwardSetupResult> {
  const fatal = plan.exitOnForwardFailure;
  type Job = { kind: 'L' | 'R' | 'D'; spec: ForwardSpec | DynamicForwardSpec; settled: Promise<ActiveForward>; report: (result: PromiseSettledResult<ActiveForward>) => boolean };
  const jobs: Job[] = [];
  const local = (kind: 'L' | 'D', spec: ForwardSpec | DynamicForwardSpec, settled: Promise<ActiveForward>): void => {
    jobs.push({
      kind,
      spec,
      settled,
      report: (r) => {
        if (r.status === 'fulfilled') return true;
        say(`tssh: ${reason(r.reason)}`);
        say('Could not request local forwarding.');
        return false;
      },
    });
  };
  for (const spec of plan.local) local('L', spec, forwarder.localForward(spec));
  for (const spec of plan.dynamic) local('D', spec, forwarder.dynamicForward(spec));
  for (const spec of plan.remote) {
    jobs.push({
      kind: 'R',
      spec,
      settled: forwarder.remoteForward(spec),
      report: (r) => {
        if (r.status === 'fulfilled') {
          if (verbose && !('path' in spec.listen) && spec.listen.port === 0 && r.value.port !== undefined) {
            say(`Allocated port ${r.value.port} for remote forward to ${describeTarget(spec.connect)}`);
          }
          return true;
        }
        say(`tssh: ${reason(r.reason)}`);
        say(`${fatal ? 'Error' : 'Warning'}: remote port forwarding failed for listen ${listenWhat(spec)}`);
        return false;
      },
    });
  }
  const results = await Promise.allSettled(jobs.map((j) => j.settled));
  let ok = true;
  const active: ActiveForward[] = [];
  const entries: ForwardSetupResult['entries'] = [];
  results.forEach((r, i) => {
    const job = jobs[i]!;
    if (!job.report(r)) ok = false;
    if (r.status === 'fulfilled') {
      active.push(r.value);
      entries.push({ kind: job.kind, spec: job.spec, forward: r.value });
    }
  });
  return { ok: ok || !fatal, active, entries };
}

/** ssh's "port N" / "path P" (UDP forwards say so). */
function listenWhat(spec: ForwardSpec): string {
  if ('path' in spec.listen) return `${spec.proto === 'udp' ? 'UDP ' : ''}path ${spec.listen.path}`;
  return `${spec.proto === 'udp' ? 'UDP ' : ''}port ${spec.listen.port}`;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
