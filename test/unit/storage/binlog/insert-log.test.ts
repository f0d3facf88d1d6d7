// Insert logs: the buffered Insert messages of one sync become one Arrow IPC file that plain
// apache-arrow reads back with exactly the rows, row ids and timestamps that went in.
import { RecordBatchFileWriter, RecordBatchStreamWriter, Schema, tableFromIPC, type RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { buildInsertBatch, decodeInsertBatch, encodeInsertBatch, type InsertColumns } from '../../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../../src/common/errors.js';
import { DataType, type CollectionSchema } from '../../../../src/gen/schema.js';
import { readInsertLog, writeDeltaLog, writeInsertLog, writeInsertLogParts, type InsertLogChunk } from '../../../../src/storage/binlog/index.js';
import { ALL_TYPES_SCHEMA, SCOPE, VARCHAR_PK_SCHEMA, field } from '../../../fixtures/binlog/fixture-data.js';
import { expectTidalError, randomFloats, rng, sameBytes, valuesOf } from './helpers.js';

const S = ALL_TYPES_SCHEMA;
const DIM = 4;

/** `n` rows of every type starting at row `from`, deterministic. */
function rows(from: number, n: number): InsertColumns {
  const next = rng(from + 1);
  return {
    pk: new BigInt64Array(n).map((_, i) => BigInt(from + i) * 3_000_000_019n - 7n),
    title: Array.from({ length: n }, (_, i) => ((from + i) % 5 === 0 ? '' : `r${from + i}-ß`)),
    flag: Array.from({ length: n }, (_, i) => ((from + i) % 3 === 0 ? null : next() < 0.5)),
    score: new Float32Array(n).map(() => next()),
    weight: Array.from({ length: n }, (_, i) => ((from + i) % 4 === 0 ? null : (from + i) / 3)),
    vec: randomFloats(n * DIM, from + 100),
  };
}

/** Chunks as the DataNode holds them: decoded message batches plus timestamps and row ids. */
function chunksOf(sizes: number[]): { chunks: InsertLogChunk[]; columns: InsertColumns[] } {
  const chunks: InsertLogChunk[] = [];
  const columns: InsertColumns[] = [];
  let at = 0;
  for (const n of sizes) {
    const cols = rows(at, n);
    columns.push(cols);
    const batch = decodeInsertBatch(encodeInsertBatch(cols, S), S, n);
    const ts = Array.from({ length: n }, (_, i) => 449_000_000_000_000_000n + BigInt((at + i) * 7 % 23));
    chunks.push({ batch, timestamps: ts, rowIds: new BigInt64Array(n).map((_, i) => 1_000_000n + BigInt(at + i)) });
    at += n;
  }
  return { chunks, columns };
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('insert log', () => {
  it('insert log - plain tableFromIPC reads exactly the rows, row ids and timestamps of every chunk', () => {
    const sizes = [3, 1, 17, 64, 9];
    const { chunks, columns } = chunksOf(sizes);
    const { bytes, meta } = writeInsertLog(S, chunks, SCOPE);
    const table = tableFromIPC(bytes);
    expect(table.batches.length).toBe(1);
    expect(table.numRows).toBe(94);
    expect(table.schema.fields.map((f) => f.name)).toEqual(['RowID', 'Timestamp', 'pk', 'title', 'flag', 'score', 'weight', 'vec']);
    const allPk = columns.flatMap((c) => [...(c.pk as BigInt64Array)]);
    expect([...(table.getChild('pk')!.toArray() as BigInt64Array)]).toEqual(allPk);
    expect(sameBytes(valuesOf(table.getChild('pk')!.data[0]!), BigInt64Array.from(allPk))).toBe(true);
    expect(table.getChild('title')!.toArray()).toEqual(columns.flatMap((c) => c.title as string[]));
    expect([...table.getChild('flag')!]).toEqual(columns.flatMap((c) => c.flag as (boolean | null)[]));
    expect(sameBytes(valuesOf(table.getChild('score')!.data[0]!), concatF32(columns.map((c) => c.score as Float32Array)))).toBe(true);
    expect([...(table.getChild('weight')!.toArray() as Float64Array)]).toEqual(columns.flatMap((c) => (c.weight as (number | null)[]).map((w) => w ?? 0.5)));
    expect(sameBytes(valuesOf(table.getChild('vec')!.data[0]!.children[0]!), concatF32(columns.map((c) => c.vec as Float32Array)))).toBe(true);
    expect([...(table.getChild('RowID')!.toArray() as BigInt64Array)]).toEqual(chunks.flatMap((c) => [...(c.rowIds as BigInt64Array)]));
    expect([...(table.getChild('Timestamp')!.toArray() as BigUint64Array)]).toEqual(chunks.flatMap((c) => c.timestamps as bigint[]));
    expect(meta.rowCount).toBe(94);
  });

  it('insert log - metadata round-trips: ids, schema version, positions, row count, timestamp range', () => {
    const { chunks } = chunksOf([5, 6]);
    const { bytes, meta } = writeInsertLog(S, chunks, SCOPE);
    const all = chunks.flatMap((c) => c.timestamps as bigint[]);
    const expected = {
      kind: 'insert_log',
      collectionId: 11n,
      partitionId: 22n,
      segmentId: 33n,
      schemaVersion: 2,
      startPosition: SCOPE.startPosition,
      endPosition: SCOPE.endPosition,
      rowCount: 11,
      timestampFrom: all.reduce((a, b) => (a < b ? a : b)),
      timestampTo: all.reduce((a, b) => (a > b ? a : b)),
    };
    expect(meta).toEqual(expected);
    const back = readInsertLog(bytes, S);
    expect(back.meta).toEqual(expected);
    expect(back.table.numRows).toBe(11);
    const md = tableFromIPC(bytes).schema.metadata;
    expect(JSON.parse(md.get('tidal.start_position')!)).toEqual({ channelName: 'tidal-dml_0', msgId: '17', timestamp: '449000000000000002' });
    expect(md.get('tidal.segment_id')).toBe('33');
  });

  it('insert log - bytes depend on the rows, not on how they were split into messages or typed', () => {
    const all = chunksOf([40]).chunks[0]!;
    const split = (cuts: number[]): InsertLogChunk[] => {
      const out: InsertLogChunk[] = [];
      let prev = 0;
      for (const cut of [...cuts, 40]) {
        out.push({
          batch: all.batch.slice(prev, cut),
          timestamps: (all.timestamps as bigint[]).slice(prev, cut),
          rowIds: [...(all.rowIds as BigInt64Array).subarray(prev, cut)],
        });
        prev = cut;
      }
      return out;
    };
    const whole = writeInsertLog(S, [all], SCOPE).bytes;
    for (const cuts of [[1], [7, 8, 30], [13, 21, 22, 39]]) {
      expect(Buffer.from(writeInsertLog(S, split(cuts), SCOPE).bytes).equals(Buffer.from(whole)), `split at ${cuts.join(',')}`).toBe(true);
    }
  });

  it('insert log - as pieces: the same bytes as the joined file, the vector and number values viewed in the chunks, not copied', () => {
    const { chunks } = chunksOf([3, 1, 17, 64, 9]);
    const whole = writeInsertLog(S, chunks, SCOPE).bytes;
    const first = writeInsertLogParts(S, chunks, SCOPE);
    // A second log in between reuses the stand-in buffers: the first's pieces must not change.
    const other = writeInsertLogParts(S, chunksOf([5, 6]).chunks, SCOPE);
    expect(first.byteLength).toBe(whole.byteLength);
    expect(Buffer.concat(first.parts).equals(Buffer.from(whole))).toBe(true);
    expect(Buffer.concat(other.parts).equals(Buffer.from(writeInsertLog(S, chunksOf([5, 6]).chunks, SCOPE).bytes))).toBe(true);
    for (const c of chunks) {
      const vec = c.batch.getChild('vec')!.data[0]!.children[0]!.values as Float32Array;
      const score = c.batch.getChild('score')!.data[0]!.values as Float32Array;
      expect(first.parts.some((p) => p.buffer === vec.buffer && p.byteOffset === vec.byteOffset)).toBe(true);
      expect(first.parts.some((p) => p.buffer === score.buffer && p.byteOffset === score.byteOffset)).toBe(true);
    }
    expect(readInsertLog(Buffer.concat(first.parts), S).table.numRows).toBe(94);
  });

  it('insert log - a VarChar primary key schema round-trips', () => {
    const batch = buildInsertBatch({ id: ['b', 'a', 'ключ'], emb: new Float32Array([1, 2, 3, 4, 5, 6]) }, VARCHAR_PK_SCHEMA);
    const { bytes } = writeInsertLog(VARCHAR_PK_SCHEMA, [{ batch, timestamps: [3n, 2n, 1n], rowIds: [7n, 8n, 9n] }], SCOPE);
    const { table, meta } = readInsertLog(bytes, VARCHAR_PK_SCHEMA);
    expect(table.getChild('id')!.toArray()).toEqual(['b', 'a', 'ключ']);
    expect(meta).toMatchObject({ timestampFrom: 1n, timestampTo: 3n, schemaVersion: 0 });
  });

  it('insert log - writing rejects no rows, count mismatches, batches of another schema and bad scopes', () => {
    const { chunks } = chunksOf([4]);
    const c = chunks[0]!;
    expectTidalError(() => writeInsertLog(S, [], SCOPE), ErrorCode.InvalidArgument, /at least one row/);
    expectTidalError(() => writeInsertLog(S, [{ ...c, timestamps: [1n, 2n, 3n] }], SCOPE), ErrorCode.InvalidArgument, /chunk 0 has 4 rows but 3 timestamps and 4 row ids/);
    expectTidalError(() => writeInsertLog(S, [{ ...c, timestamps: [1n, 2n, 3n, -4n] }], SCOPE), ErrorCode.InvalidArgument, /chunk 0 timestamps\[3\] is not a uint64 bigint: -4/);
    const other = buildInsertBatch({ id: ['a'], emb: [[1, 2]] }, VARCHAR_PK_SCHEMA);
    expectTidalError(() => writeInsertLog(S, [c, { batch: other, timestamps: [1n], rowIds: [1n] }], SCOPE), ErrorCode.InvalidArgument, /insert log chunk 1 has columns \[id, emb\]/);
    expectTidalError(() => writeInsertLog(S, [c], { ...SCOPE, segmentId: -1n }), ErrorCode.InvalidArgument, /segmentId must be a non-negative int64/);
    expectTidalError(() => writeInsertLog(S, [c], { ...SCOPE, endPosition: { ...SCOPE.startPosition, msgId: 16n } }), ErrorCode.InvalidArgument, /endPosition \(offset 16\) is before startPosition \(offset 17\)/);
  });

  it('insert log - reading rejects garbage, streams, foreign Arrow files, other kinds and other schemas', () => {
    const { chunks } = chunksOf([4]);
    const good = writeInsertLog(S, chunks, SCOPE).bytes;
    expectTidalError(() => readInsertLog(new Uint8Array([65, 82, 82, 79, 87, 49, 0, 0, 1])), ErrorCode.Corrupted, /not a readable Arrow IPC file/);
    const stream = RecordBatchStreamWriter.writeAll(tableFromIPC(good).batches).toUint8Array(true);
    expectTidalError(() => readInsertLog(stream), ErrorCode.Corrupted, /insert log is not an Arrow IPC file/);
    const foreign = RecordBatchFileWriter.writeAll([chunks[0]!.batch]).toUint8Array(true);
    expectTidalError(() => readInsertLog(foreign), ErrorCode.Corrupted, /lacks schema metadata "tidal.kind"; not a Tidal binlog/);
    const delta = writeDeltaLog(S, [{ pks: [1n], timestamps: [1n] }], SCOPE).bytes;
    expectTidalError(() => readInsertLog(delta), ErrorCode.Corrupted, /expected a binlog of kind insert_log; the file says delta_log/);
    expectTidalError(() => readInsertLog(good, VARCHAR_PK_SCHEMA), ErrorCode.Corrupted, /insert log has columns \[pk, title, flag, score, weight, vec\]/);
    const tooShort: CollectionSchema = { ...S, fields: S.fields.map((f) => (f.name === 'title' ? { ...f, maxLength: 2 } : f)) };
    expectTidalError(() => readInsertLog(good, tooShort), ErrorCode.Corrupted, /column "title" is \d+ bytes long, above max_length 2/);
  });

  it('insert log - reading rejects metadata that lies: another format version, a wrong row count', () => {
    const { chunks } = chunksOf([4]);
    const table = tableFromIPC(writeInsertLog(S, chunks, SCOPE).bytes);
    const rewrite = (key: string, value: string): Uint8Array => {
      const md = new Map(table.schema.metadata);
      md.set(key, value);
      const schema = new Schema(table.schema.fields, md);
      const batches = table.batches.map((b: RecordBatch) => new (b.constructor as typeof RecordBatch)(schema, b.data));
      return RecordBatchFileWriter.writeAll(batches).toUint8Array(true);
    };
    expectTidalError(() => readInsertLog(rewrite('tidal.format_version', '2')), ErrorCode.Corrupted, /format version 2; this reader knows 1/);
    expectTidalError(() => readInsertLog(rewrite('tidal.row_count', '5')), ErrorCode.Corrupted, /holds 4 rows; its metadata says 5/);
    expectTidalError(() => readInsertLog(rewrite('tidal.start_position', '{"channelName":1}')), ErrorCode.Corrupted, /tidal.start_position is not a position/);
    expectTidalError(() => readInsertLog(rewrite('tidal.segment_id', 'x')), ErrorCode.Corrupted, /tidal.segment_id: "x" is not a decimal integer/);
  });

  it('insert log - a schema with only a primary key and a vector needs no other fields', () => {
    const schema: CollectionSchema = {
      name: 'minimal',
      description: '',
      autoId: false,
      version: 0,
      fields: [field({ fieldId: 100n, name: 'pk', dataType: DataType.Int64, isPrimaryKey: true }), field({ fieldId: 101n, name: 'v', dataType: DataType.FloatVector, dim: 1 })],
    };
    const batch = buildInsertBatch({ pk: [5n], v: [[0.25]] }, schema);
    const { table } = readInsertLog(writeInsertLog(schema, [{ batch, timestamps: [1n], rowIds: [2n] }], SCOPE).bytes, schema);
    expect([...valuesOf(table.getChild('v')!.data[0]!.children[0]!)]).toEqual([0.25]);
  });
});

describe('insert log throughput', () => {
  it('insert log - 100k rows × dim 128: encode, decode and write/read times (reported, not asserted)', () => {
    const schema: CollectionSchema = {
      name: 'perf',
      description: '',
      autoId: false,
      version: 0,
      fields: [field({ fieldId: 100n, name: 'pk', dataType: DataType.Int64, isPrimaryKey: true }), field({ fieldId: 101n, name: 'vector', dataType: DataType.FloatVector, dim: 128 })],
    };
    const total = 100_000;
    const perMsg = 2_000; // ~1 MiB of vectors per Insert message, under Kafka's default limit
    const vectors = randomFloats(total * 128, 7);
    const pks = new BigInt64Array(total).map((_, i) => BigInt(i));
    const ts = new BigUint64Array(total).map((_, i) => 449_000_000_000_000_000n + BigInt(i));
    const mb = (total * (128 * 4 + 8 + 8 + 8)) / 2 ** 20;

    let t0 = performance.now();
    const messages: Uint8Array[] = [];
    for (let at = 0; at < total; at += perMsg) {
      messages.push(encodeInsertBatch({ pk: pks.subarray(at, at + perMsg), vector: vectors.subarray(at * 128, (at + perMsg) * 128) }, schema));
    }
    const encodeMs = performance.now() - t0;

    t0 = performance.now();
    const chunks: InsertLogChunk[] = messages.map((m, i) => ({
      batch: decodeInsertBatch(m, schema, perMsg),
      timestamps: ts.subarray(i * perMsg, (i + 1) * perMsg),
      rowIds: pks.subarray(i * perMsg, (i + 1) * perMsg),
    }));
    const decodeMs = performance.now() - t0;

    t0 = performance.now();
    const pieces = writeInsertLogParts(schema, chunks, SCOPE);
    const partsMs = performance.now() - t0;

    t0 = performance.now();
    const log = writeInsertLog(schema, chunks, SCOPE);
    const writeMs = performance.now() - t0;
    expect(pieces.byteLength).toBe(log.bytes.byteLength);

    t0 = performance.now();
    const { table } = readInsertLog(log.bytes, schema);
    const readMs = performance.now() - t0;

    expect(table.numRows).toBe(total);
    expect(sameBytes(valuesOf(table.getChild('vector')!.data[0]!.children[0]!), vectors)).toBe(true);
    expect(sameBytes(valuesOf(table.getChild('Timestamp')!.data[0]!), ts)).toBe(true);
    const rate = (ms: number) => `${ms.toFixed(1)} ms (${(mb / (ms / 1000)).toFixed(0)} MB/s, ${((total / ms) * 1000 / 1e6).toFixed(2)} M rows/s)`;
    console.log(
      [
        `insert log perf: ${total} rows × dim 128, ${mb.toFixed(1)} MB of rows, ${messages.length} messages, log ${(log.bytes.byteLength / 2 ** 20).toFixed(1)} MiB`,
        `  proxy encodeInsertBatch (columns → IPC stream): ${rate(encodeMs)}`,
        `  DataNode decodeInsertBatch (+ schema checks):   ${rate(decodeMs)}`,
        `  writeInsertLogParts (IPC file as pieces):       ${rate(partsMs)}`,
        `  writeInsertLog (pieces joined into one file):   ${rate(writeMs)}`,
        `  readInsertLog (+ schema checks):                  ${rate(readMs)}`,
      ].join('\n'),
    );
  });
});
