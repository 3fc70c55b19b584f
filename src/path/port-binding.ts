import { candidatePorts, countPorts, parsePortSpec } from './port-spec.js';

/** How many ports of a spec are tried before giving up (all of them when the spec is smaller). */
export const MAX_PORT_ATTEMPTS = 256;

/** Thrown when every port tried in a spec was in use. */
export class NoFreePortError extends Error {
  constructor(
    readonly spec: string,
    readonly tried: number,
    readonly total: number,
  ) {
    super(
      `no free port in ${spec.trim()}; widen TsshdPort or free a port in it (tried ${tried} of its ${total} ports)`,
    );
    this.name = 'NoFreePortError';
  }
}

function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE';
}

/**
 * Bind on a port drawn at random from `spec`: `bindPort` is tried on one
 * candidate after another while it fails with EADDRINUSE; any other error is
 * thrown at once. Throws NoFreePortError when the candidates run out, and the
 * spec parser's Error for a malformed spec.
 */
export async function bindPortFromSpec<T>(spec: string, bindPort: (port: number) => Promise<T>): Promise<T> {
  const ranges = parsePortSpec(spec);
  const candidates = candidatePorts(ranges, MAX_PORT_ATTEMPTS);
  for (const port of candidates) {
    try {
      return await bindPort(port);
    } catch (err) {
      if (!isAddressInUse(err)) throw err;
    }
  }
  throw new NoFreePortError(spec, candidates.length, countPorts(ranges));
}
