/**
 * Insert logs: the rows of one sync of one segment as an Arrow IPC file.
 *
 * Columns: `RowID` (Int64, field id 0), `Timestamp` (UInt64 hybrid timestamp, field id 1), then
 * every user field in schema order, typed as {@link arrowSchemaOf} maps them, each with its
 * `field_id` metadata. One record batch holds all rows: the Insert messages' batches are joined at
 * the buffer level (no per-row objects; {@link writeInsertLogParts} writes fixed-width values
 * straight from the messages' buffers), so a log's bytes depend on its rows, not on how the proxy
 * split them into messages.
 *
 * Timestamp is UInt64 because a hybrid timestamp is an unsigned 64-bit value everywhere else
 * (proto `uint64`, schema.proto's system column); today's values stay below 2^63, so a reader
 * that prefers Int64 may cast without loss.
 *
 * Schema metadata (`tidal.*`, see binlog-meta.ts): kind `insert_log`, format version, collection,
 * partition and segment ids, schema version, start and end positions (JSON), row count, and the
 * smallest and largest timestamp.
 */
import { Int64, makeData, Type, Uint64, type Int as IntType, type RecordBatch, type Table } from 'apache-arrow';
import type { CollectionSchema } from '../../gen/schema.js';
import { ErrorCode, errors } from '../../common/errors.js';
import {
  arrowSchemaOf,
  checkArrowFields,
  checkColumnData,
  checkInsertBatch,
  concatDataDeferred,
  type DeferredPieces,
  ROW_ID_FIELD,
  systemArrowFields,
  TIMESTAMP_FIELD,
} from '../../common/arrow/index.js';
import { readArrowFile, writeArrowFileParts } from './arrow-file.js';
import { binlogMetaOf, checkScope, metaFromArrow, metaToArrow, type BinlogMeta, type BinlogScope, type EncodedBinlog, type EncodedBinlogParts } from './binlog-meta.js';
import { concat64, toBigInt64Array, toBigUint64Array } from './int64-arrays.js';
import { BinlogKind } from './paths.js';

/** The rows of one Insert message as the DataNode buffers them. */
export interface InsertLogChunk {
  /** The user fields, as {@link decodeInsertBatch} returns them. */
  batch: RecordBatch;
  /** Hybrid timestamp of each row (`InsertMsg.timestamps`). */
  timestamps: BigUint64Array | readonly bigint[];
  /** Row id of each row (`InsertMsg.row_ids`). */
  rowIds: BigInt64Array | readonly bigint[];
}

/** An insert log read back: all columns, and its metadata. */
export interface InsertLog {
  table: Table;
  meta: BinlogMeta;
}

/**
 * Encodes the rows of `chunks`, in order, as one insert log of `schema` (its version is recorded)
 * for the segment and channel range `scope`. Returns the Arrow IPC file bytes and their metadata
 * (row count, timestamp range) for the `Binlog` entry. Deterministic: equal input gives equal
 * bytes. Throws INVALID_ARGUMENT for no rows, a batch that does not match the schema, or
 * timestamps / row ids whose count differs from the batch's rows.
 */
export function writeInsertLog(schema: CollectionSchema, chunks: readonly InsertLogChunk[], scope: BinlogScope): EncodedBinlog {
  const { parts, byteLength, meta } = writeInsertLogParts(schema, chunks, scope);
  const bytes = new Uint8Array(byteLength);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { bytes, meta };
}

/**
 * {@link writeInsertLog} without joining the file: the same bytes as the list of pieces the Arrow
 * writer emitted (`ObjectStore.put` writes them one after the other). Fixed-width column values
 * (Int, Float, vectors) are not copied at all: their pieces are views of the chunks' buffers, which
 * must not change until the pieces are written; RowID, Timestamp, VarChar and Bool columns are
 * joined (small). Same errors.
 */
export function writeInsertLogParts(schema: CollectionSchema, chunks: readonly InsertLogChunk[], scope: BinlogScope): EncodedBinlogParts {
  checkScope(scope);
  const fields = arrowSchemaOf(schema).fields;
  const batches: RecordBatch[] = [];
  const timestamps: BigUint64Array[] = [];
  const rowIds: BigInt64Array[] = [];
  let rows = 0;
  chunks.forEach((chunk, i) => {
    const batch = checkInsertBatch(chunk.batch, schema, ErrorCode.InvalidArgument, `insert log chunk ${i}`);
    const ts = toBigUint64Array(chunk.timestamps, `chunk ${i} timestamps`);
    const ids = toBigInt64Array(chunk.rowIds, `chunk ${i} rowIds`);
    if (ts.length !== batch.numRows || ids.length !== batch.numRows) {
      throw errors.invalidArgument(`insert log chunk ${i} has ${batch.numRows} rows but ${ts.length} timestamps and ${ids.length} row ids`, { chunk: i });
    }
    batches.push(batch);
    timestamps.push(ts);
    rowIds.push(ids);
    rows += batch.numRows;
  });
  if (rows === 0) throw errors.invalidArgument('an insert log needs at least one row');

  // The user columns' fixed-width values are not copied: the file's pieces are the chunks' bytes.
  const deferred: DeferredPieces = new Map();
  const userColumns = fields.map((f, i) => concatDataDeferred(f.type, batches.map((b) => b.data.children[i]!), deferred));
  const allTs = concat64(timestamps, BigUint64Array);
  const rowIdColumn = makeData({ type: new Int64(), length: rows, nullCount: 0, data: concat64(rowIds, BigInt64Array) });
  const tsColumn = makeData({ type: new Uint64(), length: rows, nullCount: 0, data: allTs });
  const meta = binlogMetaOf(BinlogKind.Insert, scope, schema.version, allTs);
  const { parts, byteLength } = writeArrowFileParts([...systemArrowFields(), ...fields], [rowIdColumn, tsColumn, ...userColumns], rows, metaToArrow(meta), deferred);
  return { parts, byteLength, meta };
}

function isInt64(t: unknown, signed: boolean): boolean {
  const i = t as IntType;
  return i.typeId === Type.Int && i.bitWidth === 64 && i.isSigned === signed;
}

/**
 * Reads an insert log: the table (RowID, Timestamp, then the user fields; buffers are views of
 * `bytes`) and its metadata. With `schema` (the schema version the log was written with), the user
 * columns are checked against it as {@link decodeInsertBatch} checks a message. Throws CORRUPTED
 * when the bytes are not an Arrow IPC file, the metadata is missing or malformed, the system
 * columns are wrong, the row count disagrees, or the columns do not match `schema`.
 */
export function readInsertLog(bytes: Uint8Array, schema?: CollectionSchema): InsertLog {
  const table = readArrowFile(bytes, 'insert log');
  const meta = metaFromArrow(table.schema.metadata, BinlogKind.Insert);
  if (table.numRows !== meta.rowCount) throw errors.corrupted(`insert log holds ${table.numRows} rows; its metadata says ${meta.rowCount}`);
  const [rowId, ts] = table.schema.fields;
  if (rowId?.name !== ROW_ID_FIELD || !isInt64(rowId.type, true) || ts?.name !== TIMESTAMP_FIELD || !isInt64(ts.type, false)) {
    throw errors.corrupted(`insert log must start with columns ${ROW_ID_FIELD} (Int64) and ${TIMESTAMP_FIELD} (UInt64)`);
  }
  for (const batch of table.batches) {
    if (batch.data.children[0]!.nullCount > 0 || batch.data.children[1]!.nullCount > 0) throw errors.corrupted('insert log has null row ids or timestamps');
  }
  if (schema !== undefined) {
    checkArrowFields(table.schema.fields.slice(2), schema, ErrorCode.Corrupted, 'insert log');
    for (const batch of table.batches) {
      schema.fields.forEach((f, i) => checkColumnData(batch.data.children[i + 2]!, f, ErrorCode.Corrupted, 'insert log'));
    }
  }
  return { table, meta };
}
