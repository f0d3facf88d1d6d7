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
import { murmur3, murmur3Int64 } from '../common/murmur3.js';

/** Seed of the shard hash. */
export const PK_HASH_SEED = 0;

const LITTLE = endianness() === 'LE';

/** MurmurHash3 x86_32 (seed 0) of bytes[start, end), unsigned. */
export function murmur3Bytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return murmur3(bytes, PK_HASH_SEED, start, end);
}

/** MurmurHash3 x86_32 (seed 0) of an int64 given as its low and high 32-bit words, unsigned. */
function murmur3Words(lo: number, hi: number): number {
  return murmur3Int64(lo, hi, PK_HASH_SEED);
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
