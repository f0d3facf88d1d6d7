// Shared by the binlog unit tests: error assertions and deterministic test data.
import type { Data } from 'apache-arrow';
import { expect } from 'vitest';
import { TidalError, type ErrorCode } from '../../../../src/common/errors.js';

/** Runs `fn` and checks it throws a TidalError with `code` whose message matches `message`. */
export function expectTidalError(fn: () => unknown, code: ErrorCode, message: RegExp): TidalError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a TidalError').toBeInstanceOf(TidalError);
  const err = caught as TidalError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  return err;
}

/** A small deterministic PRNG (mulberry32), so test data is the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random floats in [-1, 1). */
export function randomFloats(n: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

/** Bytes of a typed array (for exact comparisons of vector data). */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The logical values of a column chunk: decoded buffers may be longer (IPC pads them to 8 bytes). */
export function valuesOf<T extends Float32Array | Float64Array | BigInt64Array | BigUint64Array = Float32Array>(data: Data): T {
  return (data.values as T).subarray(0, data.length) as T;
}

/** Whether two views hold the same bytes (Buffer.equals: fast on large vectors, unlike deep equality). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return bytesOf(a).equals(bytesOf(b));
}
