/**
 * Seal policies of growing segments, as pure functions of a segment's allocation state and the
 * current TSO time. The segment manager evaluates them on every assignment for a key and on every
 * DataNode tick of a vchannel; `flush` seals explicitly.
 *
 * All times are hybrid timestamps in TSO time (never the local wall clock), so a master whose clock
 * is skewed still seals on the cluster's time.
 */
import { addMs } from '../../common/hybrid-ts.js';

/** Why a segment was sealed. `restart`: a growing segment found at start (see SegmentManager). */
export type SealReason = 'capacity' | 'lifetime' | 'idle' | 'flush' | 'restart';

/** What the policies look at: a growing segment's allocation state. */
export interface AllocationState {
  /** Rows handed out so far (expired allocations included: their rows may have been written). */
  allocatedRows: number;
  /** Row capacity. */
  maxRows: number;
  /** Estimated bytes per row. */
  rowSizeBytes: number;
  /** TSO time the segment was opened. */
  openedTs: bigint;
  /** TSO time of its latest allocation. */
  lastAssignTs: bigint;
}

/** Thresholds of the time- and size-based policies (the `master.segment` config slice). */
export interface SealThresholds {
  /** A growing segment older than this is sealed, ms. */
  maxLifetimeMs: number;
  /** A growing segment without allocations for this long is sealed, if large enough, ms. */
  maxIdleMs: number;
  /** ...provided it holds at least this many bytes (allocated rows × row size), bytes. */
  minSizeToSealIdleBytes: number;
}

/** Sealed by capacity: no room left. */
export function isFull(s: AllocationState): boolean {
  return s.allocatedRows >= s.maxRows;
}

/** Sealed by lifetime: opened at least `maxLifetimeMs` ago in TSO time. */
export function lifetimeExceeded(s: AllocationState, nowTs: bigint, t: SealThresholds): boolean {
  return nowTs >= addMs(s.openedTs, t.maxLifetimeMs);
}

/** Sealed by idleness: no allocation for `maxIdleMs` in TSO time and at least `minSizeToSealIdleBytes` allocated. */
export function idleExceeded(s: AllocationState, nowTs: bigint, t: SealThresholds): boolean {
  return nowTs >= addMs(s.lastAssignTs, t.maxIdleMs) && s.allocatedRows * s.rowSizeBytes >= t.minSizeToSealIdleBytes;
}

/** The first policy that seals `s` at `nowTs` (capacity, lifetime, idle), or undefined to keep it growing. */
export function sealReasonAt(s: AllocationState, nowTs: bigint, t: SealThresholds): SealReason | undefined {
  if (isFull(s)) return 'capacity';
  if (lifetimeExceeded(s, nowTs, t)) return 'lifetime';
  if (idleExceeded(s, nowTs, t)) return 'idle';
  return undefined;
}
