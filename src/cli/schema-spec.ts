/**
 * Collection schemas as `tidal collection create` takes them: a JSON file (`--schema file.json`,
 * the shape DescribeCollection prints, Milvus-style field names in camelCase or snake_case) and/or
 * the compact flags
 *
 *   --pk id:int64[:auto]          primary key (int64, optionally auto_id; or varchar:<max_length>)
 *   --vector vec:float32:128      float vector of dim 128 (also `vec:128`)
 *   --field name:varchar:64       a scalar field: bool, int64, float, double, varchar:<max_length>;
 *                                 `:nullable` at the end allows nulls (repeatable)
 *
 * Flags add fields after the file's, in the order given: pk, vectors, fields. The master checks the
 * result (one primary key, dims, lengths, names) and its answer is the error a user sees.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errors } from '../common/errors.js';
import { DataType, type CollectionSchema, type FieldSchema } from '../gen/schema.js';

const q = (s: string) => JSON.stringify(s);

/** Type names the CLI accepts (lowercase) → DataType. */
const TYPE_NAMES: Readonly<Record<string, DataType>> = {
  bool: DataType.Bool,
  int64: DataType.Int64,
  float: DataType.Float,
  float32: DataType.Float,
  double: DataType.Double,
  float64: DataType.Double,
  varchar: DataType.VarChar,
  string: DataType.VarChar,
  floatvector: DataType.FloatVector,
  float_vector: DataType.FloatVector,
};

/** Scalar type names for messages. */
const SCALARS = 'bool, int64, float, double, varchar:<max_length>';

function typeOf(name: string, what: string): DataType {
  const t = TYPE_NAMES[name.toLowerCase()];
  if (t === undefined) throw errors.invalidArgument(`${what}: unknown type ${q(name)} (allowed: ${Object.keys(TYPE_NAMES).join(', ')})`);
  return t;
}

function positiveInt(text: string | undefined, what: string): number {
  const n = Number(text);
  if (text === undefined || !/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(n) || n > 2_147_483_647) {
    throw errors.invalidArgument(`${what} must be a positive integer, got ${q(text ?? '')}`);
  }
  return n;
}

function field(name: string, what: string): string {
  if (name === '') throw errors.invalidArgument(`${what}: the field name must not be empty`);
  return name;
}

/** Parses `--pk name:int64[:auto]` or `--pk name:varchar:<max_length>`. Throws INVALID_ARGUMENT. */
export function parsePkSpec(spec: string): FieldSchema {
  const what = `--pk ${q(spec)}`;
  const [name = '', type = '', ...rest] = spec.split(':');
  const base = { fieldId: 0n, name: field(name, what), isPrimaryKey: true, description: '', dim: 0, maxLength: 0, autoId: false, nullable: false, defaultValue: undefined };
  const t = typeOf(type, what);
  if (t === DataType.Int64) {
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'auto')) throw errors.invalidArgument(`${what}: expected name:int64 or name:int64:auto`);
    return { ...base, dataType: t, autoId: rest[0] === 'auto' };
  }
  if (t === DataType.VarChar) {
    if (rest.length !== 1) throw errors.invalidArgument(`${what}: expected name:varchar:<max_length>`);
    return { ...base, dataType: t, maxLength: positiveInt(rest[0], `${what}: max_length`) };
  }
  throw errors.invalidArgument(`${what}: a primary key is int64 or varchar:<max_length>`);
}

/** Parses `--vector name:float32:<dim>` (or `name:<dim>`). Throws INVALID_ARGUMENT. */
export function parseVectorSpec(spec: string): FieldSchema {
  const what = `--vector ${q(spec)}`;
  const parts = spec.split(':');
  let dimText: string | undefined;
  if (parts.length === 2) dimText = parts[1];
  else if (parts.length === 3) {
    const t = typeOf(parts[1]!, what);
    if (t !== DataType.Float && t !== DataType.FloatVector) throw errors.invalidArgument(`${what}: vectors are float32 (name:float32:<dim>)`);
    dimText = parts[2];
  } else throw errors.invalidArgument(`${what}: expected name:float32:<dim>`);
  return {
    fieldId: 0n,
    name: field(parts[0]!, what),
    isPrimaryKey: false,
    description: '',
    dataType: DataType.FloatVector,
    dim: positiveInt(dimText, `${what}: dim`),
    maxLength: 0,
    autoId: false,
    nullable: false,
    defaultValue: undefined,
  };
}

/** Parses `--field name:<type>[:<max_length>][:nullable]`. Throws INVALID_ARGUMENT. */
export function parseFieldSpec(spec: string): FieldSchema {
  const what = `--field ${q(spec)}`;
  const parts = spec.split(':');
  const nullable = parts.length > 2 && parts[parts.length - 1] === 'nullable';
  if (nullable) parts.pop();
  const [name = '', type = '', ...rest] = parts;
  const t = typeOf(type, what);
  const base = { fieldId: 0n, name: field(name, what), isPrimaryKey: false, description: '', dim: 0, maxLength: 0, autoId: false, nullable, defaultValue: undefined };
  if (t === DataType.VarChar) {
    if (rest.length !== 1) throw errors.invalidArgument(`${what}: expected name:varchar:<max_length>`);
    return { ...base, dataType: t, maxLength: positiveInt(rest[0], `${what}: max_length`) };
  }
  if (t === DataType.FloatVector) throw errors.invalidArgument(`${what}: declare vectors with --vector name:float32:<dim>`);
  if (rest.length !== 0) throw errors.invalidArgument(`${what}: expected name:<type>[:nullable] with type one of ${SCALARS}`);
  return { ...base, dataType: t };
}

const jsonField = z
  .object({
    name: z.string(),
    dataType: z.union([z.string(), z.number()]).optional(),
    data_type: z.union([z.string(), z.number()]).optional(),
    isPrimaryKey: z.boolean().optional(),
    is_primary_key: z.boolean().optional(),
    autoId: z.boolean().optional(),
    auto_id: z.boolean().optional(),
    dim: z.number().int().optional(),
    maxLength: z.number().int().optional(),
    max_length: z.number().int().optional(),
    nullable: z.boolean().optional(),
    description: z.string().optional(),
  })
  .loose();

const jsonSchema = z.object({ name: z.string().optional(), description: z.string().optional(), fields: z.array(jsonField) }).loose();

function dataTypeOfJson(v: string | number | undefined, what: string): DataType {
  if (v === undefined) throw errors.invalidArgument(`${what}: dataType is missing`);
  if (typeof v === 'number') {
    if (!Object.values(DataType).includes(v) || v === DataType.None) throw errors.invalidArgument(`${what}: unknown dataType ${v}`);
    return v as DataType;
  }
  return typeOf(v, what);
}

/** Parses a schema file's text (`file` names it in errors). Throws INVALID_ARGUMENT. */
export function parseSchemaJson(text: string, file: string): CollectionSchema {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw errors.invalidArgument(`schema file ${file} is not JSON: ${(err as Error).message}`);
  }
  // `tidal collection describe -o json` nests the schema under "schema": take it as it is.
  const root = typeof raw === 'object' && raw !== null && !('fields' in raw) && 'schema' in raw ? (raw as { schema: unknown }).schema : raw;
  const parsed = jsonSchema.safeParse(root);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw errors.invalidArgument(`schema file ${file}: ${issue.path.join('.') || '(root)'} ${issue.message}; expected {"fields": [{"name", "dataType", ...}]}`);
  }
  return {
    name: parsed.data.name ?? '',
    description: parsed.data.description ?? '',
    autoId: false,
    version: 0,
    fields: parsed.data.fields.map((f, i) => {
      const what = `schema file ${file}: fields[${i}] (${q(f.name)})`;
      return {
        fieldId: 0n,
        name: f.name,
        isPrimaryKey: f.isPrimaryKey ?? f.is_primary_key ?? false,
        description: f.description ?? '',
        dataType: dataTypeOfJson(f.dataType ?? f.data_type, what),
        dim: f.dim ?? 0,
        maxLength: f.maxLength ?? f.max_length ?? 0,
        autoId: f.autoId ?? f.auto_id ?? false,
        nullable: f.nullable ?? false,
        defaultValue: undefined,
      };
    }),
  };
}

/** What `collection create` was given. */
export interface SchemaOptions {
  schema?: string;
  pk?: string;
  vector?: string[];
  field?: string[];
  description?: string;
}

/**
 * The schema of `collection create <name>` from a file and/or flags. Throws INVALID_ARGUMENT when
 * neither is given, for an unreadable file, or a malformed flag.
 */
export function buildSchema(name: string, opts: SchemaOptions): CollectionSchema {
  let schema: CollectionSchema = { name, description: '', autoId: false, version: 0, fields: [] };
  if (opts.schema !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.schema, 'utf8');
    } catch (err) {
      throw errors.invalidArgument(`cannot read schema file ${opts.schema}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    schema = { ...parseSchemaJson(text, opts.schema), name };
  }
  if (opts.pk !== undefined) schema.fields.push(parsePkSpec(opts.pk));
  for (const v of opts.vector ?? []) schema.fields.push(parseVectorSpec(v));
  for (const f of opts.field ?? []) schema.fields.push(parseFieldSpec(f));
  if (opts.description !== undefined) schema.description = opts.description;
  if (schema.fields.length === 0) throw errors.invalidArgument('give a schema: --schema file.json, or --pk id:int64 --vector vec:float32:128 [--field name:varchar:64 ...]');
  return schema;
}

/** A field's type as the compact flags spell it (`int64`, `varchar(64)`, `float_vector(128)`). */
export function describeType(f: FieldSchema): string {
  switch (f.dataType) {
    case DataType.Bool:
      return 'bool';
    case DataType.Int64:
      return 'int64';
    case DataType.Float:
      return 'float';
    case DataType.Double:
      return 'double';
    case DataType.VarChar:
      return `varchar(${f.maxLength})`;
    case DataType.FloatVector:
      return `float_vector(${f.dim})`;
    default:
      return `type ${f.dataType as number}`;
  }
}
