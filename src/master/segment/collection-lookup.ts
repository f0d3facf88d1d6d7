/**
 * What the segment manager needs to know about collections, as a small interface the meta table
 * (or anything else) implements, so the segment manager does not depend on the meta table.
 */
import type { CollectionSchema } from '../../gen/schema.js';

/** The parts of a collection the segment manager reads. */
export interface CollectionInfo {
  id: bigint;
  /** Current schema (its row size sets the capacity of newly opened segments). */
  schema: CollectionSchema;
  /** The collection's vchannels (one per shard). */
  vchannels: readonly string[];
  /** Its live partitions. */
  partitionIds: readonly bigint[];
}

/** Finds a live collection by id; undefined when unknown or dropped. May answer synchronously. */
export interface CollectionLookup {
  collection(id: bigint): CollectionInfo | undefined | Promise<CollectionInfo | undefined>;
}
