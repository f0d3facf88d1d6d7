/**
 * The CLI's schema forms (compact flags, JSON file) and the row generator of `tidal insert`,
 * without a server.
 */
import { describe, expect, it } from 'vitest';
import { buildInsertBatch } from '../../src/common/arrow/index.js';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { DataType, type CollectionSchema } from '../../src/gen/schema.js';
import { RowGenerator } from '../../src/cli/row-generator.js';
import { describeType, parseFieldSpec, parsePkSpec, parseSchemaJson, parseVectorSpec } from '../../src/cli/schema-spec.js';

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.InvalidArgument);
    return (err as TidalError).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('schema-spec', () => {
  it('schema-spec - parses the compact flags', () => {
    expect(parsePkSpec('id:int64')).toMatchObject({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true, autoId: false });
    expect(parsePkSpec('id:int64:auto')).toMatchObject({ autoId: true });
    expect(parsePkSpec('key:varchar:32')).toMatchObject({ dataType: DataType.VarChar, maxLength: 32 });
    expect(parseVectorSpec('vec:float32:128')).toMatchObject({ name: 'vec', dataType: DataType.FloatVector, dim: 128 });
    expect(parseVectorSpec('vec:8')).toMatchObject({ dim: 8 });
    expect(parseFieldSpec('title:varchar:64')).toMatchObject({ dataType: DataType.VarChar, maxLength: 64, nullable: false });
    expect(parseFieldSpec('score:double:nullable')).toMatchObject({ dataType: DataType.Double, nullable: true });
    expect(parseFieldSpec('ok:bool')).toMatchObject({ dataType: DataType.Bool });
    expect(describeType(parseVectorSpec('v:4'))).toBe('float_vector(4)');
  });

  it('schema-spec - rejects malformed flags naming the flag and what is allowed', () => {
    expect(invalid(() => parsePkSpec('id:float'))).toBe('--pk "id:float": a primary key is int64 or varchar:<max_length>');
    expect(invalid(() => parsePkSpec('id:int64:yes'))).toBe('--pk "id:int64:yes": expected name:int64 or name:int64:auto');
    expect(invalid(() => parsePkSpec(':int64'))).toBe('--pk ":int64": the field name must not be empty');
    expect(invalid(() => parseVectorSpec('v:float64:4'))).toBe('--vector "v:float64:4": vectors are float32 (name:float32:<dim>)');
    expect(invalid(() => parseVectorSpec('v:0'))).toBe('--vector "v:0": dim must be a positive integer, got "0"');
    expect(invalid(() => parseFieldSpec('t:varchar'))).toBe('--field "t:varchar": expected name:varchar:<max_length>');
    expect(invalid(() => parseFieldSpec('v:float_vector'))).toBe('--field "v:float_vector": declare vectors with --vector name:float32:<dim>');
    expect(invalid(() => parseFieldSpec('x:int8'))).toMatch(/^--field "x:int8": unknown type "int8" \(allowed: bool, int64/);
  });

  it('schema-spec - takes the output of collection describe -o json (schema nested under "schema") as it is', () => {
    const fields = [{ name: 'id', dataType: 'Int64', isPrimaryKey: true }, { name: 'v', dataType: 'FloatVector', dim: 8 }];
    const nested = parseSchemaJson(JSON.stringify({ collectionName: 'c', collectionId: '1', schema: { name: 'c', description: 'd', fields } }), 'f.json');
    expect(nested).toEqual(parseSchemaJson(JSON.stringify({ name: 'c', description: 'd', fields }), 'f.json'));
    expect(nested.fields.map((f) => [f.name, f.dataType, f.dim])).toEqual([
      ['id', DataType.Int64, 0],
      ['v', DataType.FloatVector, 8],
    ]);
  });

  it('schema-spec - reads a JSON schema in camelCase or snake_case, with type names or numbers', () => {
    const s = parseSchemaJson(
      JSON.stringify({ description: 'd', fields: [{ name: 'id', dataType: 'Int64', isPrimaryKey: true }, { name: 'v', data_type: 101, dim: 4 }, { name: 't', dataType: 'varchar', max_length: 9 }] }),
      'f.json',
    );
    expect(s.description).toBe('d');
    expect(s.fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.dim, f.maxLength])).toEqual([
      ['id', DataType.Int64, true, 0, 0],
      ['v', DataType.FloatVector, false, 4, 0],
      ['t', DataType.VarChar, false, 0, 9],
    ]);
    expect(invalid(() => parseSchemaJson('nope', 'f.json'))).toMatch(/^schema file f\.json is not JSON: /);
    expect(invalid(() => parseSchemaJson('{"fields": [{"name": "x"}]}', 'f.json'))).toBe('schema file f.json: fields[0] ("x"): dataType is missing');
    expect(invalid(() => parseSchemaJson('{"fields": [{"name": "x", "dataType": 7}]}', 'f.json'))).toBe('schema file f.json: fields[0] ("x"): unknown dataType 7');
  });
});

const schema: CollectionSchema = {
  name: 'c',
  description: '',
  autoId: false,
  version: 0,
  fields: [parsePkSpec('id:int64'), parseVectorSpec('v:float32:8'), parseFieldSpec('t:varchar:6'), parseFieldSpec('b:bool'), parseFieldSpec('f:float'), parseFieldSpec('d:double'), parseFieldSpec('n:int64')],
};

describe('row-generator', () => {
  it('row-generator - sequential keys continue across batches; the batch fits the schema', () => {
    const gen = new RowGenerator('c', { schema, dim: 8, pkMode: 'sequential', pkStart: 10n });
    const a = gen.batch(3);
    const b = gen.batch(2);
    expect(Array.from(a.columns.id as BigInt64Array)).toEqual([10n, 11n, 12n]);
    expect(Array.from(b.columns.id as BigInt64Array)).toEqual([13n, 14n]);
    expect((a.columns.v as Float32Array).length).toBe(24);
    expect(a.columns.t).toEqual(['row-10', 'row-11', 'row-12']);
    const batch = buildInsertBatch(a.columns, schema);
    expect(batch.numRows).toBe(3);
    expect(a.bytes).toBe(3 * 8 + 24 * 4 + 18 + 3 + 3 * 4 + 3 * 8 + 3 * 8);
  });

  it('row-generator - random keys are non-negative; auto_id keys are left out', () => {
    const gen = new RowGenerator('c', { schema, dim: 8, pkMode: 'random', pkStart: 1n });
    const keys = Array.from(gen.batch(100).columns.id as BigInt64Array);
    expect(keys.every((k) => k >= 0n)).toBe(true);
    expect(new Set(keys).size).toBe(100);
    const auto = { ...schema, fields: [parsePkSpec('id:int64:auto'), parseVectorSpec('v:8')] };
    expect(Object.keys(new RowGenerator('c', { schema: auto, dim: 8, pkMode: 'sequential', pkStart: 1n }).batch(2).columns)).toEqual(['v']);
  });

  it('row-generator - rejects a dim that does not match and a schema without vectors', () => {
    expect(invalid(() => new RowGenerator('c', { schema, dim: 4, pkMode: 'sequential', pkStart: 1n }))).toBe('--dim 4 does not match collection "c": its vector field "v" has dim 8');
    const noVec = { ...schema, fields: [parsePkSpec('id:int64')] };
    expect(invalid(() => new RowGenerator('c', { schema: noVec, dim: 4, pkMode: 'sequential', pkStart: 1n }))).toBe('collection "c" has no float vector field, so --dim 4 does not fit its schema');
    const gen = new RowGenerator('c', { schema, dim: 8, pkMode: 'sequential', pkStart: (1n << 63n) - 2n });
    expect(invalid(() => gen.batch(5))).toMatch(/^sequential primary keys from 9223372036854775806 would pass the int64 range/);
  });
});
