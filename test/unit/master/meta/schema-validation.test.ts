import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../../src/common/errors.js';
import { CollectionSchema, DataType, FieldSchema } from '../../../../src/gen/schema.js';
import { validateCollectionSchema, validateKeyValues, validateName } from '../../../../src/master/meta/schema-validation.js';

const pk = (over: Partial<FieldSchema> = {}) => FieldSchema.fromPartial({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true, ...over });
const vec = (over: Partial<FieldSchema> = {}) => FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 8, ...over });
const schemaOf = (...fields: FieldSchema[]) => CollectionSchema.fromPartial({ fields });

/** The INVALID_ARGUMENT message `fn` throws. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.InvalidArgument);
    return (err as TidalError).message;
  }
  throw new Error('expected an INVALID_ARGUMENT error, got none');
}

describe('schema-validation', () => {
  it('schema-validation - accepts a valid schema, assigns field ids from 100 and folds auto_id into the primary key', () => {
    const s = validateCollectionSchema(
      'books',
      CollectionSchema.fromPartial({
        autoId: true,
        fields: [pk(), vec(), FieldSchema.fromPartial({ name: 'title', dataType: DataType.VarChar, maxLength: 256 })],
      }),
    );
    expect(s.name).toBe('books');
    expect(s.version).toBe(0);
    expect(s.fields.map((f) => f.fieldId)).toEqual([100n, 101n, 102n]);
    expect(s.fields[0]!.autoId).toBe(true);
    expect(s.autoId).toBe(true);
  });

  it('schema-validation - keeps given field ids and fills the zeros around them, without mutating the input', () => {
    const input = schemaOf(pk(), vec({ fieldId: 100n }), FieldSchema.fromPartial({ name: 'n', dataType: DataType.Double }));
    const s = validateCollectionSchema('c', input);
    expect(s.fields.map((f) => f.fieldId)).toEqual([101n, 100n, 102n]);
    expect(input.fields[0]!.fieldId).toBe(0n);
  });

  it('schema-validation - every rule has a message naming what was wrong and what is allowed', () => {
    const cases: [string, () => unknown][] = [
      ['collection name must not be empty', () => validateCollectionSchema('', schemaOf(pk()))],
      ['collection "books": a schema is required', () => validateCollectionSchema('books', undefined)],
      ['schema must have at least one field (a primary key)', () => validateCollectionSchema('books', schemaOf())],
      ['schema must have exactly one primary key field, found 0', () => validateCollectionSchema('books', schemaOf(vec()))],
      [
        'schema must have exactly one primary key field, found 2 ("id", "id2")',
        () => validateCollectionSchema('books', schemaOf(pk(), pk({ name: 'id2' }))),
      ],
      ['field "v": dim must be an integer from 1 to 32768, got 0', () => validateCollectionSchema('books', schemaOf(pk(), vec({ dim: 0 })))],
      ['field "v": dim must be an integer from 1 to 32768, got 32769', () => validateCollectionSchema('books', schemaOf(pk(), vec({ dim: 32769 })))],
      [
        'field "t": max_length must be an integer from 1 to 65535, got 0',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 't', dataType: DataType.VarChar }))),
      ],
      [
        'field "t": max_length must be an integer from 1 to 65535, got 65536',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 't', dataType: DataType.VarChar, maxLength: 65536 }))),
      ],
      [
        'field "v": field names must be unique; this one is given more than once',
        () => validateCollectionSchema('books', schemaOf(pk(), vec(), vec())),
      ],
      [
        'field "x": data type 42 is not supported; use one of Bool, Int64, Float, Double, VarChar, FloatVector',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 'x', dataType: 42 as DataType }))),
      ],
      [
        'field "x": data type None is not supported; use one of Bool, Int64, Float, Double, VarChar, FloatVector',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 'x' }))),
      ],
      ['field "id": a primary key must be Int64 or VarChar, got Float', () => validateCollectionSchema('books', schemaOf(pk({ dataType: DataType.Float })))],
      ['field "id": a primary key cannot be nullable', () => validateCollectionSchema('books', schemaOf(pk({ nullable: true })))],
      [
        'field "id": auto_id is only supported on an Int64 primary key',
        () => validateCollectionSchema('books', schemaOf(pk({ dataType: DataType.VarChar, maxLength: 64, autoId: true }))),
      ],
      ['field "v": auto_id applies only to the primary key field', () => validateCollectionSchema('books', schemaOf(pk(), vec({ autoId: true })))],
      ['field "v": a vector field cannot be nullable', () => validateCollectionSchema('books', schemaOf(pk(), vec({ nullable: true })))],
      [
        'field "n": dim applies only to vector fields; leave it 0 for a Double field, got 4',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 'n', dataType: DataType.Double, dim: 4 }))),
      ],
      [
        'field "n": max_length applies only to VarChar fields; leave it 0 for an Int64 field, got 4',
        () => validateCollectionSchema('books', schemaOf(pk(), FieldSchema.fromPartial({ name: 'n', dataType: DataType.Int64, maxLength: 4 }))),
      ],
      [
        'field "RowID": the name is reserved for a system column (RowID, Timestamp)',
        () => validateCollectionSchema('books', schemaOf(pk({ name: 'RowID' }))),
      ],
      ['field name "1st" is invalid: the first character must be a letter or an underscore', () => validateCollectionSchema('books', schemaOf(pk({ name: '1st' })))],
      ['field name must not be empty', () => validateCollectionSchema('books', schemaOf(pk({ name: '' })))],
      [
        'field "x": field id 5 is reserved; user field ids start at 100 (or leave it 0)',
        () => validateCollectionSchema('books', schemaOf(pk({ name: 'x', fieldId: 5n }))),
      ],
      [
        'field "v": field id 100 is already used by field "id"',
        () => validateCollectionSchema('books', schemaOf(pk({ fieldId: 100n }), vec({ fieldId: 100n }))),
      ],
      [
        'schema name "other" does not match collection name "books"; leave it empty or make them equal',
        () => validateCollectionSchema('books', CollectionSchema.fromPartial({ name: 'other', fields: [pk()] })),
      ],
      [
        'field "id": the schema asks for auto_id, which is only supported on an Int64 primary key',
        () => validateCollectionSchema('books', CollectionSchema.fromPartial({ autoId: true, fields: [pk({ dataType: DataType.VarChar, maxLength: 8 })] })),
      ],
      [
        'field "n": default value must be a Double (doubleData), got longData',
        () =>
          validateCollectionSchema(
            'books',
            schemaOf(pk(), FieldSchema.fromPartial({ name: 'n', dataType: DataType.Double, defaultValue: { data: { $case: 'longData', value: 1n } } })),
          ),
      ],
      [
        'field "t": default value is 5 bytes long, above max_length 4',
        () =>
          validateCollectionSchema(
            'books',
            schemaOf(
              pk(),
              FieldSchema.fromPartial({ name: 't', dataType: DataType.VarChar, maxLength: 4, defaultValue: { data: { $case: 'stringData', value: 'hello' } } }),
            ),
          ),
      ],
      [
        'schema has 65 fields; the limit is 64',
        () => validateCollectionSchema('books', schemaOf(pk(), ...Array.from({ length: 64 }, (_, i) => FieldSchema.fromPartial({ name: `f${i}`, dataType: DataType.Bool })))),
      ],
    ];
    for (const [message, fn] of cases) expect(messageOf(fn)).toBe(message);
  });

  it('schema-validation - names follow the identifier rule and the 255-character limit', () => {
    expect(() => validateName('collection', 'Books_2024')).not.toThrow();
    expect(() => validateName('partition', '_p')).not.toThrow();
    expect(messageOf(() => validateName('collection', ''))).toBe('collection name must not be empty');
    expect(messageOf(() => validateName('collection', '9lives'))).toBe(
      'collection name "9lives" is invalid: the first character must be a letter or an underscore',
    );
    expect(messageOf(() => validateName('partition', 'a-b'))).toBe('partition name "a-b" is invalid: use only letters, digits and underscores');
    expect(messageOf(() => validateName('index', 'a'.repeat(256)))).toMatch(/^index name "a{61}\.\.\." is 256 characters long; the limit is 255$/);
    expect(() => validateName('index', 'a'.repeat(255))).not.toThrow();
  });

  it('schema-validation - key/value lists need non-empty, unique keys', () => {
    expect(messageOf(() => validateKeyValues('index params', [{ key: '', value: 'x' }]))).toBe('index params: a key must not be empty');
    expect(
      messageOf(() =>
        validateKeyValues('properties', [
          { key: 'ttl', value: '1' },
          { key: 'ttl', value: '2' },
        ]),
      ),
    ).toBe('properties: key "ttl" is given more than once');
  });
});
