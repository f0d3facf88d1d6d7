/**
 * 64-bit integer columns without per-row BigInts: conversion of the `bigint[]` lists the generated
 * protobuf types carry into typed arrays, concatenation, and min/max scans that compare the two
 * 32-bit halves of each value through a Uint32/Int32 view of the same buffer.
 *
 * The views assume a little-endian host, like Arrow's IPC format; every platform Node supports
 * for Tidal is (x86-64, arm64). The module refuses to load elsewhere.
 */
import { errors, ErrorCode, TidalError } from '../../common/errors.js';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new TidalError(ErrorCode.Internal, 'binlog codecs need a little-endian host');
}

/** A BigInt64Array of `values` (taken as is when it already is one). Throws INVALID_ARGUMENT naming `what`. */
export function toBigInt64Array(values: BigInt64Array | readonly bigint[], what: string): BigInt64Array {
  if (values instanceof BigInt64Array) return values;
  if (!Array.isArray(values)) throw errors.invalidArgument(`${what} must be a BigInt64Array or an array of bigints`);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw errors.invalidArgument(`${what}[${i}] is not an int64 bigint: ${String(v)}`);
    out[i] = v;
  }
  return out;
}

/** A BigUint64Array of `values` (taken as is when it already is one). Throws INVALID_ARGUMENT naming `what`. */
export function toBigUint64Array(values: BigUint64Array | readonly bigint[], what: string): BigUint64Array {
  if (values instanceof BigUint64Array) return values;
  if (!Array.isArray(values)) throw errors.invalidArgument(`${what} must be a BigUint64Array or an array of bigints`);
  const out = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v !== 'bigint' || BigInt.asUintN(64, v) !== v) throw errors.invalidArgument(`${what}[${i}] is not a uint64 bigint: ${String(v)}`);
    out[i] = v;
  }
  return out;
}

/** The arrays joined end to end (the one array itself when there is only one). */
export function concat64<T extends BigInt64Array | BigUint64Array>(arrays: readonly T[], Ctor: { new (n: number): T }): T {
  if (arrays.length === 1) return arrays[0]!;
  let total = 0;
  for (const a of arrays) total += a.length;
  const out = new Ctor(total);
  let at = 0;
  for (const a of arrays) {
    out.set(a as never, at);
    at += a.length;
  }
  return out;
}

/**
 * Indexes of the smallest and largest value of a 64-bit column, compared as signed or unsigned
 * without creating BigInts. Undefined for an empty column.
 */
export function minMaxIndex64(values: BigInt64Array | BigUint64Array): { min: number; max: number } | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const lo = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  // The high word decides first: signed for Int64, unsigned for UInt64.
  const hi = values instanceof BigInt64Array ? new Int32Array(values.buffer, values.byteOffset, n * 2) : lo;
  let min = 0;
  let max = 0;
  for (let i = 1; i < n; i++) {
    const h = hi[2 * i + 1]!;
    const l = lo[2 * i]!;
    const hMin = hi[2 * min + 1]!;
    if (h < hMin || (h === hMin && l < lo[2 * min]!)) min = i;
    const hMax = hi[2 * max + 1]!;
    if (h > hMax || (h === hMax && l > lo[2 * max]!)) max = i;
  }
  return { min, max };
}
