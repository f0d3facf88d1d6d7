/**
 * The Insert message's row codec, shared by the proxy (encode) and the DataNode (decode): the user
 * fields of the rows as one Arrow record batch, serialised as an Arrow IPC *stream* (one schema
 * message, one record batch, end-of-stream marker) in `InsertMsg.arrow_batch`. RowID and Timestamp
 * are not in the batch; they travel as the message's `row_ids` and `timestamps`.
 *
 * Usage:
 *   const bytes = encodeInsertBatch({ pk: new BigInt64Array([1n, 2n]), vec: new Float32Array(2 * 128) }, schema);
 *   const batch = decodeInsertBatch(bytes, schema, 2); // RecordBatch, columns in schema order
 */
import {
  makeData,
  MessageReader,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Struct,
  type Data,
  type RecordBatchFileReader,
  type RecordBatchStreamReader,
  type Schema,
} from 'apache-arrow';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import type { CollectionSchema } from '../../gen/schema.js';
import { ErrorCode, TidalError, errors } from '../errors.js';
import { arrowSchemaOf, checkArrowFields, checkColumnData, type CheckCode } from './arrow-schema.js';
import { buildColumn, columnRows, type ColumnInput } from './column-builder.js';

/** Columnar rows: one input per field name (see column-builder.ts for what each type accepts). */
export type InsertColumns = Readonly<Record<string, ColumnInput>>;

/** One row as a plain object keyed by field name (the convenience path; columns are faster). */
export type InsertRow = Readonly<Record<string, unknown>>;

/** A record batch of `schema`'s user fields from column data (`data[i]` for `schema.fields[i]`). */
export function batchOf(schema: CollectionSchema, data: readonly Data[], numRows: number): RecordBatch {
  const arrowSchema = arrowSchemaOf(schema);
  const struct = makeData({ type: new Struct(arrowSchema.fields), length: numRows, nullCount: 0, children: data as Data[] });
  return new RecordBatch(arrowSchema, struct);
}

/**
 * Builds a record batch of the collection's user fields from columnar input, without per-row
 * objects (typed arrays are used as they are). Every column must have the same row count; a
 * field left out is filled with its default value or nulls when the schema allows, else an error.
 * Throws INVALID_ARGUMENT naming the field (and row) for an unknown field, a missing required
 * field, a wrong type, a wrong dim, a row-count mismatch, a non-finite vector value or text longer
 * than max_length.
 */
export function buildInsertBatch(columns: InsertColumns, schema: CollectionSchema): RecordBatch {
  arrowSchemaOf(schema); // rejects an unusable schema before any column is built
  const known = new Set(schema.fields.map((f) => f.name));
  for (const name of Object.keys(columns)) {
    if (!known.has(name)) {
      throw errors.invalidArgument(`unknown field "${name}"; collection "${schema.name}" has [${[...known].join(', ')}]`, { field: name });
    }
  }
  let n: number | undefined;
  for (const f of schema.fields) {
    const input = columns[f.name];
    if (input !== undefined) {
      n = columnRows(f, input);
      break;
    }
  }
  if (n === undefined) throw errors.invalidArgument(`no columns given; collection "${schema.name}" has [${[...known].join(', ')}]`);
  const rows = n;
  const data = schema.fields.map((f) => buildColumn(f, columns[f.name], rows));
  return batchOf(schema, data, rows);
}

/**
 * Builds a record batch from row objects (convenience for tests, the CLI and small inserts). Each
 * row is an object keyed by field name; vectors are number arrays or Float32Arrays. Same rules
 * and errors as {@link buildInsertBatch}, plus INVALID_ARGUMENT for a row that is not an object or
 * names an unknown field.
 */
export function buildInsertBatchFromRows(rows: readonly InsertRow[], schema: CollectionSchema): RecordBatch {
  if (!Array.isArray(rows)) throw errors.invalidArgument('rows must be an array of objects');
  const known = new Set(schema.fields.map((f) => f.name));
  const seen = new Set<string>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw errors.invalidArgument(`row ${i} is not an object`, { row: i });
    for (const key of Object.keys(row)) {
      if (!known.has(key)) throw errors.invalidArgument(`row ${i}: unknown field "${key}"; collection "${schema.name}" has [${[...known].join(', ')}]`, { row: i, field: key });
      seen.add(key);
    }
  }
  const n = rows.length;
  const data = schema.fields.map((f) => {
    // A field no row names is absent (default / nulls / error), like a missing column.
    if (!seen.has(f.name)) return buildColumn(f, undefined, n);
    const values = new Array<unknown>(n);
    for (let i = 0; i < n; i++) values[i] = rows[i]![f.name];
    return buildColumn(f, values, n);
  });
  return batchOf(schema, data, n);
}

/**
 * Checks a record batch against the collection schema (columns, types, nulls, max_length) and
 * returns it over the canonical Arrow schema of the collection ({@link arrowSchemaOf}). Throws a
 * TidalError with `code` (INVALID_ARGUMENT for caller input, CORRUPTED for decoded bytes).
 */
export function checkInsertBatch(batch: RecordBatch, schema: CollectionSchema, code: CheckCode = ErrorCode.InvalidArgument, what = 'insert batch'): RecordBatch {
  checkArrowFields(batch.schema.fields, schema, code, what);
  const children = batch.data.children;
  schema.fields.forEach((f, i) => checkColumnData(children[i]!, f, code, what));
  if (batch.schema === arrowSchemaOf(schema)) return batch;
  return batchOf(schema, children, batch.numRows);
}

/**
 * Encodes rows as the Insert message's `arrow_batch`: Arrow IPC stream bytes of one record batch.
 * `input` is columnar data (built with {@link buildInsertBatch}) or a record batch (checked with
 * {@link checkInsertBatch}). Deterministic: the same rows give the same bytes. Throws
 * INVALID_ARGUMENT as those two do.
 */
export function encodeInsertBatch(input: InsertColumns | RecordBatch, schema: CollectionSchema): Uint8Array {
  const batch = input instanceof RecordBatch ? checkInsertBatch(input, schema) : buildInsertBatch(input, schema);
  return RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
}

/**
 * Decodes an Insert message's `arrow_batch` and checks it against the collection schema: an Arrow
 * IPC stream of exactly one record batch whose columns are the schema's user fields, in order,
 * with the mapped types, no nulls in non-nullable fields and VarChar values within max_length;
 * `expectedRows` (the message's `num_rows`) is checked when given. The batch's buffers are views
 * of `bytes` (no copy) when they are 8-byte aligned. Throws CORRUPTED describing the first problem.
 *
 * Every message of a collection starts with the same schema message (the proxy's encoder is
 * deterministic): once a stream with a schema message passed the checks, later streams that start
 * with those exact bytes skip parsing and checking the schema, and their record batch is loaded
 * directly ({@link decodeKnown}). Anything else takes the full path.
 */
export function decodeInsertBatch(bytes: Uint8Array, schema: CollectionSchema, expectedRows?: number): RecordBatch {
  let batch = decodeKnown(bytes, schema);
  if (batch !== undefined) {
    const children = batch.data.children;
    schema.fields.forEach((f, i) => checkColumnData(children[i]!, f, ErrorCode.Corrupted, 'insert batch'));
  } else {
    batch = decodeFull(bytes, schema);
  }
  if (expectedRows !== undefined && batch.numRows !== expectedRows) {
    throw errors.corrupted(`insert batch holds ${batch.numRows} rows; the message says ${expectedRows}`, undefined, { rows: batch.numRows, expectedRows });
  }
  return batch;
}

/** Per collection schema (object): the schema message bytes a checked stream started with. */
const knownSchemaMessages = new WeakMap<CollectionSchema, Uint8Array>();

/** Bytes of the first message of an IPC stream (the schema message: metadata, no body), or undefined. */
function firstMessageBytes(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.byteLength < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const continuation = view.getInt32(0, true) === -1;
  const prefix = continuation ? 8 : 4;
  const length = view.getInt32(continuation ? 4 : 0, true);
  if (length <= 0 || prefix + length > bytes.byteLength) return undefined;
  return bytes.subarray(0, prefix + length);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * The record batch of a stream that starts with the known schema message of `schema`, loaded
 * over the canonical Arrow schema; undefined when the schema message is not the known one, or the
 * rest is anything but one uncompressed record batch then the end (the full path then decides, and
 * names the problem).
 */
function decodeKnown(bytes: Uint8Array, schema: CollectionSchema): RecordBatch | undefined {
  const known = knownSchemaMessages.get(schema);
  if (known === undefined || bytes.byteLength <= known.byteLength || !sameBytes(bytes.subarray(0, known.byteLength), known)) return undefined;
  try {
    const reader = new MessageReader(bytes.subarray(known.byteLength));
    const message = reader.readMessage();
    if (message === null || !message.isRecordBatch()) return undefined;
    const header = message.header();
    if (header.compression !== null) return undefined;
    const body = reader.readMessageBody(message.bodyLength);
    if (reader.readMessage() !== null) return undefined;
    const arrowSchema: Schema = arrowSchemaOf(schema);
    const children = new VectorLoader(body, header.nodes, header.buffers, new Map(), message.version, header.variadicBufferCounts).visitMany(arrowSchema.fields);
    return new RecordBatch(arrowSchema, makeData({ type: new Struct(arrowSchema.fields), length: header.length, nullCount: 0, children }));
  } catch {
    return undefined;
  }
}

/** Parses the whole stream (schema included) and checks it; remembers its schema message when it passes. */
function decodeFull(bytes: Uint8Array, schema: CollectionSchema): RecordBatch {
  const batches: RecordBatch[] = [];
  try {
    const reader: RecordBatchFileReader | RecordBatchStreamReader = RecordBatchReader.from(bytes);
    // isFile(), not !isStream(): the file reader is a kind of stream reader in apache-arrow.
    if (reader.isFile() || !reader.isStream()) throw errors.corrupted('insert batch is not an Arrow IPC stream (it is an IPC file or other bytes)');
    if (reader.open().schema == null) throw errors.corrupted('insert batch holds no Arrow schema');
    for (const b of reader) batches.push(b);
  } catch (err) {
    if (err instanceof TidalError) throw err;
    throw errors.corrupted(`insert batch is not a readable Arrow IPC stream: ${(err as Error).message}`, err);
  }
  if (batches.length !== 1) throw errors.corrupted(`insert batch must hold exactly one record batch, found ${batches.length}`);
  const batch = checkInsertBatch(batches[0]!, schema, ErrorCode.Corrupted);
  if (!knownSchemaMessages.has(schema)) {
    const first = firstMessageBytes(bytes);
    if (first !== undefined) knownSchemaMessages.set(schema, first.slice());
  }
  return batch;
}
