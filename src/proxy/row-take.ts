/**
 * Gathers chosen rows of a record batch into a new, contiguous batch by copying buffers (typed
 * array gathers), never by materialising row objects. How the proxy cuts one insert into
 * per-shard, per-segment, size-bounded messages. Covers the column types a Tidal collection has:
 * Int64, Float32, Float64, Bool, Utf8 and FixedSizeList<Float32>, with or without nulls.
 *
 * Arrow JS convention (apache-arrow `Data`): a sliced Data's value buffers already start at its
 * first row; `offset` indexes only the bit-packed buffers (validity, Bool values).
 */
import { makeData, Type, type Data } from 'apache-arrow';
import type { RecordBatch } from 'apache-arrow';
import { batchOf } from '../common/arrow/index.js';
import { errors } from '../common/errors.js';
import type { CollectionSchema } from '../gen/schema.js';

/** Row indices, in the order the new batch holds them. */
export type RowIndices = Int32Array | Uint32Array;

function bitmapBytes(n: number): number {
  return ((n + 63) >> 6) << 3;
}

function getBit(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
}

/** Gathers the validity bitmap; undefined when the result has no nulls. */
function takeValidity(data: Data, rows: RowIndices): { bitmap: Uint8Array | undefined; nullCount: number } {
  const src = data.nullBitmap;
  if (data.nullCount === 0 || src === undefined || src.length === 0) return { bitmap: undefined, nullCount: 0 };
  const out = new Uint8Array(bitmapBytes(rows.length));
  let nulls = 0;
  for (let j = 0; j < rows.length; j++) {
    if (getBit(src, data.offset + rows[j]!)) out[j >> 3]! |= 1 << (j & 7);
    else nulls++;
  }
  return nulls === 0 ? { bitmap: undefined, nullCount: 0 } : { bitmap: out, nullCount: nulls };
}

type FixedArray = BigInt64Array | Float32Array | Float64Array;

function takeFixed(values: FixedArray, rows: RowIndices): FixedArray {
  const Ctor = values.constructor as { new (n: number): FixedArray };
  const out = new Ctor(rows.length);
  for (let j = 0; j < rows.length; j++) out[j] = values[rows[j]!]!;
  return out;
}

function takeBoolValues(data: Data, rows: RowIndices): Uint8Array {
  const src = data.values as Uint8Array;
  const out = new Uint8Array(bitmapBytes(rows.length));
  for (let j = 0; j < rows.length; j++) if (getBit(src, data.offset + rows[j]!)) out[j >> 3]! |= 1 << (j & 7);
  return out;
}

function takeUtf8(data: Data, rows: RowIndices): { offsets: Int32Array; bytes: Uint8Array } {
  const srcOffsets = data.valueOffsets as Int32Array;
  const srcBytes = data.values as Uint8Array;
  const offsets = new Int32Array(rows.length + 1);
  let total = 0;
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!;
    total += srcOffsets[r + 1]! - srcOffsets[r]!;
    offsets[j + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!;
    bytes.set(srcBytes.subarray(srcOffsets[r]!, srcOffsets[r + 1]!), offsets[j]!);
  }
  return { offsets, bytes };
}

function takeVectors(data: Data, rows: RowIndices): Data {
  const child = data.children[0]!;
  const dim = (data.type as unknown as { listSize: number }).listSize;
  const src = child.values as Float32Array;
  const out = new Float32Array(rows.length * dim);
  // Copy runs of consecutive rows at once (a slice of the batch is one run).
  let j = 0;
  while (j < rows.length) {
    const start = rows[j]!;
    let end = j + 1;
    while (end < rows.length && rows[end]! === start + (end - j)) end++;
    out.set(src.subarray(start * dim, (start + (end - j)) * dim), j * dim);
    j = end;
  }
  return makeData({ type: child.type, length: rows.length * dim, nullCount: 0, data: out } as never);
}

/** The rows `rows` of one column, as a new Data of the same type with offset 0. */
export function takeColumn(data: Data, rows: RowIndices): Data {
  const { type } = data;
  const { bitmap, nullCount } = takeValidity(data, rows);
  const length = rows.length;
  switch (type.typeId) {
    case Type.Int:
    case Type.Float:
      return makeData({ type, length, nullCount, nullBitmap: bitmap, data: takeFixed(data.values as FixedArray, rows) } as never);
    case Type.Bool:
      return makeData({ type, length, nullCount, nullBitmap: bitmap, data: takeBoolValues(data, rows) } as never);
    case Type.Utf8: {
      const { offsets, bytes } = takeUtf8(data, rows);
      return makeData({ type, length, nullCount, nullBitmap: bitmap, valueOffsets: offsets, data: bytes } as never);
    }
    case Type.FixedSizeList:
      return makeData({ type, length, nullCount, nullBitmap: bitmap, child: takeVectors(data, rows) } as never);
    default:
      throw errors.invalidArgument(`cannot gather rows of Arrow type ${String(type)}`);
  }
}

/** The rows `rows` of `batch` (a batch of `schema`'s user fields) as a new batch, in that order. */
export function takeRows(batch: RecordBatch, schema: CollectionSchema, rows: RowIndices): RecordBatch {
  const children = batch.data.children;
  return batchOf(
    schema,
    children.map((c) => takeColumn(c, rows)),
    rows.length,
  );
}
