/**
 * Row size estimate of a collection schema, from which a segment's row capacity follows
 * (`maxSizeBytes / rowSizeBytes`).
 *
 * The estimate is an upper bound, so a segment filled to capacity never exceeds the max segment
 * size: a VarChar counts its full `max_length` (not an average), and every row carries the two
 * system columns RowID (int64) and Timestamp (uint64).
 */
import { errors } from '../../common/errors.js';
import { DataType, type CollectionSchema, type FieldSchema } from '../../gen/schema.js';

/** Bytes of the system columns every row carries: RowID (8) + Timestamp (8). */
export const SYSTEM_FIELDS_BYTES = 16;

/** Field ids reserved for the system columns (RowID 0, Timestamp 1); not counted twice if a schema lists them. */
const SYSTEM_FIELD_IDS: ReadonlySet<bigint> = new Set([0n, 1n]);

/**
 * Estimated bytes of one value of `field`: Int64 8, Double 8, Float 4, Bool 1, VarChar its
 * `max_length`, FloatVector 4 × dim. Throws INVALID_ARGUMENT for an unknown type, a FloatVector
 * without a positive dim or a VarChar without a positive max_length.
 */
export function estimateFieldBytes(field: FieldSchema): number {
  switch (field.dataType) {
    case DataType.Bool:
      return 1;
    case DataType.Int64:
    case DataType.Double:
      return 8;
    case DataType.Float:
      return 4;
    case DataType.VarChar:
      if (!(field.maxLength > 0)) {
        throw errors.invalidArgument(`field ${field.name}: a VarChar needs max_length > 0 to size segments, got ${field.maxLength}`, {
          field: field.name,
        });
      }
      return field.maxLength;
    case DataType.FloatVector:
      if (!(field.dim > 0)) {
        throw errors.invalidArgument(`field ${field.name}: a FloatVector needs dim > 0, got ${field.dim}`, { field: field.name });
      }
      return 4 * field.dim;
    default:
      throw errors.invalidArgument(
        `field ${field.name}: unknown data type ${String(field.dataType)}; allowed: Bool, Int64, Float, Double, VarChar, FloatVector`,
        { field: field.name, dataType: field.dataType },
      );
  }
}

/**
 * Estimated bytes of one row of `schema`: the sum of its fields plus {@link SYSTEM_FIELDS_BYTES}.
 * Throws INVALID_ARGUMENT as {@link estimateFieldBytes} does.
 */
export function estimateRowSizeBytes(schema: CollectionSchema): number {
  let bytes = SYSTEM_FIELDS_BYTES;
  for (const field of schema.fields) {
    if (SYSTEM_FIELD_IDS.has(field.fieldId)) continue;
    bytes += estimateFieldBytes(field);
  }
  return bytes;
}

/**
 * Rows a segment of `maxSizeBytes` holds for rows of `rowSizeBytes` (floor). Throws
 * INVALID_ARGUMENT when not even one row fits.
 */
export function segmentCapacityRows(maxSizeBytes: number, rowSizeBytes: number): number {
  const rows = Math.floor(maxSizeBytes / rowSizeBytes);
  if (rows < 1) {
    throw errors.invalidArgument(`one row (${rowSizeBytes} bytes estimated) is larger than the max segment size of ${maxSizeBytes} bytes`, {
      rowSizeBytes,
      maxSizeBytes,
    });
  }
  return rows;
}
