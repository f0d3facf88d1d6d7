/**
 * The Arrow shape of a collection: which Arrow type each Tidal data type becomes, the field
 * metadata that ties an Arrow column back to its field, and the checks that an Arrow schema (from
 * the wire or from a file) matches a collection schema.
 *
 * Mapping: Int64 → Int64, VarChar → Utf8, Bool → Bool, Float → Float32, Double → Float64,
 * FloatVector (dim d) → FixedSizeList<Float32>[d] (child field `item`, not nullable).
 * Every Arrow field carries metadata `field_id` (decimal) and, on the primary key,
 * `primary_key` = `true`. The system columns of binlogs are `RowID` (Int64, field id 0) and
 * `Timestamp` (UInt64 hybrid timestamp, field id 1).
 *
 * Schema objects are treated as immutable: {@link arrowSchemaOf} caches its result per
 * CollectionSchema object.
 */
import { Bool, Field, FixedSizeList, Float32, Float64, Int64, Schema, Type, Uint64, Utf8, type Data, type DataType as ArrowType } from 'apache-arrow';
import { DataType, dataTypeToJSON, type CollectionSchema, type FieldSchema } from '../../gen/schema.js';
import { ErrorCode, TidalError } from '../errors.js';

/** Field metadata key holding the Tidal field id (decimal string). */
export const FIELD_ID_KEY = 'field_id';
/** Field metadata key set to `true` on the primary key field. */
export const PRIMARY_KEY_KEY = 'primary_key';
/** Name of the row-id system column of insert logs. */
export const ROW_ID_FIELD = 'RowID';
/** Name of the timestamp system column of insert logs. */
export const TIMESTAMP_FIELD = 'Timestamp';
/** Field id of {@link ROW_ID_FIELD}. */
export const ROW_ID_FIELD_ID = 0n;
/** Field id of {@link TIMESTAMP_FIELD}. */
export const TIMESTAMP_FIELD_ID = 1n;
/** Name of the child field of a FloatVector's FixedSizeList (Arrow C++ and pyarrow use the same). */
export const VECTOR_ITEM_FIELD = 'item';

/** The error code a check reports: INVALID_ARGUMENT for caller input, CORRUPTED for decoded bytes. */
export type CheckCode = typeof ErrorCode.InvalidArgument | typeof ErrorCode.Corrupted;

/** The enum name of a Tidal data type (`FloatVector`), or its number when unknown. */
export function dataTypeName(t: DataType | number): string {
  const name = dataTypeToJSON(t as DataType);
  return name === 'UNRECOGNIZED' ? String(t) : name;
}

function fail(code: CheckCode, message: string, context?: Record<string, unknown>): never {
  throw new TidalError(code, message, { context });
}

/** The Arrow type of a field. Throws INVALID_ARGUMENT for an unsupported type or a bad dim. */
export function arrowTypeOf(field: FieldSchema): ArrowType {
  switch (field.dataType) {
    case DataType.Int64:
      return new Int64();
    case DataType.VarChar:
      return new Utf8();
    case DataType.Bool:
      return new Bool();
    case DataType.Float:
      return new Float32();
    case DataType.Double:
      return new Float64();
    case DataType.FloatVector:
      if (!Number.isInteger(field.dim) || field.dim < 1) {
        fail(ErrorCode.InvalidArgument, `field "${field.name}": a FloatVector needs an integer dim >= 1, got ${field.dim}`, { field: field.name });
      }
      return new FixedSizeList(field.dim, new Field(VECTOR_ITEM_FIELD, new Float32(), false));
    default:
      return fail(
        ErrorCode.InvalidArgument,
        `field "${field.name}": data type ${dataTypeName(field.dataType)} has no Arrow mapping; supported: Bool, Int64, Float, Double, VarChar, FloatVector`,
        { field: field.name },
      );
  }
}

/** The Arrow field of a user field, with its `field_id` (and `primary_key`) metadata. */
export function arrowFieldOf(field: FieldSchema): Field {
  const metadata = new Map<string, string>([[FIELD_ID_KEY, field.fieldId.toString()]]);
  if (field.isPrimaryKey) metadata.set(PRIMARY_KEY_KEY, 'true');
  return new Field(field.name, arrowTypeOf(field), field.nullable, metadata);
}

/** The `RowID` (Int64) and `Timestamp` (UInt64) system fields of insert logs. */
export function systemArrowFields(): [Field<Int64>, Field<Uint64>] {
  return [
    new Field(ROW_ID_FIELD, new Int64(), false, new Map([[FIELD_ID_KEY, ROW_ID_FIELD_ID.toString()]])),
    new Field(TIMESTAMP_FIELD, new Uint64(), false, new Map([[FIELD_ID_KEY, TIMESTAMP_FIELD_ID.toString()]])),
  ];
}

const schemaCache = new WeakMap<CollectionSchema, Schema>();

/**
 * The Arrow schema of a collection's user fields, in schema order (what an Insert message's batch
 * holds). Cached per schema object. Throws INVALID_ARGUMENT for an unsupported type, a bad dim, a
 * duplicate name or a name taken by a system column.
 */
export function arrowSchemaOf(schema: CollectionSchema): Schema {
  const cached = schemaCache.get(schema);
  if (cached !== undefined) return cached;
  if (schema.fields.length === 0) fail(ErrorCode.InvalidArgument, `collection schema "${schema.name}" has no fields`);
  const names = new Set<string>();
  for (const f of schema.fields) {
    if (f.name === ROW_ID_FIELD || f.name === TIMESTAMP_FIELD) {
      fail(ErrorCode.InvalidArgument, `field "${f.name}": the name is reserved for a system column`, { field: f.name });
    }
    if (names.has(f.name)) fail(ErrorCode.InvalidArgument, `field "${f.name}" appears more than once in the schema`, { field: f.name });
    names.add(f.name);
  }
  const result = new Schema(schema.fields.map(arrowFieldOf));
  schemaCache.set(schema, result);
  return result;
}

/** The primary key field of a schema. Throws INVALID_ARGUMENT when there is not exactly one. */
export function primaryKeyField(schema: CollectionSchema): FieldSchema {
  const pks = schema.fields.filter((f) => f.isPrimaryKey);
  if (pks.length !== 1) fail(ErrorCode.InvalidArgument, `collection schema "${schema.name}" must have exactly one primary key, found ${pks.length}`);
  const pk = pks[0]!;
  if (pk.dataType !== DataType.Int64 && pk.dataType !== DataType.VarChar) {
    fail(ErrorCode.InvalidArgument, `primary key "${pk.name}" must be Int64 or VarChar, got ${dataTypeName(pk.dataType)}`);
  }
  return pk;
}

/**
 * Whether an Arrow type is the one a field maps to. Lenient where Arrow writers differ without
 * changing the data: a vector's child field may have any name and nullability (pyarrow's default
 * child is a nullable `item`); {@link checkColumnData} then rejects actual null elements.
 */
export function typeMatches(actual: ArrowType, field: FieldSchema): boolean {
  switch (field.dataType) {
    case DataType.Int64:
      return actual.typeId === Type.Int && (actual as Int64).bitWidth === 64 && (actual as Int64).isSigned;
    case DataType.VarChar:
      return actual.typeId === Type.Utf8;
    case DataType.Bool:
      return actual.typeId === Type.Bool;
    case DataType.Float:
      return actual.typeId === Type.Float && (actual as Float32).precision === 1;
    case DataType.Double:
      return actual.typeId === Type.Float && (actual as Float64).precision === 2;
    case DataType.FloatVector: {
      if (actual.typeId !== Type.FixedSizeList) return false;
      const list = actual as FixedSizeList;
      const child = list.children[0]?.type;
      return list.listSize === field.dim && child !== undefined && child.typeId === Type.Float && (child as Float32).precision === 1;
    }
    default:
      return false;
  }
}

/**
 * Checks that an Arrow schema holds exactly the user fields of `schema`, in order, with the mapped
 * types, and that any `field_id` metadata present agrees. `what` names the thing checked in the
 * message ("insert batch", "insert log"). Throws a TidalError with `code` naming the first
 * mismatch.
 */
export function checkArrowFields(actual: readonly Field[], schema: CollectionSchema, code: CheckCode, what: string): void {
  const expected = schema.fields;
  const got = actual.map((f) => f.name);
  if (actual.length !== expected.length || expected.some((f, i) => f.name !== got[i])) {
    fail(code, `${what} has columns [${got.join(', ')}]; collection "${schema.name}" (schema version ${schema.version}) expects [${expected.map((f) => f.name).join(', ')}]`, {
      columns: got,
    });
  }
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i]!;
    const have = actual[i]!;
    if (!typeMatches(have.type, want)) {
      fail(code, `${what}: column "${want.name}" has Arrow type ${String(have.type)}; field type ${describeField(want)} needs ${String(arrowTypeOf(want))}`, {
        field: want.name,
      });
    }
    const id = have.metadata.get(FIELD_ID_KEY);
    if (id !== undefined && id !== want.fieldId.toString()) {
      fail(code, `${what}: column "${want.name}" has field id ${id}; the schema says ${want.fieldId}`, { field: want.name });
    }
  }
}

/**
 * Checks the values of one column against its field: no nulls unless the field is nullable, no
 * null vector elements, VarChar values within max_length bytes (when max_length > 0). Reads
 * buffers only (no per-row objects). Throws a TidalError with `code`.
 */
export function checkColumnData(data: Data, field: FieldSchema, code: CheckCode, what: string): void {
  if (!field.nullable && data.nullCount > 0) {
    fail(code, `${what}: column "${field.name}" has ${data.nullCount} null value(s) but the field is not nullable`, { field: field.name });
  }
  if (field.dataType === DataType.FloatVector) {
    const child = data.children[0];
    if (child !== undefined && child.nullCount > 0) fail(code, `${what}: vector column "${field.name}" has null elements`, { field: field.name });
  } else if (field.dataType === DataType.VarChar && field.maxLength > 0) {
    const offsets = data.valueOffsets as Int32Array;
    const max = field.maxLength;
    for (let i = 0; i < data.length; i++) {
      const len = offsets[i + 1]! - offsets[i]!;
      if (len > max) {
        fail(code, `${what}: row ${i} of column "${field.name}" is ${len} bytes long, above max_length ${max}`, { field: field.name, row: i });
      }
    }
  }
}

function describeField(f: FieldSchema): string {
  return f.dataType === DataType.FloatVector ? `FloatVector(dim ${f.dim})` : dataTypeName(f.dataType);
}
