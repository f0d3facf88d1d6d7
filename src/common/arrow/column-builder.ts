/**
 * Builds one Arrow column (a `Data`) of a collection field from caller input, validating types,
 * dims, lengths and nulls. Typed arrays are taken as they are (no copy); plain arrays are copied
 * once into a typed buffer. Errors are INVALID_ARGUMENT naming the field, and the row when one row
 * is at fault.
 *
 * Accepted input per field type (`null`/`undefined` entries only where noted):
 * - Int64: `BigInt64Array`, or an array of bigint / safe-integer numbers
 * - Float: `Float32Array`, or an array of numbers
 * - Double: `Float64Array`, or an array of numbers
 * - Bool: an array of booleans, or a `Uint8Array` of 0/1
 * - VarChar: an array of strings (UTF-8 length at most max_length bytes)
 * - FloatVector (dim d): a `Float32Array` of n·d values (row-major), or an array of n vectors
 *   (`Float32Array` or number arrays) of d values each; values must be finite
 * - scalar fields with a default value: null entries and a missing column take the default;
 *   nullable scalar fields: null entries and a missing column are null
 */
import { makeData, Type, type Data, type DataType as ArrowType } from 'apache-arrow';
import { DataType, type FieldSchema, type ScalarValue } from '../../gen/schema.js';
import { errors } from '../errors.js';
import { arrowTypeOf, dataTypeName } from './arrow-schema.js';

/** Input for one column; see the module comment for what each field type accepts. */
export type ColumnInput = BigInt64Array | Float32Array | Float64Array | Uint8Array | readonly unknown[];

function bad(field: FieldSchema, message: string, row?: number): never {
  const where = row === undefined ? '' : `row ${row} of `;
  throw errors.invalidArgument(`${where}field "${field.name}": ${message}`, row === undefined ? { field: field.name } : { field: field.name, row });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'string' ? `a string (${JSON.stringify(v.length > 32 ? `${v.slice(0, 29)}...` : v)})` : `${typeof v} ${String(v)}`;
}

/** Rows a column input holds for `field` (vectors: number of vectors). */
export function columnRows(field: FieldSchema, input: ColumnInput): number {
  if (field.dataType === DataType.FloatVector && input instanceof Float32Array) {
    if (input.length % field.dim !== 0) bad(field, `a flat Float32Array must hold n × dim (${field.dim}) values, got ${input.length}`);
    return input.length / field.dim;
  }
  if (!Array.isArray(input) && !ArrayBuffer.isView(input)) bad(field, `expected an array or typed array, got ${describe(input)}`);
  return input.length;
}

/** The default value of a field as the JS value its column holds, or undefined when it has none. */
function defaultOf(field: FieldSchema): unknown {
  const d: ScalarValue['data'] = field.defaultValue?.data;
  return d?.value;
}

function bitmapBytes(n: number): number {
  return ((n + 63) >> 6) << 3;
}

/** Tracks nulls while a scalar column is filled: the validity bitmap, made on the first null. */
class Validity {
  bitmap: Uint8Array | undefined;
  nullCount = 0;
  constructor(private readonly n: number) {}
  setNull(row: number): void {
    if (this.bitmap === undefined) {
      this.bitmap = new Uint8Array(bitmapBytes(this.n));
      // every row before this one was valid
      for (let i = 0; i < row; i++) this.bitmap[i >> 3]! |= 1 << (i & 7);
    }
    this.nullCount++;
  }
  setValid(row: number): void {
    if (this.bitmap !== undefined) this.bitmap[row >> 3]! |= 1 << (row & 7);
  }
}

/**
 * Resolves a missing value: the field's default, or null (returned as undefined) when the field is
 * nullable; otherwise an error.
 */
function missingValue(field: FieldSchema, row: number, dflt: unknown): unknown {
  if (dflt !== undefined) return dflt;
  if (field.nullable) return undefined;
  return bad(field, 'is null or missing, but the field is not nullable and has no default value', row);
}

function int64Column(field: FieldSchema, input: ColumnInput, n: number, type: ArrowType): Data {
  if (input instanceof BigInt64Array) return makeData({ type, length: n, nullCount: 0, data: input } as never);
  if (!Array.isArray(input)) bad(field, `an Int64 column must be a BigInt64Array or an array of bigints, got ${describe(input)}`);
  const values = new BigInt64Array(n);
  const validity = new Validity(n);
  const dflt = defaultOf(field);
  for (let i = 0; i < n; i++) {
    let v: unknown = input[i];
    if (v === null || v === undefined) v = missingValue(field, i, dflt);
    if (v === undefined) {
      validity.setNull(i);
      continue;
    }
    if (typeof v === 'bigint') {
      if (BigInt.asIntN(64, v) !== v) bad(field, `${v} does not fit in a signed 64-bit integer`, i);
      values[i] = v;
    } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
      values[i] = BigInt(v);
    } else {
      bad(field, `expected an Int64 (bigint or safe integer), got ${describe(v)}`, i);
    }
    validity.setValid(i);
  }
  return makeData({ type, length: n, nullCount: validity.nullCount, nullBitmap: validity.bitmap, data: values } as never);
}

function floatColumn(field: FieldSchema, input: ColumnInput, n: number, type: ArrowType, Ctor: Float32ArrayConstructor | Float64ArrayConstructor): Data {
  if (input instanceof Ctor) return makeData({ type, length: n, nullCount: 0, data: input } as never);
  if (!Array.isArray(input)) bad(field, `a ${dataTypeName(field.dataType)} column must be a ${Ctor.name} or an array of numbers, got ${describe(input)}`);
  const values = new Ctor(n);
  const validity = new Validity(n);
  const dflt = defaultOf(field);
  for (let i = 0; i < n; i++) {
    let v: unknown = input[i];
    if (v === null || v === undefined) v = missingValue(field, i, dflt);
    if (v === undefined) {
      validity.setNull(i);
      continue;
    }
    if (typeof v !== 'number') bad(field, `expected a number, got ${describe(v)}`, i);
    values[i] = v;
    validity.setValid(i);
  }
  return makeData({ type, length: n, nullCount: validity.nullCount, nullBitmap: validity.bitmap, data: values } as never);
}

function boolColumn(field: FieldSchema, input: ColumnInput, n: number, type: ArrowType): Data {
  const bits = new Uint8Array(bitmapBytes(n));
  const validity = new Validity(n);
  if (input instanceof Uint8Array) {
    for (let i = 0; i < n; i++) {
      const b = input[i]!;
      if (b > 1) bad(field, `a Uint8Array Bool column holds 0 or 1, got ${b}`, i);
      if (b === 1) bits[i >> 3]! |= 1 << (i & 7);
    }
  } else {
    if (!Array.isArray(input)) bad(field, `a Bool column must be an array of booleans or a Uint8Array of 0/1, got ${describe(input)}`);
    const dflt = defaultOf(field);
    for (let i = 0; i < n; i++) {
      let v: unknown = input[i];
      if (v === null || v === undefined) v = missingValue(field, i, dflt);
      if (v === undefined) {
        validity.setNull(i);
        continue;
      }
      if (typeof v !== 'boolean') bad(field, `expected a boolean, got ${describe(v)}`, i);
      if (v) bits[i >> 3]! |= 1 << (i & 7);
      validity.setValid(i);
    }
  }
  return makeData({ type, length: n, nullCount: validity.nullCount, nullBitmap: validity.bitmap, data: bits } as never);
}

function varCharColumn(field: FieldSchema, input: ColumnInput, n: number, type: ArrowType): Data {
  if (!Array.isArray(input)) bad(field, `a VarChar column must be an array of strings, got ${describe(input)}`);
  const validity = new Validity(n);
  const dflt = defaultOf(field);
  const offsets = new Int32Array(n + 1);
  const strings: (string | undefined)[] = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let v: unknown = input[i];
    if (v === null || v === undefined) v = missingValue(field, i, dflt);
    if (v === undefined) {
      validity.setNull(i);
      offsets[i + 1] = total;
      continue;
    }
    if (typeof v !== 'string') bad(field, `expected a string, got ${describe(v)}`, i);
    const len = Buffer.byteLength(v, 'utf8');
    if (field.maxLength > 0 && len > field.maxLength) bad(field, `is ${len} UTF-8 bytes long, above max_length ${field.maxLength}`, i);
    strings[i] = v;
    total += len;
    if (total > 0x7fffffff) bad(field, 'the column passes 2 GiB of text; split the insert');
    offsets[i + 1] = total;
    validity.setValid(i);
  }
  const data = Buffer.allocUnsafe(total);
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    if (s !== undefined) data.write(s, offsets[i]!, 'utf8');
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return makeData({ type, length: n, nullCount: validity.nullCount, nullBitmap: validity.bitmap, valueOffsets: offsets, data: bytes } as never);
}

function checkFinite(field: FieldSchema, values: Float32Array, dim: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // v - v is NaN exactly for NaN and ±Infinity: one subtraction instead of Number.isFinite's call
    if (v - v !== 0) bad(field, `vector element ${i % dim} is ${v}; vectors must hold finite numbers`, Math.floor(i / dim));
  }
}

function floatVectorColumn(field: FieldSchema, input: ColumnInput, n: number, type: ArrowType): Data {
  const dim = field.dim;
  let values: Float32Array;
  if (input instanceof Float32Array) {
    values = input;
  } else {
    if (!Array.isArray(input)) bad(field, `a FloatVector column must be a flat Float32Array (n × ${dim}) or an array of vectors, got ${describe(input)}`);
    values = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const v: unknown = input[i];
      if (v === null || v === undefined) bad(field, 'is null or missing; a vector field cannot be null', i);
      if (!(v instanceof Float32Array) && !Array.isArray(v)) bad(field, `expected a vector of ${dim} numbers, got ${describe(v)}`, i);
      const vec = v as ArrayLike<unknown>;
      if (vec.length !== dim) bad(field, `the vector has ${vec.length} values; dim is ${dim}`, i);
      if (v instanceof Float32Array) {
        values.set(v, i * dim);
      } else {
        for (let j = 0; j < dim; j++) {
          const x = vec[j];
          if (typeof x !== 'number') bad(field, `vector element ${j} is ${describe(x)}; expected a number`, i);
          values[i * dim + j] = x;
        }
      }
    }
  }
  checkFinite(field, values, dim);
  const childType = type.children[0]!.type;
  const child = makeData({ type: childType, length: n * dim, nullCount: 0, data: values } as never);
  return makeData({ type, length: n, nullCount: 0, child } as never);
}

/**
 * The column of a field that the caller left out: its default value repeated, or all nulls for a
 * nullable field. Throws INVALID_ARGUMENT when the field needs a value.
 */
function absentColumn(field: FieldSchema, n: number): Data {
  const dflt = defaultOf(field);
  if (dflt === undefined && !field.nullable) {
    bad(field, `is missing; it is required (${field.isPrimaryKey ? 'the primary key' : 'not nullable and without a default value'})`);
  }
  // Reuse the plain-array path: an array of n holes resolves each row to the default or to null.
  return buildColumn(field, new Array<unknown>(n), n);
}

/**
 * One column of `field` with `n` rows from `input` (undefined: the field was left out). Throws
 * INVALID_ARGUMENT naming the field (and row) for wrong types, lengths, dims, nulls and text too
 * long for max_length.
 */
export function buildColumn(field: FieldSchema, input: ColumnInput | undefined, n: number): Data {
  if (input === undefined) return absentColumn(field, n);
  const rows = columnRows(field, input);
  if (rows !== n) bad(field, `has ${rows} rows; the other columns have ${n}`);
  const type = arrowTypeOf(field);
  switch (type.typeId) {
    case Type.Int:
      return int64Column(field, input, n, type);
    case Type.Float:
      return floatColumn(field, input, n, type, field.dataType === DataType.Float ? Float32Array : Float64Array);
    case Type.Bool:
      return boolColumn(field, input, n, type);
    case Type.Utf8:
      return varCharColumn(field, input, n, type);
    default:
      return floatVectorColumn(field, input, n, type);
  }
}
