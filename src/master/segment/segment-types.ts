/**
 * The request, result and option types of the SegmentManager (what the gRPC service passes in and
 * gets back).
 */
import type { SegmentConfig } from '../../common/config.js';
import type { Logger } from '../../common/log.js';
import type { SegmentInfo } from '../../gen/segment.js';
import type { Compare, MetaKV } from '../../kv/meta-kv.js';
import type { IdAllocator } from '../idalloc/id-allocator.js';
import type { TimestampOracle } from '../tso/timestamp-oracle.js';
import type { CollectionLookup } from './collection-lookup.js';
import type { SealReason } from './seal-policy.js';

/** The `master.segment` settings the manager uses (sizes in bytes, times in ms). */
export type SegmentManagerConfig = Pick<
  SegmentConfig,
  'maxSizeBytes' | 'allocationExpireMs' | 'maxLifetimeMs' | 'maxIdleMs' | 'minSizeToSealIdleBytes'
>;

/** Options of {@link SegmentManager}. */
export interface SegmentManagerOptions {
  kv: MetaKV;
  /** The TSO (only `alloc` is used): the clock of expiry, lifetime and idleness. */
  tso: Pick<TimestampOracle, 'alloc'>;
  /** The global ID allocator (segment IDs). */
  ids: Pick<IdAllocator, 'alloc'>;
  /** Live collections (schema, vchannels, partitions). */
  collections: CollectionLookup;
  config: SegmentManagerConfig;
  /** Compares every write must satisfy (the serving master's key). Default none. */
  guard?: () => Compare[];
  /** Key prefix of segments. Default `meta/segment/`. */
  keyPrefix?: string;
  logger?: Logger;
}

/** Room asked for `count` rows of one (collection, partition, vchannel). */
export interface SegmentRequest {
  collectionId: bigint;
  partitionId: bigint;
  vchannel: string;
  /** Rows, an integer from 1 to one segment's capacity. */
  count: number;
}

/** `count` rows may go to `segmentId` with timestamps below `expireTs`. */
export interface SegmentAssignment {
  /** Index of the request (in the `assign` call) this answers; a request may get several. */
  requestIndex: number;
  segmentId: bigint;
  collectionId: bigint;
  partitionId: bigint;
  vchannel: string;
  count: number;
  /** Hybrid timestamp (TSO time) after which the allocation lapses. */
  expireTs: bigint;
}

/** Outcome of {@link SegmentManager.flush}. */
export interface FlushResult {
  /** Growing segments this call sealed. */
  sealedSegmentIds: bigint[];
  /** Segments sealed before (Sealed or Flushing), not yet flushed. */
  pendingSegmentIds: bigint[];
  /** Segments already Flushed. */
  flushedSegmentIds: bigint[];
}

/** How much of a segment was handed out, as this master knows it. */
export interface SegmentAllocation {
  allocatedRows: number;
  maxRows: number;
  /** Largest expiry of its allocations (hybrid ts). */
  lastExpireTs: bigint;
}

/** Lifecycle of a SegmentManager. */
export type SegmentManagerState = 'idle' | 'starting' | 'serving' | 'closed';

/** Events of a SegmentManager (for logs and metrics). */
export interface SegmentManagerEvents {
  opened: [segment: SegmentInfo];
  sealed: [segment: SegmentInfo, reason: SealReason];
}
