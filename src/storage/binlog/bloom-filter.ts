/**
 * A standard Bloom filter over primary keys, for "might this segment hold key k?" (deletes,
 * upserts).
 *
 * Sizing for `n` keys and false-positive rate `p` (default 0.001): `m = ceil(-n·ln p / ln²2)` bits
 * (rounded up to whole bytes) and `k = round(m/n · ln 2)` hash functions — 14.4 bits and 10
 * hashes per key at p = 0.001.
 *
 * Hashing (fixed, so any implementation can read the serialised bits): a key's bytes are the 8
 * little-endian bytes of an Int64 key, or the UTF-8 bytes of a VarChar key. Its 64-bit hash is two
 * MurmurHash3_x86_32 values, h1 with seed 0 and h2 with seed 0x9747b28c; bit i (0 ≤ i < k) is
 * `(h1 + i·h2) mod m` (Kirsch–Mitzenmacher double hashing). Bit j lives in byte j >> 3, bit j & 7
 * (LSB first, as Arrow bitmaps).
 */
import { errors } from '../../common/errors.js';
import { murmur3, murmur3Int64 } from '../../common/murmur3.js';

/** Default false-positive rate. */
export const DEFAULT_BLOOM_FP_RATE = 0.001;
/** The hash scheme written in serialised filters; readers reject others. */
export const BLOOM_HASH = 'murmur3_x86_32_double';
/** Seeds of h1 and h2. */
export const BLOOM_SEEDS: readonly [number, number] = [0, 0x9747b28c];
/** Most bits a filter may have (2^32: a 512 MiB filter, far above any segment's needs). */
export const MAX_BLOOM_BITS = 2 ** 32;

/** A filter as JSON (stats logs). */
export interface BloomFilterJSON {
  hash: string;
  seeds: number[];
  numBits: number;
  numHashes: number;
  /** The bit array, base64. */
  bits: string;
}

/** A primary key as Tidal carries it: Int64 keys as bigint, VarChar keys as string. */
export type PrimaryKey = bigint | string;

const scratch = new BigInt64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);

/** Bits and hash count for `expectedItems` keys at false-positive rate `fpRate`. Throws INVALID_ARGUMENT. */
export function bloomParams(expectedItems: number, fpRate = DEFAULT_BLOOM_FP_RATE): { numBits: number; numHashes: number } {
  if (!Number.isSafeInteger(expectedItems) || expectedItems < 0) throw errors.invalidArgument(`expected items must be a non-negative integer, got ${expectedItems}`);
  if (!(fpRate > 0 && fpRate < 1)) throw errors.invalidArgument(`false-positive rate must be between 0 and 1 (exclusive), got ${fpRate}`);
  const n = Math.max(1, expectedItems);
  const bits = Math.ceil((-n * Math.log(fpRate)) / (Math.LN2 * Math.LN2));
  const numBits = Math.max(64, Math.ceil(bits / 8) * 8);
  if (numBits > MAX_BLOOM_BITS) throw errors.invalidArgument(`a bloom filter for ${expectedItems} keys at rate ${fpRate} needs ${numBits} bits, above ${MAX_BLOOM_BITS}`);
  const numHashes = Math.max(1, Math.round((numBits / n) * Math.LN2));
  return { numBits, numHashes };
}

/** A Bloom filter; see the module comment for the exact hashing. */
export class BloomFilter {
  readonly numBits: number;
  readonly numHashes: number;
  readonly bits: Uint8Array;

  /** A filter of `numBits` bits (a multiple of 8) and `numHashes` hashes; `bits` to start from. */
  constructor(numBits: number, numHashes: number, bits?: Uint8Array) {
    if (!Number.isSafeInteger(numBits) || numBits < 8 || numBits % 8 !== 0 || numBits > MAX_BLOOM_BITS) {
      throw errors.invalidArgument(`bloom filter bits must be a multiple of 8 from 8 to ${MAX_BLOOM_BITS}, got ${numBits}`);
    }
    if (!Number.isInteger(numHashes) || numHashes < 1 || numHashes > 64) throw errors.invalidArgument(`bloom filter hash count must be 1..64, got ${numHashes}`);
    if (bits !== undefined && bits.length !== numBits / 8) throw errors.invalidArgument(`bloom filter of ${numBits} bits needs ${numBits / 8} bytes, got ${bits.length}`);
    this.numBits = numBits;
    this.numHashes = numHashes;
    this.bits = bits ?? new Uint8Array(numBits / 8);
  }

  /** An empty filter sized for `expectedItems` keys at `fpRate`. */
  static forCapacity(expectedItems: number, fpRate = DEFAULT_BLOOM_FP_RATE): BloomFilter {
    const { numBits, numHashes } = bloomParams(expectedItems, fpRate);
    return new BloomFilter(numBits, numHashes);
  }

  private set(h1: number, h2: number): void {
    const m = this.numBits;
    for (let i = 0; i < this.numHashes; i++) {
      // h1 + i·h2 < 2^32 · 65: exact in a double, so % is exact.
      const j = (h1 + i * h2) % m;
      this.bits[j >>> 3]! |= 1 << (j & 7);
    }
  }

  private test(h1: number, h2: number): boolean {
    const m = this.numBits;
    for (let i = 0; i < this.numHashes; i++) {
      const j = (h1 + i * h2) % m;
      if ((this.bits[j >>> 3]! & (1 << (j & 7))) === 0) return false;
    }
    return true;
  }

  /** Adds every key of an Int64 column (no BigInts created). */
  addInt64Column(values: BigInt64Array): void {
    const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    for (let i = 0; i < values.length; i++) {
      const lo = words[2 * i]!;
      const hi = words[2 * i + 1]!;
      this.set(murmur3Int64(lo, hi, BLOOM_SEEDS[0]), murmur3Int64(lo, hi, BLOOM_SEEDS[1]));
    }
  }

  /** Adds every key of a Utf8 column given as Arrow value offsets (rows + 1 entries) and bytes. */
  addUtf8Column(valueOffsets: Int32Array, bytes: Uint8Array, rows: number): void {
    for (let i = 0; i < rows; i++) {
      const s = valueOffsets[i]!;
      const e = valueOffsets[i + 1]!;
      this.set(murmur3(bytes, BLOOM_SEEDS[0], s, e), murmur3(bytes, BLOOM_SEEDS[1], s, e));
    }
  }

  private hashes(key: PrimaryKey): [number, number] {
    if (typeof key === 'bigint') {
      if (BigInt.asIntN(64, key) !== key) throw errors.invalidArgument(`primary key ${key} is not an int64`);
      scratch[0] = key;
      const lo = scratchWords[0]!;
      const hi = scratchWords[1]!;
      return [murmur3Int64(lo, hi, BLOOM_SEEDS[0]), murmur3Int64(lo, hi, BLOOM_SEEDS[1])];
    }
    if (typeof key !== 'string') throw errors.invalidArgument(`a primary key is a bigint or a string, got ${typeof key}`);
    const bytes = Buffer.from(key, 'utf8');
    return [murmur3(bytes, BLOOM_SEEDS[0]), murmur3(bytes, BLOOM_SEEDS[1])];
  }

  /** Adds one key. Throws INVALID_ARGUMENT for a bigint outside int64 or a non-key value. */
  add(key: PrimaryKey): void {
    const [h1, h2] = this.hashes(key);
    this.set(h1, h2);
  }

  /** False when `key` was certainly never added; true when it probably was. */
  mightContain(key: PrimaryKey): boolean {
    const [h1, h2] = this.hashes(key);
    return this.test(h1, h2);
  }

  /** The filter as JSON (bits in base64). */
  toJSON(): BloomFilterJSON {
    return {
      hash: BLOOM_HASH,
      seeds: [...BLOOM_SEEDS],
      numBits: this.numBits,
      numHashes: this.numHashes,
      bits: Buffer.from(this.bits.buffer, this.bits.byteOffset, this.bits.byteLength).toString('base64'),
    };
  }

  /** Reads {@link toJSON}'s shape. Throws CORRUPTED for another hash scheme or inconsistent sizes. */
  static fromJSON(json: unknown): BloomFilter {
    const j = json as Partial<BloomFilterJSON> | null;
    if (j === null || typeof j !== 'object') throw errors.corrupted('bloom filter is not an object');
    if (j.hash !== BLOOM_HASH || !Array.isArray(j.seeds) || j.seeds[0] !== BLOOM_SEEDS[0] || j.seeds[1] !== BLOOM_SEEDS[1] || j.seeds.length !== 2) {
      throw errors.corrupted(`bloom filter uses hash ${String(j.hash)} with seeds ${JSON.stringify(j.seeds)}; this reader knows ${BLOOM_HASH} with seeds ${JSON.stringify(BLOOM_SEEDS)}`);
    }
    if (typeof j.bits !== 'string' || typeof j.numBits !== 'number' || typeof j.numHashes !== 'number') throw errors.corrupted('bloom filter lacks numBits, numHashes or bits');
    const bytes = Buffer.from(j.bits, 'base64');
    try {
      return new BloomFilter(j.numBits, j.numHashes, new Uint8Array(bytes)); // a copy: small decodes share Buffer's pool
    } catch (err) {
      throw errors.corrupted(`bloom filter is inconsistent: ${(err as Error).message}`, err);
    }
  }
}
