import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import { DataType, type FieldSchema } from '../../../../src/gen/schema.js';
import { estimateRowSizeBytes, segmentCapacityRows } from '../../../../src/master/segment/row-size.js';

const field = (fieldId: bigint, dataType: DataType, extra: Partial<FieldSchema> = {}): FieldSchema => ({
  fieldId,
  name: `f${fieldId}`,
  isPrimaryKey: false,
  description: '',
  dataType,
  dim: 0,
  maxLength: 0,
  autoId: false,
  nullable: false,
  ...extra,
});

const schema = (fields: FieldSchema[]) => ({ name: 's', description: '', autoId: false, version: 0, fields });

describe('row-size', () => {
  it('row-size - sums the fixed sizes, VarChar max_length, 4 x dim, plus RowID and Timestamp', () => {
    const s = schema([
      field(100n, DataType.Int64, { isPrimaryKey: true }),
      field(101n, DataType.Double),
      field(102n, DataType.Float),
      field(103n, DataType.Bool),
      field(104n, DataType.VarChar, { maxLength: 100 }),
      field(105n, DataType.FloatVector, { dim: 128 }),
    ]);
    expect(estimateRowSizeBytes(s)).toBe(8 + 8 + 4 + 1 + 100 + 512 + 16);
  });

  it('row-size - does not count the system fields twice when a schema lists them', () => {
    const s = schema([field(0n, DataType.Int64), field(1n, DataType.Int64), field(100n, DataType.Int64)]);
    expect(estimateRowSizeBytes(s)).toBe(8 + 16);
  });

  it('row-size - rejects fields it cannot size', () => {
    expect(() => estimateRowSizeBytes(schema([field(100n, DataType.VarChar)]))).toThrow(/f100: a VarChar needs max_length > 0/);
    expect(() => estimateRowSizeBytes(schema([field(100n, DataType.FloatVector)]))).toThrow(/f100: a FloatVector needs dim > 0/);
    expect(() => estimateRowSizeBytes(schema([field(100n, DataType.None)]))).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidArgument, message: expect.stringMatching(/unknown data type 0; allowed: Bool, Int64/) }),
    );
  });

  it('row-size - capacity is the floor of size over row size, at least one row', () => {
    expect(segmentCapacityRows(1000, 32)).toBe(31);
    expect(() => segmentCapacityRows(10, 32)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
  });
});
