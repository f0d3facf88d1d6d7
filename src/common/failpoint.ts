/**
 * Failpoints (etcd's gofail, Milvus's failpoints): named places in the code where a test can make
 * the process die, stop, or fail, so a crash lands at an exact step instead of "somewhere".
 *
 * A process reads its failpoints once, at startup, from `TIDAL_FAILPOINTS`:
 *
 *     TIDAL_FAILPOINTS="datanode.sync.beforeSave=kill;datanode.sync.beforePut=pause@2"
 *
 * `name=action[@n]`, separated by `;`. Actions:
 * - `kill`: write a marker line to stderr, then SIGKILL this process (no cleanup, no flush);
 * - `pause`: write a marker line to stderr and never return (the caller blocks for good; the rest
 *   of the process runs on), so a test can look at the state and kill the process itself;
 * - `error`: throw a TidalError INTERNAL (not retriable) naming the failpoint.
 * With `@n` the action fires on the n-th time the place is reached only (1-based); without it,
 * every time. The marker is `failpoint <name> <action> (hit <n>)`.
 *
 * Cost when unset: call sites are written `if (failpointsActive) await failpoint('name')`, a check
 * of one boolean. This module is the one place that reads the environment directly: a failpoint
 * is a test seam below configuration, like gofail's, and must not be reachable from a config file.
 */
import { writeSync } from 'node:fs';
import { ErrorCode, TidalError, errors } from './errors.js';

/** The environment variable failpoints are read from. */
export const FAILPOINTS_ENV = 'TIDAL_FAILPOINTS';

/** What a failpoint does when it fires. */
export type FailpointAction = 'kill' | 'pause' | 'error';

/** One parsed failpoint term. */
export interface FailpointSpec {
  action: FailpointAction;
  /** Fire on this hit only (1-based); undefined: on every hit. */
  nth: number | undefined;
}

const ACTIONS: ReadonlySet<string> = new Set<FailpointAction>(['kill', 'pause', 'error']);
const NAME_RE = /^[a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*$/;
const TERM_RE = /^([^=]+)=([a-z]+)(?:@(\d+))?$/;

/**
 * Parses a `TIDAL_FAILPOINTS` value. Throws INVALID_ARGUMENT naming the bad term and the allowed
 * syntax. An empty or blank string gives no failpoints.
 */
export function parseFailpoints(spec: string): Map<string, FailpointSpec> {
  const out = new Map<string, FailpointSpec>();
  for (const raw of spec.split(';')) {
    const term = raw.trim();
    if (term === '') continue;
    const bad = (why: string) =>
      errors.invalidArgument(`${FAILPOINTS_ENV}: ${JSON.stringify(term)} ${why}; expected name=action[@n] with action kill, pause or error, n ≥ 1, terms separated by ";"`, { term });
    const m = TERM_RE.exec(term);
    if (m === null) throw bad('is not a failpoint term');
    const [, name, action, nth] = m as unknown as [string, string, string, string | undefined];
    if (!NAME_RE.test(name)) throw bad(`has an invalid name ${JSON.stringify(name)} (dot-separated words, e.g. datanode.sync.beforeSave)`);
    if (!ACTIONS.has(action)) throw bad(`has an unknown action ${JSON.stringify(action)}`);
    const n = nth === undefined ? undefined : Number(nth);
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 1)) throw bad(`has an invalid occurrence @${nth}`);
    if (out.has(name)) throw bad(`sets ${name} a second time`);
    out.set(name, { action: action as FailpointAction, nth: n });
  }
  return out;
}

let active = new Map<string, FailpointSpec>();
const hits = new Map<string, number>();

/** True when any failpoint is set: call sites check it before calling {@link failpoint}. */
export let failpointsActive = false;

/**
 * Replaces the process's failpoints (a spec string as in `TIDAL_FAILPOINTS`; undefined or empty
 * clears them) and resets the hit counts. Throws INVALID_ARGUMENT on a bad spec (nothing changes).
 */
export function configureFailpoints(spec: string | undefined): void {
  const parsed = parseFailpoints(spec ?? '');
  active = parsed;
  hits.clear();
  failpointsActive = parsed.size > 0;
}

/** How many times the place `name` was reached since the failpoints were configured. */
export function failpointHits(name: string): number {
  return hits.get(name) ?? 0;
}

/**
 * The place `name` is reached: does what its failpoint says (see the file comment), or nothing.
 * Resolves at once when the failpoint does not fire; never resolves for `pause`; throws a
 * TidalError INTERNAL for `error`; does not return for `kill`.
 */
export async function failpoint(name: string): Promise<void> {
  const fp = active.get(name);
  if (fp === undefined) return;
  const hit = (hits.get(name) ?? 0) + 1;
  hits.set(name, hit);
  if (fp.nth !== undefined && fp.nth !== hit) return;
  // Synchronous write: for `kill` the line must be out before the process is.
  writeSync(2, `failpoint ${name} ${fp.action} (hit ${hit})\n`);
  switch (fp.action) {
    case 'kill':
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL is delivered at once; this wait only keeps the caller from going on meanwhile.
      return new Promise<void>(() => undefined);
    case 'pause':
      return new Promise<void>(() => undefined);
    case 'error':
      throw new TidalError(ErrorCode.Internal, `failpoint ${name} fired (hit ${hit})`, { retriable: false, context: { failpoint: name, hit } });
  }
}

configureFailpoints(process.env[FAILPOINTS_ENV]);
