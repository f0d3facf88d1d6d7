/**
 * Validation of what a DDL request names and declares: collection, partition, field and index
 * names, and collection schemas. Every check throws TidalError INVALID_ARGUMENT with a message that
 * says what was wrong and what is allowed; nothing is half-applied (validation returns a new,
 * normalised schema and never mutates its input).
 */
import { errors } from '../../common/errors.js';
import type { KeyValuePair } from '../../gen/common.js';
import { DataType, dataTypeToJSON, type CollectionSchema, type FieldSchema, type ScalarValue } from '../../gen/schema.js';

/** Longest collection, partition, field or index name, in characters. */
export const MAX_NAME_LENGTH = 255;
/** Largest FloatVector dimension. */
export const MAX_DIM = 32_768;
/** Largest VarChar max_length, in bytes. */
export const MAX_VARCHAR_LENGTH = 65_535;
/** Most fields a collection may have. */
export const MAX_FIELDS = 64;
/** First user field id; 0..99 are reserved (0 RowID, 1 Timestamp). */
export const FIRST_USER_FIELD_ID = 100n;
/** Names of the system columns every binlog carries; no user field may take them. */
export const RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set(['RowID', 'Timestamp']);

/** The data types Tidal supports, in the order error messages list them. */
export const SUPPORTED_DATA_TYPES: readonly DataType[] = [
  DataType.Bool,
  DataType.Int64,
  DataType.Float,
  DataType.Double,
  DataType.VarChar,
  DataType.FloatVector,
];
const SUPPORTED = new Set<number>(SUPPORTED_DATA_TYPES);
const VECTOR_TYPES = new Set<number>([DataType.FloatVector]);

/** What a name names, for messages (`collection name "x" ...`). */
export type NameKind = 'collection' | 'partition' | 'field' | 'index';

const IDENT_FIRST = /^[A-Za-z_]/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

/** The enum name of a data type (`FloatVector`), or its number when unknown. */
export function dataTypeName(t: DataType | number): string {
  const name = dataTypeToJSON(t as DataType);
  return name === 'UNRECOGNIZED' ? String(t) : name;
}

/** `a Double`, `an Int64`: the type name with its article, for messages. */
function aType(t: DataType): string {
  const name = dataTypeName(t);
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** True for vector data types (today: FloatVector). */
export function isVectorType(t: DataType): boolean {
  return VECTOR_TYPES.has(t);
}

/**
 * Checks a collection, partition, field or index name: 1-255 characters, letters, digits and
 * underscores, the first a letter or an underscore. Throws INVALID_ARGUMENT.
 */
export function validateName(kind: NameKind, name: string): void {
  if (typeof name !== 'string' || name === '') throw errors.invalidArgument(`${kind} name must not be empty`);
  if (name.length > MAX_NAME_LENGTH) {
    throw errors.invalidArgument(`${kind} name ${quote(name)} is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}`);
  }
  if (!IDENT_FIRST.test(name)) {
    throw errors.invalidArgument(`${kind} name ${quote(name)} is invalid: the first character must be a letter or an underscore`);
  }
  if (!IDENT.test(name)) {
    throw errors.invalidArgument(`${kind} name ${quote(name)} is invalid: use only letters, digits and underscores`);
  }
}

/** Checks key/value pairs (properties, index params): non-empty, unique keys. Throws INVALID_ARGUMENT. */
export function validateKeyValues(what: string, pairs: readonly KeyValuePair[]): void {
  const seen = new Set<string>();
  for (const { key } of pairs) {
    if (key === '') throw errors.invalidArgument(`${what}: a key must not be empty`);
    if (seen.has(key)) throw errors.invalidArgument(`${what}: key ${quote(key)} is given more than once`);
    seen.add(key);
  }
}

function fieldError(field: FieldSchema, message: string): never {
  throw errors.invalidArgument(`field ${quote(field.name)}: ${message}`, { field: field.name });
}

function checkDefaultValue(field: FieldSchema, value: ScalarValue): void {
  if (field.isPrimaryKey) fieldError(field, 'a primary key cannot have a default value');
  const expected: Partial<Record<DataType, string>> = {
    [DataType.Bool]: 'boolData',
    [DataType.Int64]: 'longData',
    [DataType.Float]: 'floatData',
    [DataType.Double]: 'doubleData',
    [DataType.VarChar]: 'stringData',
  };
  const want = expected[field.dataType];
  if (want === undefined) fieldError(field, `${aType(field.dataType)} field cannot have a default value`);
  const got = value.data?.$case;
  if (got !== want) {
    fieldError(field, `default value must be ${aType(field.dataType)} (${want}), got ${got ?? 'nothing'}`);
  }
  if (value.data?.$case === 'stringData') {
    const bytes = Buffer.byteLength(value.data.value, 'utf8');
    if (bytes > field.maxLength) fieldError(field, `default value is ${bytes} bytes long, above max_length ${field.maxLength}`);
  }
}

function checkField(field: FieldSchema): void {
  validateName('field', field.name);
  if (RESERVED_FIELD_NAMES.has(field.name)) {
    fieldError(field, `the name is reserved for a system column (${[...RESERVED_FIELD_NAMES].join(', ')})`);
  }
  if (!SUPPORTED.has(field.dataType)) {
    fieldError(
      field,
      `data type ${dataTypeName(field.dataType)} is not supported; use one of ${SUPPORTED_DATA_TYPES.map(dataTypeName).join(', ')}`,
    );
  }
  if (isVectorType(field.dataType)) {
    if (!Number.isInteger(field.dim) || field.dim < 1 || field.dim > MAX_DIM) {
      fieldError(field, `dim must be an integer from 1 to ${MAX_DIM}, got ${field.dim}`);
    }
    if (field.nullable) fieldError(field, 'a vector field cannot be nullable');
  } else if (field.dim !== 0) {
    fieldError(field, `dim applies only to vector fields; leave it 0 for ${aType(field.dataType)} field, got ${field.dim}`);
  }
  if (field.dataType === DataType.VarChar) {
    if (!Number.isInteger(field.maxLength) || field.maxLength < 1 || field.maxLength > MAX_VARCHAR_LENGTH) {
      fieldError(field, `max_length must be an integer from 1 to ${MAX_VARCHAR_LENGTH}, got ${field.maxLength}`);
    }
  } else if (field.maxLength !== 0) {
    fieldError(field, `max_length applies only to VarChar fields; leave it 0 for ${aType(field.dataType)} field, got ${field.maxLength}`);
  }
  if (field.isPrimaryKey) {
    if (field.dataType !== DataType.Int64 && field.dataType !== DataType.VarChar) {
      fieldError(field, `a primary key must be Int64 or VarChar, got ${dataTypeName(field.dataType)}`);
    }
    if (field.nullable) fieldError(field, 'a primary key cannot be nullable');
    if (field.autoId && field.dataType !== DataType.Int64) fieldError(field, 'auto_id is only supported on an Int64 primary key');
  } else if (field.autoId) {
    fieldError(field, 'auto_id applies only to the primary key field');
  }
  if (field.defaultValue !== undefined) checkDefaultValue(field, field.defaultValue);
}

/** Assigns ids to fields given with 0, from 100 upwards, skipping ids already given. */
function assignFieldIds(fields: FieldSchema[]): void {
  const used = new Map<bigint, string>();
  for (const f of fields) {
    if (f.fieldId === 0n) continue;
    if (f.fieldId < FIRST_USER_FIELD_ID) fieldError(f, `field id ${f.fieldId} is reserved; user field ids start at ${FIRST_USER_FIELD_ID} (or leave it 0)`);
    const other = used.get(f.fieldId);
    if (other !== undefined) fieldError(f, `field id ${f.fieldId} is already used by field ${quote(other)}`);
    used.set(f.fieldId, f.name);
  }
  let next = FIRST_USER_FIELD_ID;
  for (const f of fields) {
    if (f.fieldId !== 0n) continue;
    while (used.has(next)) next += 1n;
    f.fieldId = next;
    used.set(next, f.name);
  }
}

/**
 * Validates the schema of a new collection named `collectionName` and returns a normalised copy:
 * schema name set to the collection name, field ids assigned (from 100, in field order) where 0,
 * the collection-level auto_id folded into the primary key, version 0.
 *
 * Rules: 1 to 64 fields with unique names (letters, digits, underscores; not RowID or Timestamp),
 * supported types, exactly one primary key (Int64 or VarChar, not nullable), FloatVector dim from
 * 1 to 32768, VarChar max_length from 1 to 65535. Throws INVALID_ARGUMENT naming the first problem.
 */
export function validateCollectionSchema(collectionName: string, schema: CollectionSchema | undefined): CollectionSchema {
  validateName('collection', collectionName);
  if (schema === undefined) throw errors.invalidArgument(`collection ${quote(collectionName)}: a schema is required`);
  if (schema.name !== '' && schema.name !== collectionName) {
    throw errors.invalidArgument(`schema name ${quote(schema.name)} does not match collection name ${quote(collectionName)}; leave it empty or make them equal`);
  }
  const fields = (schema.fields ?? []).map((f) => ({ ...f }));
  if (fields.length === 0) throw errors.invalidArgument('schema must have at least one field (a primary key)');
  if (fields.length > MAX_FIELDS) throw errors.invalidArgument(`schema has ${fields.length} fields; the limit is ${MAX_FIELDS}`);
  const names = new Set<string>();
  for (const f of fields) {
    checkField(f);
    if (names.has(f.name)) fieldError(f, 'field names must be unique; this one is given more than once');
    names.add(f.name);
  }
  const pks = fields.filter((f) => f.isPrimaryKey);
  if (pks.length !== 1) {
    const which = pks.length === 0 ? '' : ` (${pks.map((f) => quote(f.name)).join(', ')})`;
    throw errors.invalidArgument(`schema must have exactly one primary key field, found ${pks.length}${which}`);
  }
  const pk = pks[0] as FieldSchema;
  if (schema.autoId) {
    if (pk.dataType !== DataType.Int64) fieldError(pk, 'the schema asks for auto_id, which is only supported on an Int64 primary key');
    pk.autoId = true;
  }
  assignFieldIds(fields);
  return { name: collectionName, description: schema.description, autoId: pk.autoId, fields, version: 0 };
}
