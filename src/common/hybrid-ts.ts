/**
 * Hybrid timestamps: `ts = physical_ms << 18 | logical`, an unsigned 64-bit bigint.
 * 2^18 logical values per millisecond of physical (wall-clock) time.
 */

/** Bits of the logical part. */
export const LOGICAL_BITS = 18n;
/** Logical values per physical millisecond (2^18). */
export const MAX_LOGICAL = 1 << Number(LOGICAL_BITS);
const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;

/** Builds a hybrid timestamp from wall-clock milliseconds and a logical counter. */
export function composeTs(physicalMs: number, logical: number): bigint {
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0) throw new RangeError(`physical ms must be a non-negative integer, got ${physicalMs}`);
  if (!Number.isInteger(logical) || logical < 0 || logical >= MAX_LOGICAL) throw new RangeError(`logical must be in [0, ${MAX_LOGICAL}), got ${logical}`);
  return (BigInt(physicalMs) << LOGICAL_BITS) | BigInt(logical);
}

/** Splits a hybrid timestamp into wall-clock milliseconds and logical counter. */
export function parseTs(ts: bigint): { physicalMs: number; logical: number } {
  return { physicalMs: Number(ts >> LOGICAL_BITS), logical: Number(ts & LOGICAL_MASK) };
}

/** The wall-clock Date of a hybrid timestamp. */
export function tsToDate(ts: bigint): Date {
  return new Date(parseTs(ts).physicalMs);
}

/** A hybrid timestamp `ms` milliseconds after `ts` (logical part kept). */
export function addMs(ts: bigint, ms: number): bigint {
  return ts + (BigInt(Math.trunc(ms)) << LOGICAL_BITS);
}
