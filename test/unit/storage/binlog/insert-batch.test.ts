// The Insert message's row codec (src/common/arrow): schema mapping, builders, encode/decode and
// the errors for input or bytes that do not match the collection schema.
import { Bool, FixedSizeList, Float32, Float64, Int64, RecordBatch, RecordBatchFileWriter, RecordBatchStreamWriter, Type, Utf8 } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import {
  arrowSchemaOf,
  buildInsertBatch,
  buildInsertBatchFromRows,
  decodeInsertBatch,
  encodeInsertBatch,
  type InsertColumns,
} from '../../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../../src/common/errors.js';
import { DataType, type CollectionSchema } from '../../../../src/gen/schema.js';
import { ALL_TYPES_SCHEMA, CHUNK_A, VARCHAR_PK_SCHEMA, field } from '../../../fixtures/binlog/fixture-data.js';
import { expectTidalError, randomFloats, sameBytes, valuesOf } from './helpers.js';

const S = ALL_TYPES_SCHEMA;

function withFields(schema: CollectionSchema, change: (f: CollectionSchema['fields'][number]) => CollectionSchema['fields'][number]): CollectionSchema {
  return { ...schema, fields: schema.fields.map(change) };
}

describe('arrowSchemaOf', () => {
  it('arrowSchemaOf - maps every data type and carries field ids and the primary key flag', () => {
    const schema = arrowSchemaOf(S);
    const f = schema.fields;
    expect(f.map((x) => x.name)).toEqual(['pk', 'title', 'flag', 'score', 'weight', 'vec']);
    expect(f[0]!.type).toBeInstanceOf(Int64);
    expect(f[1]!.type).toBeInstanceOf(Utf8);
    expect(f[2]!.type).toBeInstanceOf(Bool);
    expect(f[3]!.type).toBeInstanceOf(Float32);
    expect(f[4]!.type).toBeInstanceOf(Float64);
    expect(f[5]!.type).toBeInstanceOf(FixedSizeList);
    expect((f[5]!.type as FixedSizeList).listSize).toBe(4);
    expect((f[5]!.type as FixedSizeList).children[0]!.type.typeId).toBe(Type.Float);
    expect(f.map((x) => x.metadata.get('field_id'))).toEqual(['100', '101', '102', '103', '104', '105']);
    expect(f[0]!.metadata.get('primary_key')).toBe('true');
    expect(f[1]!.metadata.has('primary_key')).toBe(false);
    expect(f.map((x) => x.nullable)).toEqual([false, false, true, false, false, false]);
    expect(arrowSchemaOf(S)).toBe(schema); // cached per schema object
  });

  it('arrowSchemaOf - rejects unsupported types, a vector without dim, reserved and duplicate names', () => {
    const base = (f: ReturnType<typeof field>): CollectionSchema => ({ ...S, fields: [S.fields[0]!, f] });
    expectTidalError(() => arrowSchemaOf(base(field({ fieldId: 101n, name: 'x', dataType: DataType.None }))), ErrorCode.InvalidArgument, /field "x": data type None has no Arrow mapping/);
    expectTidalError(() => arrowSchemaOf(base(field({ fieldId: 101n, name: 'v', dataType: DataType.FloatVector, dim: 0 }))), ErrorCode.InvalidArgument, /needs an integer dim >= 1, got 0/);
    expectTidalError(() => arrowSchemaOf(base(field({ fieldId: 101n, name: 'Timestamp', dataType: DataType.Int64 }))), ErrorCode.InvalidArgument, /reserved for a system column/);
    expectTidalError(() => arrowSchemaOf(base(field({ fieldId: 101n, name: 'pk', dataType: DataType.Int64 }))), ErrorCode.InvalidArgument, /"pk" appears more than once/);
  });
});

describe('insert batch codec', () => {
  it('insert batch - columns round-trip through IPC stream bytes with every type exact', () => {
    const n = 50;
    const pk = new BigInt64Array(n).map((_, i) => BigInt(i) * 1_000_000_007n - 25n);
    const vec = randomFloats(n * 4, 1);
    const title = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? '' : `t-${i}-ü`));
    const flag = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : i % 2 === 0));
    const score = new Float32Array(n).map((_, i) => i / 8);
    const weight = new Float64Array(n).map((_, i) => Math.PI * i);
    const bytes = encodeInsertBatch({ pk, title, flag, score, weight, vec }, S);
    const batch = decodeInsertBatch(bytes, S, n);
    expect(batch.numRows).toBe(n);
    expect(sameBytes(valuesOf(batch.getChild('pk')!.data[0]!), pk)).toBe(true);
    expect(batch.getChild('title')!.toArray()).toEqual(title);
    expect([...batch.getChild('flag')!]).toEqual(flag);
    expect(sameBytes(valuesOf(batch.getChild('score')!.data[0]!), score)).toBe(true);
    expect(sameBytes(valuesOf(batch.getChild('weight')!.data[0]!), weight)).toBe(true);
    expect(sameBytes(valuesOf(batch.getChild('vec')!.data[0]!.children[0]!), vec)).toBe(true);
  });

  it('insert batch - decoding is zero-copy: column buffers are views of the message bytes', () => {
    const bytes = encodeInsertBatch(CHUNK_A, S);
    const batch = decodeInsertBatch(bytes, S);
    expect(batch.getChild('pk')!.data[0]!.values.buffer).toBe(bytes.buffer);
    expect(batch.getChild('vec')!.data[0]!.children[0]!.values.buffer).toBe(bytes.buffer);
  });

  it('insert batch - rows and columns build the same batch (same bytes)', () => {
    const rows = [
      { pk: -9_223_372_036_854_775_808n, title: 'héllo', flag: true, score: 1.5, weight: 1.25, vec: [0, 1, 2, 3] },
      { pk: 0n, title: '', flag: null, score: -0.25, vec: new Float32Array([0.5, -0.5, 1e-3, 1e3]) },
      { pk: 42, title: '日本', flag: false, score: 3.75, weight: 2.5, vec: [-1, -2, -3, -4] },
    ];
    const fromRows = buildInsertBatchFromRows(rows, S);
    expect(Buffer.from(encodeInsertBatch(fromRows, S)).equals(Buffer.from(encodeInsertBatch(CHUNK_A, S)))).toBe(true);
  });

  it('insert batch - a missing nullable column is all null, a missing column with a default takes it', () => {
    const batch = buildInsertBatch({ pk: [1n, 2n], title: ['a', 'b'], score: [1, 2], vec: new Float32Array(8) }, S);
    expect([...batch.getChild('flag')!]).toEqual([null, null]);
    expect([...(batch.getChild('weight')!.toArray() as Float64Array)]).toEqual([0.5, 0.5]);
    const back = decodeInsertBatch(encodeInsertBatch(batch, S), S);
    expect([...back.getChild('flag')!]).toEqual([null, null]);
  });

  it('insert batch - a sliced record batch encodes only its rows (bit-packed columns too)', () => {
    const n = 21;
    const cols: InsertColumns = {
      pk: new BigInt64Array(n).map((_, i) => BigInt(i)),
      title: Array.from({ length: n }, (_, i) => `s${i}`),
      flag: Array.from({ length: n }, (_, i) => (i % 4 === 0 ? null : i % 3 === 0)),
      score: new Float32Array(n).map((_, i) => i),
      vec: randomFloats(n * 4, 2),
    };
    const slice = buildInsertBatch(cols, S).slice(5, 16);
    const back = decodeInsertBatch(encodeInsertBatch(slice, S), S, 11);
    expect([...(back.getChild('pk')!.toArray() as BigInt64Array)]).toEqual(Array.from({ length: 11 }, (_, i) => BigInt(i + 5)));
    expect(back.getChild('title')!.toArray()).toEqual((cols.title as string[]).slice(5, 16));
    expect([...back.getChild('flag')!]).toEqual((cols.flag as (boolean | null)[]).slice(5, 16));
    expect(sameBytes(valuesOf(back.getChild('vec')!.data[0]!.children[0]!), (cols.vec as Float32Array).subarray(20, 64))).toBe(true);
  });

  it('insert batch - a VarChar primary key round-trips', () => {
    const bytes = encodeInsertBatch({ id: ['k1', 'ключ'], emb: [[1, 2], [3, 4]] }, VARCHAR_PK_SCHEMA);
    const batch = decodeInsertBatch(bytes, VARCHAR_PK_SCHEMA, 2);
    expect(batch.getChild('id')!.toArray()).toEqual(['k1', 'ключ']);
  });
});

describe('insert batch input errors', () => {
  const ok = (): Record<string, unknown> => ({ pk: [1n, 2n], title: ['a', 'b'], flag: [true, false], score: [1, 2], weight: [1, 2], vec: new Float32Array(8) });
  const build = (change: Record<string, unknown>) => () => buildInsertBatch({ ...ok(), ...change } as InsertColumns, S);

  it('insert batch - names an unknown field, a missing required field and a row-count mismatch', () => {
    expectTidalError(build({ extra: [1, 2] }), ErrorCode.InvalidArgument, /unknown field "extra"; collection "fixture_all" has \[pk, title, flag, score, weight, vec\]/);
    expectTidalError(build({ title: undefined }), ErrorCode.InvalidArgument, /field "title": is missing; it is required/);
    expectTidalError(build({ pk: undefined }), ErrorCode.InvalidArgument, /field "pk": is missing; it is required \(the primary key\)/);
    expectTidalError(build({ score: [1, 2, 3] }), ErrorCode.InvalidArgument, /field "score": has 3 rows; the other columns have 2/);
    expectTidalError(() => buildInsertBatch({}, S), ErrorCode.InvalidArgument, /no columns given/);
  });

  it('insert batch - names the field and row of a value of the wrong type or out of range', () => {
    expectTidalError(build({ pk: [1n, 'two'] }), ErrorCode.InvalidArgument, /row 1 of field "pk": expected an Int64 \(bigint or safe integer\), got a string/);
    expectTidalError(build({ pk: [1n, 1n << 63n] }), ErrorCode.InvalidArgument, /row 1 of field "pk": 9223372036854775808 does not fit/);
    expectTidalError(build({ pk: [1.5, 2] }), ErrorCode.InvalidArgument, /row 0 of field "pk": expected an Int64/);
    expectTidalError(build({ score: new Float64Array(2) }), ErrorCode.InvalidArgument, /field "score": a Float column must be a Float32Array or an array of numbers, got a Float64Array/);
    expectTidalError(build({ flag: [true, 1] }), ErrorCode.InvalidArgument, /row 1 of field "flag": expected a boolean, got number 1/);
    expectTidalError(build({ title: ['a', 5] }), ErrorCode.InvalidArgument, /row 1 of field "title": expected a string/);
  });

  it('insert batch - rejects nulls where the field is not nullable and has no default', () => {
    expectTidalError(build({ score: [1, null] }), ErrorCode.InvalidArgument, /row 1 of field "score": is null or missing, but the field is not nullable and has no default value/);
    expectTidalError(build({ vec: [[1, 2, 3, 4], null] }), ErrorCode.InvalidArgument, /row 1 of field "vec": is null or missing; a vector field cannot be null/);
  });

  it('insert batch - rejects wrong vector dims and non-finite vector values', () => {
    expectTidalError(build({ vec: new Float32Array(7) }), ErrorCode.InvalidArgument, /field "vec": a flat Float32Array must hold n × dim \(4\) values, got 7/);
    expectTidalError(build({ vec: [[1, 2, 3, 4], [1, 2, 3]] }), ErrorCode.InvalidArgument, /row 1 of field "vec": the vector has 3 values; dim is 4/);
    expectTidalError(build({ vec: new Float32Array([0, 0, 0, 0, 0, Number.NaN, 0, 0]) }), ErrorCode.InvalidArgument, /row 1 of field "vec": vector element 1 is NaN/);
    expectTidalError(build({ vec: [[1, 2, 3, Infinity], [1, 2, 3, 4]] }), ErrorCode.InvalidArgument, /row 0 of field "vec": vector element 3 is Infinity/);
  });

  it('insert batch - measures VarChar max_length in UTF-8 bytes', () => {
    // 8 × 'é' is 8 characters but 16 bytes: exactly at the limit; 9 is over.
    expect(() => build({ title: ['é'.repeat(8), 'b'] })()).not.toThrow();
    expectTidalError(build({ title: ['a', 'é'.repeat(9)] }), ErrorCode.InvalidArgument, /row 1 of field "title": is 18 UTF-8 bytes long, above max_length 16/);
  });

  it('insert batch - rows that are not objects or name unknown fields are rejected', () => {
    expectTidalError(() => buildInsertBatchFromRows([{ pk: 1n }, 5 as never], S), ErrorCode.InvalidArgument, /row 1 is not an object/);
    expectTidalError(() => buildInsertBatchFromRows([{ pk: 1n, nope: 1 }], S), ErrorCode.InvalidArgument, /row 0: unknown field "nope"/);
  });
});

describe('insert batch decode errors', () => {
  const good = (): Uint8Array => encodeInsertBatch(CHUNK_A, S);

  it('insert batch - garbage, empty bytes and an IPC file are CORRUPTED', () => {
    expectTidalError(() => decodeInsertBatch(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), S), ErrorCode.Corrupted, /not a readable Arrow IPC stream/);
    expectTidalError(() => decodeInsertBatch(new Uint8Array(0), S), ErrorCode.Corrupted, /no Arrow schema/);
    const file = RecordBatchFileWriter.writeAll([buildInsertBatch(CHUNK_A, S)]).toUint8Array(true);
    expectTidalError(() => decodeInsertBatch(file, S), ErrorCode.Corrupted, /not an Arrow IPC stream/);
    const truncated = good().subarray(0, 700);
    expectTidalError(() => decodeInsertBatch(truncated, S), ErrorCode.Corrupted, /insert batch/);
  });

  it('insert batch - a stream with two record batches is CORRUPTED', () => {
    const b = buildInsertBatch(CHUNK_A, S);
    const two = RecordBatchStreamWriter.writeAll([b, b]).toUint8Array(true);
    expectTidalError(() => decodeInsertBatch(two, S), ErrorCode.Corrupted, /exactly one record batch, found 2/);
  });

  it('insert batch - other columns, another type, another dim or another field id are CORRUPTED', () => {
    expectTidalError(() => decodeInsertBatch(good(), VARCHAR_PK_SCHEMA), ErrorCode.Corrupted, /has columns \[pk, title, flag, score, weight, vec\]; collection "fixture_varchar" \(schema version 0\) expects \[id, emb\]/);
    const asDouble = withFields(S, (f) => (f.name === 'score' ? { ...f, dataType: DataType.Double } : f));
    expectTidalError(() => decodeInsertBatch(good(), asDouble), ErrorCode.Corrupted, /column "score" has Arrow type Float32; field type Double needs Float64/);
    const dim8 = withFields(S, (f) => (f.name === 'vec' ? { ...f, dim: 8 } : f));
    expectTidalError(() => decodeInsertBatch(good(), dim8), ErrorCode.Corrupted, /column "vec" has Arrow type FixedSizeList\[4\]<Float32>; field type FloatVector\(dim 8\)/);
    const otherId = withFields(S, (f) => (f.name === 'title' ? { ...f, fieldId: 200n } : f));
    expectTidalError(() => decodeInsertBatch(good(), otherId), ErrorCode.Corrupted, /column "title" has field id 101; the schema says 200/);
  });

  it('insert batch - nulls in a non-nullable field, text over max_length and a wrong row count are CORRUPTED', () => {
    const flagRequired = withFields(S, (f) => (f.name === 'flag' ? { ...f, nullable: false } : f));
    expectTidalError(() => decodeInsertBatch(good(), flagRequired), ErrorCode.Corrupted, /column "flag" has 1 null value\(s\) but the field is not nullable/);
    const shortTitle = withFields(S, (f) => (f.name === 'title' ? { ...f, maxLength: 4 } : f));
    expectTidalError(() => decodeInsertBatch(good(), shortTitle), ErrorCode.Corrupted, /row 0 of column "title" is 6 bytes long, above max_length 4/);
    expectTidalError(() => decodeInsertBatch(good(), S, 4), ErrorCode.Corrupted, /holds 3 rows; the message says 4/);
  });

  it('insert batch - once a schema message is known, later messages are still checked: nulls, rows, extra batches, truncation, another schema', () => {
    const flagRequired = withFields(S, (f) => (f.name === 'flag' ? { ...f, nullable: false } : f));
    const noNulls = { ...CHUNK_A, flag: [true, false, true] };
    const warm = encodeInsertBatch(noNulls, flagRequired);
    expect(decodeInsertBatch(warm, flagRequired, 3).numRows).toBe(3);
    // The second decode of equal bytes (the known schema message): same rows, views of the bytes.
    const again = decodeInsertBatch(warm.slice(), flagRequired, 3);
    expect([...again.getChild('flag')!]).toEqual([true, false, true]);
    expect(again.schema.fields.map((f) => f.name)).toEqual(['pk', 'title', 'flag', 'score', 'weight', 'vec']);
    // Same schema message, but nulls in the non-nullable field.
    const withNulls = buildInsertBatch(CHUNK_A, S);
    const relabelled = RecordBatchStreamWriter.writeAll([new RecordBatch(arrowSchemaOf(flagRequired), withNulls.data)]).toUint8Array(true);
    expect(Buffer.from(relabelled.subarray(0, 64)).equals(Buffer.from(warm.subarray(0, 64)))).toBe(true);
    expectTidalError(() => decodeInsertBatch(relabelled, flagRequired), ErrorCode.Corrupted, /column "flag" has 1 null value\(s\) but the field is not nullable/);
    expectTidalError(() => decodeInsertBatch(warm, flagRequired, 4), ErrorCode.Corrupted, /holds 3 rows; the message says 4/);
    const b = buildInsertBatch(noNulls, flagRequired);
    expectTidalError(() => decodeInsertBatch(RecordBatchStreamWriter.writeAll([b, b]).toUint8Array(true), flagRequired), ErrorCode.Corrupted, /exactly one record batch, found 2/);
    expectTidalError(() => decodeInsertBatch(warm.subarray(0, warm.byteLength - 40), flagRequired), ErrorCode.Corrupted, /insert batch/);
    expectTidalError(() => decodeInsertBatch(good(), flagRequired), ErrorCode.Corrupted, /column "flag"/);
  });

  it('insert batch - encoding a record batch of another schema is INVALID_ARGUMENT', () => {
    const other = buildInsertBatch({ id: ['a'], emb: [[1, 2]] }, VARCHAR_PK_SCHEMA);
    expectTidalError(() => encodeInsertBatch(other, S), ErrorCode.InvalidArgument, /insert batch has columns \[id, emb\]/);
  });
});
