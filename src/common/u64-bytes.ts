/**
 * Per-row 64-bit columns carried as bytes (InsertMsg.timestamps / row_ids): `n` little-endian
 * 8-byte values, viewed as BigUint64Array / BigInt64Array without building a value per row.
 */
import { endianness } from 'node:os';

const LITTLE = endianness() === 'LE';

function view<T extends BigUint64Array | BigInt64Array>(bytes: Uint8Array, Ctor: { new (b: ArrayBuffer, o: number, n: number): T; new (n: number): T }, what: string): T {
  if (bytes.byteLength % 8 !== 0) throw new RangeError(`${what}: ${bytes.byteLength} bytes is not a whole number of 8-byte values`);
  const n = bytes.byteLength / 8;
  if (LITTLE && bytes.byteOffset % 8 === 0) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  // Unaligned (a view into a protobuf buffer) or a big-endian host: copy once, value by value.
  const out = new Ctor(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = (Ctor === (BigInt64Array as unknown) ? dv.getBigInt64(i * 8, true) : dv.getBigUint64(i * 8, true)) as never;
  return out;
}

/** Views little-endian uint64 bytes as a BigUint64Array (copies only when unaligned). */
export function bytesToU64(bytes: Uint8Array): BigUint64Array {
  return view(bytes, BigUint64Array, 'uint64 column');
}

/** Views little-endian int64 bytes as a BigInt64Array (copies only when unaligned). */
export function bytesToI64(bytes: Uint8Array): BigInt64Array {
  return view(bytes, BigInt64Array, 'int64 column');
}

/** Little-endian bytes of a 64-bit column (no copy on a little-endian host). */
export function u64ToBytes(values: BigUint64Array | BigInt64Array | readonly bigint[], signed = false): Uint8Array {
  if (!Array.isArray(values) && LITTLE) {
    const typed = values as BigUint64Array | BigInt64Array;
    return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  }
  const arr = values as ArrayLike<bigint>;
  const out = new Uint8Array(arr.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < arr.length; i++) {
    if (signed) dv.setBigInt64(i * 8, arr[i]!, true);
    else dv.setBigUint64(i * 8, arr[i]!, true);
  }
  return out;
}
