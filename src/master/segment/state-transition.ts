/**
 * The segment lifecycle rules every change must follow: identity fields never change, and the state
 * only moves forward (Growing → Sealed → Flushing → Flushed, or to Dropped).
 */
import { errors, type TidalError } from '../../common/errors.js';
import { SegmentState, segmentStateToJSON, type SegmentInfo } from '../../gen/segment.js';

/** FAILED_PRECONDITION: a growing segment cannot be marked flushing or flushed. */
export function notSealed(info: SegmentInfo): TidalError {
  return errors.failedPrecondition(`segment ${info.segmentId} is still Growing: seal it (flush) first`, { segmentId: info.segmentId.toString() });
}

/** Throws INVALID_ARGUMENT when an update edits an identity field or moves the state backwards. */
export function checkEdit(before: SegmentInfo, after: SegmentInfo): void {
  for (const k of ['segmentId', 'collectionId', 'partitionId', 'insertChannel'] as const) {
    if (before[k] !== after[k]) {
      throw errors.invalidArgument(`segment ${before.segmentId}: ${k} cannot change (${String(before[k])} → ${String(after[k])})`, {
        segmentId: before.segmentId.toString(),
      });
    }
  }
  // The enum's numbers are in lifecycle order: Growing 1 < Sealed 2 < Flushing 3 < Flushed 4 < Dropped 5.
  if (after.state < before.state || after.state < SegmentState.Growing || after.state > SegmentState.Dropped) {
    throw errors.invalidArgument(
      `segment ${before.segmentId}: state cannot go from ${segmentStateToJSON(before.state)} to ${segmentStateToJSON(after.state)}; it moves Growing → Sealed → Flushing → Flushed, or to Dropped`,
      { segmentId: before.segmentId.toString() },
    );
  }
}
