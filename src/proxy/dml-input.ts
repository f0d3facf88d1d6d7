/**
 * Turns what a caller passes to insert / delete into checked Arrow data, before anything is
 * allocated or sent. Every problem is an INVALID_ARGUMENT naming the collection and what was
 * wrong (the field, the row, what is allowed); the checks themselves are src/common/arrow's.
 *
 * An auto_id primary key is left out by the caller: the rows are checked without it, and its
 * column is filled later with the rows' ids (Milvus does the same), see {@link withAutoIds}.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchOf, buildColumn, buildInsertBatch, buildInsertBatchFromRows, columnRows, type ColumnInput, type InsertColumns, type InsertRow } from '../common/arrow/index.js';
import { errors, TidalError } from '../common/errors.js';
import { DataType, type CollectionSchema } from '../gen/schema.js';
import type { CollectionMeta } from './collection-cache.js';

/** The rows of an insert: columnar (`columns`, fastest) or as objects (`rows`), into `partition` (default `_default`). */
export type InsertRequest =
  | { partition?: string; columns: InsertColumns; rows?: undefined }
  | { partition?: string; rows: readonly InsertRow[]; columns?: undefined };

/** Primary keys to delete: Int64 keys as a BigInt64Array or bigints / safe integers, VarChar keys as strings. */
export type DeleteKeysInput = BigInt64Array | readonly (bigint | number)[] | readonly string[];

const q = (s: string) => JSON.stringify(s);

/** Re-throws a TidalError with `where: ` before its message (same code and context). */
export function withPrefix<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TidalError) throw new TidalError(err.code, `${where}: ${err.message}`, { retriable: err.retriable, cause: err, context: err.context });
    throw err;
  }
}

const reducedSchemas = new WeakMap<CollectionSchema, CollectionSchema>();

/** The schema without its auto_id primary key (cached per schema object). */
function withoutPk(meta: CollectionMeta): CollectionSchema {
  let s = reducedSchemas.get(meta.schema);
  if (s === undefined) {
    s = { ...meta.schema, fields: meta.schema.fields.filter((f) => f !== meta.pkField) };
    reducedSchemas.set(meta.schema, s);
  }
  return s;
}

/**
 * Checks an insert's rows against the collection schema and builds them as one record batch.
 * With an auto_id primary key the batch lacks that column (see {@link withAutoIds}). Throws
 * INVALID_ARGUMENT (`insert into collection "c": ...`).
 */
export function buildInsertRows(meta: CollectionMeta, request: InsertRequest): RecordBatch {
  return withPrefix(`insert into collection ${q(meta.name)}`, () => {
    if (request === null || typeof request !== 'object') throw errors.invalidArgument('the request must be an object { partition?, columns } or { partition?, rows }');
    const { columns, rows } = request as { columns?: unknown; rows?: unknown };
    if ((columns === undefined) === (rows === undefined)) throw errors.invalidArgument('give exactly one of `columns` (one array per field) or `rows` (an array of objects)');
    if (request.partition !== undefined && (typeof request.partition !== 'string' || request.partition === '')) {
      throw errors.invalidArgument('partition must be a non-empty string (or left out for the default partition)');
    }
    const pk = meta.pkField;
    const autoId = pk.autoId;
    let schema = meta.schema;
    if (autoId) {
      const given =
        columns !== undefined
          ? typeof columns === 'object' && columns !== null && Object.hasOwn(columns, pk.name)
          : Array.isArray(rows) && rows.some((r: unknown) => r !== null && typeof r === 'object' && Object.hasOwn(r, pk.name));
      if (given) throw errors.invalidArgument(`field ${q(pk.name)} is the auto_id primary key: Tidal generates its values, leave it out`, { field: pk.name });
      schema = withoutPk(meta);
    }
    let batch: RecordBatch;
    if (columns !== undefined) {
      if (typeof columns !== 'object' || columns === null || Array.isArray(columns)) throw errors.invalidArgument('columns must be an object of one array per field name');
      batch = buildInsertBatch(columns as InsertColumns, schema);
    } else {
      if (!Array.isArray(rows)) throw errors.invalidArgument('rows must be an array of objects');
      if (rows.length === 0) throw errors.invalidArgument('no rows to insert');
      batch = buildInsertBatchFromRows(rows as readonly InsertRow[], schema);
    }
    if (batch.numRows === 0) throw errors.invalidArgument('no rows to insert');
    return batch;
  });
}

/** The full batch of an auto_id collection: `batch` (without the key) with the key column set to `ids`. */
export function withAutoIds(meta: CollectionMeta, batch: RecordBatch, ids: BigInt64Array): RecordBatch {
  const data = [...batch.data.children];
  data.splice(meta.pkIndex, 0, buildColumn(meta.pkField, ids, batch.numRows));
  return batchOf(meta.schema, data, batch.numRows);
}

/** Checked delete keys: as an Arrow column (for the shard hash) and as values (for the message). */
export interface DeleteKeyColumn {
  column: ReturnType<typeof buildColumn>;
  values: bigint[] | string[];
}

/**
 * Checks primary keys to delete against the key's type (and max_length). Throws INVALID_ARGUMENT
 * (`delete from collection "c": ...`).
 */
export function buildDeleteKeys(meta: CollectionMeta, pks: DeleteKeysInput): DeleteKeyColumn {
  return withPrefix(`delete from collection ${q(meta.name)}`, () => {
    const pk = meta.pkField;
    if (pks === null || (typeof pks !== 'object' && typeof pks !== 'function')) {
      throw errors.invalidArgument(`primary keys must be an array of ${pk.dataType === DataType.VarChar ? 'strings' : 'bigints or safe integers (or a BigInt64Array)'}`);
    }
    const n = columnRows(pk, pks as ColumnInput);
    if (n === 0) throw errors.invalidArgument('no primary keys to delete');
    const input = pks as ColumnInput;
    for (let i = 0; i < n; i++) {
      // A key cannot be null: nothing to match (the key field's default value must not stand in).
      if (!ArrayBuffer.isView(input) && (input as readonly unknown[])[i] == null) throw errors.invalidArgument(`key ${i} is ${String((input as readonly unknown[])[i])}; give a value`);
    }
    const column = buildColumn(pk, input, n);
    let values: bigint[] | string[];
    if (pk.dataType === DataType.VarChar) values = [...(pks as readonly string[])];
    else values = Array.from(column.values as BigInt64Array);
    return { column, values };
  });
}
