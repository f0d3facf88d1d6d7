/**
 * How many rows of a collection one segment holds, computed the way the master's segment manager
 * does (`maxSizeBytes / rowSizeBytes`, with a VarChar counted at its max_length, a FloatVector at
 * 4 × dim and 16 bytes of RowID + Timestamp per row), so the proxy never asks AssignSegmentID for
 * more than one segment's capacity in a request (the master refuses that).
 *
 * Kept in step with src/master/segment/row-size.ts by hand: the proxy must not import the master.
 * Should the two disagree, a smaller estimate here only splits requests more; a larger one makes
 * the master answer INVALID_ARGUMENT for a large insert.
 */
import { DataType, type CollectionSchema } from '../gen/schema.js';

/** The master config key of the max segment size (GetSysConfigs). */
export const MAX_SEGMENT_SIZE_KEY = 'master.segment.maxSizeBytes';

/** Estimated bytes of one row (upper bound), as the master computes it. */
export function estimateRowBytes(schema: CollectionSchema): number {
  let bytes = 16;
  for (const f of schema.fields) {
    if (f.fieldId === 0n || f.fieldId === 1n) continue;
    switch (f.dataType) {
      case DataType.Bool:
        bytes += 1;
        break;
      case DataType.Float:
        bytes += 4;
        break;
      case DataType.VarChar:
        bytes += Math.max(1, f.maxLength);
        break;
      case DataType.FloatVector:
        bytes += 4 * Math.max(1, f.dim);
        break;
      default:
        bytes += 8;
    }
  }
  return bytes;
}

/** Rows one segment of `maxSizeBytes` holds (at least 1). */
export function segmentCapacityRows(schema: CollectionSchema, maxSizeBytes: number): number {
  return Math.max(1, Math.floor(maxSizeBytes / estimateRowBytes(schema)));
}
