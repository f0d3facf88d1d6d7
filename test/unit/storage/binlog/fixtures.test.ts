// Codecs checked against committed binary fixtures (test/fixtures/binlog, made by generate.ts):
// the committed bytes decode to exactly the values below, and today's encoders reproduce them
// byte for byte (the encoders are deterministic).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { decodeInsertBatch } from '../../../../src/common/arrow/index.js';
import { readDeltaLog, readInsertLog, readStatsLog } from '../../../../src/storage/binlog/index.js';
import { valuesOf } from './helpers.js';
import { ALL_TYPES_SCHEMA, END, START, VARCHAR_PK_SCHEMA, encodeFixtures } from '../../../fixtures/binlog/fixture-data.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/binlog');
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(dir, name)));

const PKS = [-9_223_372_036_854_775_808n, 0n, 42n, 9_223_372_036_854_775_807n, 7n];
const TITLES = ['héllo', '', '日本', 'x', 'sixteen-bytes-ok'];
const FLAGS = [true, null, false, null, true];
const SCORES = [1.5, -0.25, 3.75, 0, 100];
const WEIGHTS = [1.25, 0.5, 2.5, 0.5, 0.5];
const VECS = [0, 1, 2, 3, 0.5, -0.5, 1e-3, 1e3, -1, -2, -3, -4, 4, 5, 6, 7, 8, 9, 10, 11];
const TS = [449_000_000_000_000_000n, 449_000_000_000_000_001n, 449_000_000_000_000_002n, 449_000_000_000_262_144n, 449_000_000_000_000_005n];

describe('binlog fixtures', () => {
  it('binlog fixtures - today\'s encoders reproduce every committed fixture byte for byte', () => {
    const encoded = encodeFixtures();
    expect([...encoded.keys()].sort()).toEqual(['delta-log-int64.arrow', 'delta-log-varchar.arrow', 'insert-batch.arrow', 'insert-log.arrow', 'stats-log.json']);
    for (const [name, bytes] of encoded) {
      expect(Buffer.from(bytes).equals(Buffer.from(fixture(name))), `${name} differs from the committed fixture`).toBe(true);
    }
  });

  it('binlog fixtures - the committed insert batch decodes to the rows of the first message', () => {
    const batch = decodeInsertBatch(fixture('insert-batch.arrow'), ALL_TYPES_SCHEMA, 3);
    expect(batch.numRows).toBe(3);
    expect([...(batch.getChild('pk')!.toArray() as BigInt64Array)]).toEqual(PKS.slice(0, 3));
    expect(batch.getChild('title')!.toArray()).toEqual(TITLES.slice(0, 3));
    expect([...batch.getChild('flag')!]).toEqual(FLAGS.slice(0, 3));
    expect([...(batch.getChild('score')!.toArray() as Float32Array)]).toEqual(SCORES.slice(0, 3));
    expect([...(batch.getChild('weight')!.toArray() as Float64Array)]).toEqual(WEIGHTS.slice(0, 3));
    expect([...valuesOf(batch.getChild('vec')!.data[0]!.children[0]!)]).toEqual([...new Float32Array(VECS.slice(0, 12))]);
  });

  it('binlog fixtures - the committed insert log decodes to the exact rows and metadata', () => {
    const bytes = fixture('insert-log.arrow');
    const { table, meta } = readInsertLog(bytes, ALL_TYPES_SCHEMA);
    expect(meta).toEqual({
      kind: 'insert_log',
      collectionId: 11n,
      partitionId: 22n,
      segmentId: 33n,
      schemaVersion: 2,
      startPosition: START,
      endPosition: END,
      rowCount: 5,
      timestampFrom: 449_000_000_000_000_000n,
      timestampTo: 449_000_000_000_262_144n,
    });
    // And through plain apache-arrow, as any reader would see it.
    const plain = tableFromIPC(bytes);
    expect(plain.schema.fields.map((f) => f.name)).toEqual(['RowID', 'Timestamp', 'pk', 'title', 'flag', 'score', 'weight', 'vec']);
    for (const t of [table, plain]) {
      expect([...(t.getChild('RowID')!.toArray() as BigInt64Array)]).toEqual([1000n, 1001n, 1002n, 1003n, 1004n]);
      expect([...(t.getChild('Timestamp')!.toArray() as BigUint64Array)]).toEqual(TS);
      expect([...(t.getChild('pk')!.toArray() as BigInt64Array)]).toEqual(PKS);
      expect(t.getChild('title')!.toArray()).toEqual(TITLES);
      expect([...t.getChild('flag')!]).toEqual(FLAGS);
      expect([...(t.getChild('score')!.toArray() as Float32Array)]).toEqual(SCORES);
      expect([...(t.getChild('weight')!.toArray() as Float64Array)]).toEqual(WEIGHTS);
      expect([...valuesOf(t.getChild('vec')!.data[0]!.children[0]!)]).toEqual([...new Float32Array(VECS)]);
    }
  });

  it('binlog fixtures - the committed delta logs decode to the deleted keys and their timestamps', () => {
    const ints = readDeltaLog(fixture('delta-log-int64.arrow'), ALL_TYPES_SCHEMA);
    expect([...(ints.table.getChild('pk')!.toArray() as BigInt64Array)]).toEqual([42n, -1n, 7n]);
    expect([...(ints.table.getChild('ts')!.toArray() as BigUint64Array)]).toEqual([449_000_000_000_000_010n, 449_000_000_000_000_011n, 449_000_000_000_000_009n]);
    expect(ints.meta).toMatchObject({ kind: 'delta_log', rowCount: 3, timestampFrom: 449_000_000_000_000_009n, timestampTo: 449_000_000_000_000_011n, segmentId: 33n });
    const strs = readDeltaLog(fixture('delta-log-varchar.arrow'), VARCHAR_PK_SCHEMA);
    expect(strs.table.getChild('pk')!.toArray()).toEqual(['a', 'ünï', '']);
    expect([...(strs.table.getChild('ts')!.toArray() as BigUint64Array)]).toEqual([5n, 6n, 7n]);
    expect(strs.meta).toMatchObject({ rowCount: 3, timestampFrom: 5n, timestampTo: 7n, schemaVersion: 0 });
  });

  it('binlog fixtures - the committed stats log decodes to the key range and a filter that holds every key', () => {
    const { meta, stats } = readStatsLog(fixture('stats-log.json'));
    expect(meta).toMatchObject({ kind: 'stats_log', collectionId: 11n, segmentId: 33n, rowCount: 5, schemaVersion: 2 });
    expect(stats).toMatchObject({ fieldId: 100n, name: 'pk', min: -9_223_372_036_854_775_808n, max: 9_223_372_036_854_775_807n, rowCount: 5 });
    expect(stats.bloom.numBits).toBe(72);
    expect(stats.bloom.numHashes).toBe(10);
    for (const pk of PKS) expect(stats.bloom.mightContain(pk)).toBe(true);
  });

  it('binlog fixtures - a batch written by pyarrow (nullable fields, no field ids) decodes and checks', () => {
    const batch = decodeInsertBatch(fixture('pyarrow-insert-batch.arrow'), ALL_TYPES_SCHEMA, 2);
    expect([...(batch.getChild('pk')!.toArray() as BigInt64Array)]).toEqual([1n, 2n]);
    expect(batch.getChild('title')!.toArray()).toEqual(['a', 'bb']);
    expect([...batch.getChild('flag')!]).toEqual([true, null]);
    expect([...valuesOf(batch.getChild('vec')!.data[0]!.children[0]!)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
