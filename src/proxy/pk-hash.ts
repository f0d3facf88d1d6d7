/**
 * Shard routing by primary key: which vchannel (shard) of a collection a row or a delete goes to.
 * Inserts and deletes use these same functions, so a delete reaches the shard holding the row.
 *
 * The rule (stable; changing it would send deletes to the wrong shard of existing data):
 * - hash = MurmurHash3 x86_32 with seed 0
 *   - of an Int64 key: over its 8 little-endian two's-complement bytes;
 *   - of a VarChar key: over its UTF-8 bytes;
 * - shard = hash (as an unsigned 32-bit integer) mod shardsNum; vchannel = vchannels[shard].
 *
 * Known values (test/unit/proxy/pk-hash.test.ts): Int64 1 → 1392991556, Int64 -1 → 1651860712,
 * VarChar "hello" → 613153351 (0x248bfa47, the reference MurmurHash3 value).
 */
import { endianness } from 'node:os';
import { Type, type Data } from 'apache-arrow';
import { errors } from '../common/errors.js';

/** Seed of the shard hash. */
export const PK_HASH_SEED = 0;

const LITTLE = endianness() === 'LE';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 (seed 0) of `bytes[start, end)`, unsigned. */
export function murmur3Bytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = PK_HASH_SEED;
  const length = end - start;
  const blocksEnd = start + (length & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) h = mixH(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  let k = 0;
  switch (length & 3) {
    case 3:
      k ^= bytes[i + 2]! << 16;
    // falls through
    case 2:
      k ^= bytes[i + 1]! << 8;
    // falls through
    case 1:
      k ^= bytes[i]!;
      h ^= mixK(k);
  }
  return fmix(h, length);
}

/** MurmurHash3 x86_32 (seed 0) of an int64 given as its low and high 32-bit words, unsigned. */
function murmur3Words(lo: number, hi: number): number {
  return fmix(mixH(mixH(PK_HASH_SEED, lo | 0), hi | 0), 8);
}

/** The shard hash of an Int64 primary key. */
export function hashInt64Pk(pk: bigint): number {
  const v = BigInt.asUintN(64, pk);
  return murmur3Words(Number(v & 0xffffffffn), Number(v >> 32n));
}

/** The shard hash of a VarChar primary key. */
export function hashVarCharPk(pk: string): number {
  return murmur3Bytes(Buffer.from(pk, 'utf8'));
}

/** The shard (0 ≤ shard < shardsNum) of a primary key. */
export function shardOfPk(pk: bigint | string, shardsNum: number): number {
  return (typeof pk === 'bigint' ? hashInt64Pk(pk) : hashVarCharPk(pk)) % shardsNum;
}

/**
 * The shard of every row of a primary-key column (an Arrow Int64 or Utf8 `Data` without nulls),
 * computed from its buffers without a value per row. Throws INVALID_ARGUMENT for another type.
 */
export function shardsOfPkColumn(data: Data, shardsNum: number): Uint32Array {
  if (!Number.isInteger(shardsNum) || shardsNum < 1) throw errors.invalidArgument(`shardsNum must be a positive integer, got ${shardsNum}`);
  const n = data.length;
  const out = new Uint32Array(n);
  if (shardsNum === 1) return out;
  if (data.type.typeId === Type.Int) {
    // Arrow JS: a sliced Data's values already start at its first row.
    const values = data.values as BigInt64Array;
    if (LITTLE) {
      const words = new Int32Array(values.buffer, values.byteOffset, n * 2);
      for (let i = 0; i < n; i++) out[i] = murmur3Words(words[2 * i]!, words[2 * i + 1]!) % shardsNum;
    } else {
      for (let i = 0; i < n; i++) out[i] = hashInt64Pk(values[i]!) % shardsNum;
    }
    return out;
  }
  if (data.type.typeId === Type.Utf8) {
    const offsets = data.valueOffsets as Int32Array;
    const bytes = data.values as Uint8Array;
    for (let i = 0; i < n; i++) out[i] = murmur3Bytes(bytes, offsets[i]!, offsets[i + 1]!) % shardsNum;
    return out;
  }
  throw errors.invalidArgument(`a primary key column must be Int64 or VarChar, got Arrow type ${String(data.type)}`);
}

/** Row indices per shard, in row order: `result[s]` lists the rows whose shard is `s`. */
export function groupByShard(shards: Uint32Array, shardsNum: number): Int32Array[] {
  const counts = new Int32Array(shardsNum);
  for (let i = 0; i < shards.length; i++) counts[shards[i]!]!++;
  const groups = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(shardsNum);
  for (let i = 0; i < shards.length; i++) {
    const s = shards[i]!;
    groups[s]![fill[s]!++] = i;
  }
  return groups;
}
