/**
 * Public surface of src/master/segment: the segment manager (AssignSegmentID, Flush, ShowSegments,
 * DescribeSegment, flushable segments for DataNode ticks), its store and policies.
 */
export { SegmentManager } from './segment-manager.js';
export {
  type SegmentManagerOptions,
  type SegmentManagerConfig,
  type SegmentManagerState,
  type SegmentManagerEvents,
  type SegmentRequest,
  type SegmentAssignment,
  type SegmentAllocation,
  type FlushResult,
} from './segment-types.js';
export { checkEdit, notSealed } from './state-transition.js';
export type { CollectionInfo, CollectionLookup } from './collection-lookup.js';
export { SegmentStore, SEGMENT_KEY_PREFIX, type SegmentStoreOptions, type TxnExtras } from './segment-store.js';
export { estimateRowSizeBytes, estimateFieldBytes, segmentCapacityRows, SYSTEM_FIELDS_BYTES } from './row-size.js';
export { sealReasonAt, isFull, lifetimeExceeded, idleExceeded, type SealReason, type SealThresholds, type AllocationState } from './seal-policy.js';
export { KeyedMutex } from './keyed-mutex.js';
