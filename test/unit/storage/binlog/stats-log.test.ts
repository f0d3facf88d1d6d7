// Stats logs: MurmurHash3 against reference values, the Bloom filter's guarantees (no false
// negatives, a false-positive rate near its target), primary-key min/max, and the JSON round trip.
import { describe, expect, it } from 'vitest';
import { buildInsertBatch } from '../../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../../src/common/errors.js';
import {
  BloomFilter,
  bloomParams,
  computePkStats,
  mightContainPk,
  murmur3,
  murmur3Int64,
  readInsertLog,
  readStatsLog,
  writeInsertLog,
  writeStatsLog,
  type BinlogMeta,
} from '../../../../src/storage/binlog/index.js';
import { ALL_TYPES_SCHEMA, SCOPE, VARCHAR_PK_SCHEMA } from '../../../fixtures/binlog/fixture-data.js';
import { expectTidalError, rng } from './helpers.js';

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** Int64 keys spread over the whole range, deterministic. */
function randomInt64s(n: number, seed: number): BigInt64Array {
  const next = rng(seed);
  const out = new BigInt64Array(n);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(next() * 2 ** 32);
  return out;
}

const INSERT_META: BinlogMeta = { ...SCOPE, kind: 'insert_log', schemaVersion: 2, rowCount: 0, timestampFrom: 1n, timestampTo: 9n };

describe('murmur3', () => {
  it('murmur3 - matches MurmurHash3_x86_32 reference values (as computed by the mmh3 library)', () => {
    const cases: [Uint8Array, number, number][] = [
      [utf8(''), 0, 0],
      [utf8(''), 1, 0x514e28b7],
      [utf8(''), 0xffffffff, 0x81f16f39],
      [new Uint8Array(4), 0, 0x2362f9de],
      [utf8('abc'), 0, 0xb3dd93fa],
      [utf8('test'), 0x9747b28c, 0x704b81dc],
      [utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
      [utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
      [utf8('ключ'), 0x9747b28c, 0x072f4b90],
    ];
    for (const [bytes, seed, want] of cases) expect(murmur3(bytes, seed)).toBe(want);
    // a sub-range hashes like the same bytes on their own
    const padded = utf8('xxtestyy');
    expect(murmur3(padded, 0x9747b28c, 2, 6)).toBe(0x704b81dc);
  });

  it('murmur3 - the int64 fast path hashes the 8 little-endian bytes of the key', () => {
    const ref: [bigint, number, number][] = [
      [0n, 0x63852afc, 0x2e1d9bd8],
      [1n, 0x53075d44, 0x24e81313],
      [-1n, 0x627564e8, 0x7584c82b],
      [-9_223_372_036_854_775_808n, 0x516faf25, 0xdc9734ed],
      [9_223_372_036_854_775_807n, 0x827144bf, 0xbe0534c4],
      [123_456_789_012_345n, 0xe40ba3fc, 0x0502eaf3],
    ];
    for (const [v, h0, h1] of ref) {
      const words = new Uint32Array(BigInt64Array.of(v).buffer);
      expect(murmur3Int64(words[0]!, words[1]!, 0)).toBe(h0);
      expect(murmur3Int64(words[0]!, words[1]!, 0x9747b28c)).toBe(h1);
    }
    const keys = randomInt64s(1000, 3);
    const bytes = new Uint8Array(keys.buffer);
    const words = new Uint32Array(keys.buffer);
    for (let i = 0; i < keys.length; i++) expect(murmur3Int64(words[2 * i]!, words[2 * i + 1]!, 7)).toBe(murmur3(bytes, 7, 8 * i, 8 * i + 8));
  });
});

describe('bloom filter', () => {
  it('bloom filter - is sized by the standard formulas: 14.4 bits and 10 hashes per key at 0.001', () => {
    expect(bloomParams(1_000_000, 0.001)).toEqual({ numBits: 14_377_592, numHashes: 10 });
    expect(bloomParams(1000, 0.01)).toEqual({ numBits: 9592, numHashes: 7 });
    expect(bloomParams(0).numBits).toBe(64); // an empty segment still gets a valid filter
    expectTidalError(() => bloomParams(10, 0), ErrorCode.InvalidArgument, /false-positive rate must be between 0 and 1/);
    expectTidalError(() => bloomParams(-1), ErrorCode.InvalidArgument, /non-negative integer/);
  });

  it('bloom filter - has no false negatives and a measured false-positive rate near 0.001 (Int64 keys)', () => {
    const n = 100_000;
    const keys = randomInt64s(n, 11);
    const bloom = BloomFilter.forCapacity(n);
    bloom.addInt64Column(keys);
    for (let i = 0; i < n; i++) expect(bloom.mightContain(keys[i]!)).toBe(true);
    const present = new Set(keys);
    const probes = randomInt64s(300_000, 12);
    let fp = 0;
    let tried = 0;
    for (const p of probes) {
      if (present.has(p)) continue;
      tried++;
      if (bloom.mightContain(p)) fp++;
    }
    const rate = fp / tried;
    console.log(`bloom filter Int64: ${n} keys, ${bloom.numBits} bits, k=${bloom.numHashes}, measured fp rate ${rate.toFixed(5)} over ${tried} absent keys`);
    expect(rate).toBeGreaterThan(0.0004);
    expect(rate).toBeLessThan(0.0018);
  });

  it('bloom filter - has no false negatives and a measured false-positive rate near 0.001 (VarChar keys)', () => {
    const n = 50_000;
    const keys = Array.from({ length: n }, (_, i) => `user-${i}-ключ`);
    const schema = { ...VARCHAR_PK_SCHEMA, fields: VARCHAR_PK_SCHEMA.fields.map((f) => (f.name === 'id' ? { ...f, maxLength: 64 } : f)) };
    const batch = buildInsertBatch({ id: keys, emb: new Float32Array(n * 2) }, schema);
    const data = batch.getChild('id')!.data[0]!;
    const bloom = BloomFilter.forCapacity(n);
    bloom.addUtf8Column(data.valueOffsets as Int32Array, data.values as Uint8Array, n);
    for (const k of keys) expect(bloom.mightContain(k)).toBe(true);
    let fp = 0;
    const tried = 200_000;
    for (let i = 0; i < tried; i++) if (bloom.mightContain(`other-${i}`)) fp++;
    const rate = fp / tried;
    console.log(`bloom filter VarChar: ${n} keys, measured fp rate ${rate.toFixed(5)} over ${tried} absent keys`);
    expect(rate).toBeGreaterThan(0.0004);
    expect(rate).toBeLessThan(0.0018);
  });

  it('bloom filter - add() and the column paths set the same bits; JSON round-trips them', () => {
    const keys = randomInt64s(500, 5);
    const a = BloomFilter.forCapacity(500);
    a.addInt64Column(keys);
    const b = BloomFilter.forCapacity(500);
    for (const k of keys) b.add(k);
    expect(Buffer.from(a.bits).equals(Buffer.from(b.bits))).toBe(true);
    const back = BloomFilter.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    expect(back.numBits).toBe(a.numBits);
    expect(back.numHashes).toBe(a.numHashes);
    expect(Buffer.from(back.bits).equals(Buffer.from(a.bits))).toBe(true);
  });

  it('bloom filter - reading rejects another hash scheme or inconsistent sizes', () => {
    const j = BloomFilter.forCapacity(10).toJSON();
    expectTidalError(() => BloomFilter.fromJSON({ ...j, hash: 'xxhash64' }), ErrorCode.Corrupted, /uses hash xxhash64/);
    expectTidalError(() => BloomFilter.fromJSON({ ...j, seeds: [1, 2] }), ErrorCode.Corrupted, /with seeds \[1,2\]/);
    expectTidalError(() => BloomFilter.fromJSON({ ...j, numBits: j.numBits + 8 }), ErrorCode.Corrupted, /inconsistent/);
    expectTidalError(() => BloomFilter.fromJSON(null), ErrorCode.Corrupted, /not an object/);
    expectTidalError(() => BloomFilter.forCapacity(10).add(1n << 63n), ErrorCode.InvalidArgument, /is not an int64/);
  });
});

describe('pk stats and stats logs', () => {
  it('stats log - min, max and row count over several chunks, sliced ones included', () => {
    const pks = [5n, -3n, 99n, 0n, -9_223_372_036_854_775_808n, 17n, 9_223_372_036_854_775_807n, 4n];
    const batch = buildInsertBatch({ pk: pks, title: pks.map(() => 't'), score: pks.map(() => 1), vec: new Float32Array(pks.length * 4) }, ALL_TYPES_SCHEMA);
    const pkData = batch.getChild('pk')!.data[0]!;
    const stats = computePkStats(ALL_TYPES_SCHEMA, [pkData.slice(0, 3), pkData.slice(3, 1), pkData.slice(4, 4)]);
    expect(stats).toMatchObject({ fieldId: 100n, name: 'pk', rowCount: 8, min: -9_223_372_036_854_775_808n, max: 9_223_372_036_854_775_807n });
    const first = computePkStats(ALL_TYPES_SCHEMA, [pkData.slice(0, 4)]);
    expect([first.min, first.max]).toEqual([-3n, 99n]);
    for (const pk of pks) expect(mightContainPk(stats, pk)).toBe(true);
    expect(mightContainPk(first, 100n)).toBe(false); // above max: no filter lookup needed
    expect(mightContainPk(first, -4n)).toBe(false);
    expect(mightContainPk(first, 'a')).toBe(false); // wrong key type
  });

  it('stats log - VarChar min and max follow UTF-8 byte order (code points), not UTF-16 order', () => {
    // UTF-16 puts '😀' (a surrogate pair, 0xD83D...) before '\uFFFF'; UTF-8 and code points put it after.
    const keys = ['b', '\uFFFF', 'a', '😀', 'é'];
    const batch = buildInsertBatch({ id: keys, emb: new Float32Array(10) }, VARCHAR_PK_SCHEMA);
    const stats = computePkStats(VARCHAR_PK_SCHEMA, batch.getChild('id')!);
    expect(stats.min).toBe('a');
    expect(stats.max).toBe('😀');
    for (const k of keys) expect(mightContainPk(stats, k)).toBe(true);
    expect(mightContainPk(stats, '')).toBe(false);
  });

  it('stats log - JSON round trip keeps metadata, range and filter bits', () => {
    const pks = randomInt64s(2000, 9);
    const batch = buildInsertBatch({ pk: pks, title: Array.from(pks, () => 't'), score: new Float32Array(2000), vec: new Float32Array(8000) }, ALL_TYPES_SCHEMA);
    const stats = computePkStats(ALL_TYPES_SCHEMA, batch.getChild('pk')!);
    const meta = { ...INSERT_META, rowCount: 2000 };
    const { bytes, meta: written } = writeStatsLog(stats, meta);
    expect(written).toEqual({ ...meta, kind: 'stats_log' });
    const back = readStatsLog(bytes);
    expect(back.meta).toEqual(written);
    expect(back.stats.min).toBe(stats.min);
    expect(back.stats.max).toBe(stats.max);
    expect(back.stats.rowCount).toBe(2000);
    expect(Buffer.from(back.stats.bloom.bits).equals(Buffer.from(stats.bloom.bits))).toBe(true);
    for (const pk of pks) expect(mightContainPk(back.stats, pk)).toBe(true);
    const json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    expect(Object.keys(json)).toEqual(['kind', 'formatVersion', 'collectionId', 'partitionId', 'segmentId', 'schemaVersion', 'startPosition', 'endPosition', 'rowCount', 'timestampFrom', 'timestampTo', 'pk']);
    expect(json.pk.bloomFilter).toMatchObject({ hash: 'murmur3_x86_32_double', seeds: [0, 0x9747b28c], numHashes: 10 });
  });

  it('stats log - stats of an insert log read back equal the stats of the chunks that wrote it', () => {
    const mk = (from: number, n: number) =>
      buildInsertBatch({ pk: new BigInt64Array(n).map((_, i) => BigInt((from + i) * 7919)), title: new Array(n).fill('x'), score: new Float32Array(n), vec: new Float32Array(n * 4) }, ALL_TYPES_SCHEMA);
    const batches = [mk(0, 30), mk(30, 12)];
    const log = writeInsertLog(
      ALL_TYPES_SCHEMA,
      batches.map((b) => ({ batch: b, timestamps: new Array(b.numRows).fill(3n), rowIds: new Array(b.numRows).fill(1n) })),
      SCOPE,
    );
    const fromChunks = computePkStats(ALL_TYPES_SCHEMA, batches.map((b) => b.getChild('pk')!.data[0]!));
    const fromLog = computePkStats(ALL_TYPES_SCHEMA, readInsertLog(log.bytes).table.getChild('pk')!);
    expect(Buffer.from(writeStatsLog(fromLog, log.meta).bytes).equals(Buffer.from(writeStatsLog(fromChunks, log.meta).bytes))).toBe(true);
  });

  it('stats log - errors: no rows, wrong column type, row count mismatch, bytes that are not a stats log', () => {
    const batch = buildInsertBatch({ id: ['a'], emb: [[1, 2]] }, VARCHAR_PK_SCHEMA);
    expectTidalError(() => computePkStats(ALL_TYPES_SCHEMA, []), ErrorCode.InvalidArgument, /at least one row/);
    expectTidalError(() => computePkStats(ALL_TYPES_SCHEMA, batch.getChild('id')!), ErrorCode.InvalidArgument, /primary key "pk" is Int64; the column given is Utf8/);
    const stats = computePkStats(VARCHAR_PK_SCHEMA, batch.getChild('id')!);
    expectTidalError(() => writeStatsLog(stats, { ...INSERT_META, rowCount: 2 }), ErrorCode.InvalidArgument, /cover 1 rows; the insert log holds 2/);
    expectTidalError(() => readStatsLog(utf8('{not json')), ErrorCode.Corrupted, /not UTF-8 JSON/);
    expectTidalError(() => readStatsLog(new Uint8Array([0xff, 0xfe])), ErrorCode.Corrupted, /not UTF-8 JSON/);
    const good = JSON.parse(Buffer.from(writeStatsLog(stats, { ...INSERT_META, rowCount: 1 }).bytes).toString());
    const mutate = (m: (j: Record<string, unknown>) => void) => {
      const j = structuredClone(good);
      m(j);
      return utf8(JSON.stringify(j));
    };
    expectTidalError(() => readStatsLog(mutate((j) => (j.kind = 'insert_log'))), ErrorCode.Corrupted, /kind stats_log; the file says insert_log/);
    expectTidalError(() => readStatsLog(mutate((j) => (j.formatVersion = 9))), ErrorCode.Corrupted, /format version 9/);
    expectTidalError(() => readStatsLog(mutate((j) => delete j.pk)), ErrorCode.Corrupted, /lacks "pk"/);
    expectTidalError(() => readStatsLog(mutate((j) => ((j.pk as Record<string, unknown>).dataType = 'Bool'))), ErrorCode.Corrupted, /pk.dataType must be Int64 or VarChar, got Bool/);
    expectTidalError(() => readStatsLog(mutate((j) => (j.segmentId = 5))), ErrorCode.Corrupted, /segmentId must be a string/);
  });
});
