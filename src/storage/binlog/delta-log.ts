/**
 * Delta logs: the deletes of one sync of one segment as an Arrow IPC file.
 *
 * Columns: `pk` (the primary key's type: Int64 or Utf8, with the key field's `field_id` and
 * `primary_key` metadata) and `ts` (UInt64 hybrid delete timestamp, field id 1): row i deletes key
 * pk[i] as of ts[i] (rows with that key and a smaller timestamp are gone). One record batch; the
 * Delete messages' keys are joined by copying buffers. Schema metadata as for insert logs
 * (binlog-meta.ts) with kind `delta_log`; the row count is the number of deletes.
 */
import { Field, makeData, Type, Uint64, type Table } from 'apache-arrow';
import type { CollectionSchema, FieldSchema } from '../../gen/schema.js';
import { errors } from '../../common/errors.js';
import { arrowFieldOf, buildColumn, concatData, dataTypeName, FIELD_ID_KEY, primaryKeyField, TIMESTAMP_FIELD_ID, typeMatches, type ColumnInput } from '../../common/arrow/index.js';
import { readArrowFile, writeArrowFile } from './arrow-file.js';
import { binlogMetaOf, checkScope, metaFromArrow, metaToArrow, type BinlogMeta, type BinlogScope, type EncodedBinlog } from './binlog-meta.js';
import { concat64, toBigUint64Array } from './int64-arrays.js';
import { BinlogKind } from './paths.js';

/** Name of a delta log's key column. */
export const DELTA_PK_FIELD = 'pk';
/** Name of a delta log's timestamp column. */
export const DELTA_TS_FIELD = 'ts';

/** The deletes of one Delete message. */
export interface DeltaLogChunk {
  /** Deleted keys: Int64 keys as a BigInt64Array or bigints, VarChar keys as strings. */
  pks: BigInt64Array | readonly bigint[] | readonly string[];
  /** Delete timestamp of each key (`DeleteMsg.timestamps`). */
  timestamps: BigUint64Array | readonly bigint[];
}

/** A delta log read back. */
export interface DeltaLog {
  table: Table;
  meta: BinlogMeta;
}

/** The pk field as a delta log's `pk` column: same type and limits, never null, no default. */
function deltaPkField(schema: CollectionSchema): FieldSchema {
  const pk = primaryKeyField(schema);
  return { ...pk, name: DELTA_PK_FIELD, nullable: false, defaultValue: undefined, isPrimaryKey: true };
}

function deltaFields(pk: FieldSchema): [Field, Field] {
  return [arrowFieldOf(pk), new Field(DELTA_TS_FIELD, new Uint64(), false, new Map([[FIELD_ID_KEY, TIMESTAMP_FIELD_ID.toString()]]))];
}

/**
 * Encodes the deletes of `chunks`, in order, as one delta log for the segment and channel range
 * `scope`; keys are typed by `schema`'s primary key. Deterministic. Throws INVALID_ARGUMENT for no
 * deletes, keys of the wrong type (or VarChar keys above max_length), or a timestamp count that
 * differs from the key count.
 */
export function writeDeltaLog(schema: CollectionSchema, chunks: readonly DeltaLogChunk[], scope: BinlogScope): EncodedBinlog {
  checkScope(scope);
  const pk = deltaPkField(schema);
  const fields = deltaFields(pk);
  const keys = chunks.map((c, i) => {
    const ts = toBigUint64Array(c.timestamps, `delta chunk ${i} timestamps`);
    const n = (c.pks as { length?: unknown })?.length;
    if (typeof n !== 'number' || n !== ts.length) {
      throw errors.invalidArgument(`delta chunk ${i} has ${String(n)} keys but ${ts.length} timestamps`, { chunk: i });
    }
    return { data: buildColumn(pk, c.pks as ColumnInput, n), ts };
  });
  const rows = keys.reduce((sum, k) => sum + k.data.length, 0);
  if (rows === 0) throw errors.invalidArgument('a delta log needs at least one delete');
  const pkColumn = concatData(fields[0].type, keys.map((k) => k.data));
  const allTs = concat64(
    keys.map((k) => k.ts),
    BigUint64Array,
  );
  const tsColumn = makeData({ type: new Uint64(), length: rows, nullCount: 0, data: allTs });
  const meta = binlogMetaOf(BinlogKind.Delta, scope, schema.version, allTs);
  return { bytes: writeArrowFile(fields, [pkColumn, tsColumn], rows, metaToArrow(meta)), meta };
}

/**
 * Reads a delta log: the `pk` and `ts` columns and the metadata. With `schema`, the key column's
 * type must be the primary key's. Throws CORRUPTED for unreadable bytes, missing metadata, other
 * columns, null values or a row count that disagrees.
 */
export function readDeltaLog(bytes: Uint8Array, schema?: CollectionSchema): DeltaLog {
  const table = readArrowFile(bytes, 'delta log');
  const meta = metaFromArrow(table.schema.metadata, BinlogKind.Delta);
  if (table.numRows !== meta.rowCount) throw errors.corrupted(`delta log holds ${table.numRows} rows; its metadata says ${meta.rowCount}`);
  const [pkField, tsField] = table.schema.fields;
  const pkOk = pkField?.name === DELTA_PK_FIELD && (pkField.type.typeId === Type.Utf8 || pkField.type.typeId === Type.Int);
  const tsOk = tsField?.name === DELTA_TS_FIELD && tsField.type.typeId === Type.Int && (tsField.type as Uint64).bitWidth === 64 && !(tsField.type as Uint64).isSigned;
  if (table.schema.fields.length !== 2 || !pkOk || !tsOk) {
    throw errors.corrupted(`delta log must have exactly the columns ${DELTA_PK_FIELD} (Int64 or Utf8) and ${DELTA_TS_FIELD} (UInt64), found [${table.schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ')}]`);
  }
  if (schema !== undefined) {
    const pk = deltaPkField(schema);
    if (!typeMatches(pkField.type, pk)) {
      throw errors.corrupted(`delta log keys are ${String(pkField.type)}; primary key "${primaryKeyField(schema).name}" is ${dataTypeName(pk.dataType)}`);
    }
  }
  for (const batch of table.batches) {
    if (batch.data.children.some((c) => c.nullCount > 0)) throw errors.corrupted('delta log has null keys or timestamps');
  }
  return { table, meta };
}

