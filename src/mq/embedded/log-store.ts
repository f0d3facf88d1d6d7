/**
 * LogStore: where the embedded MsgStream keeps its channels. The stream (`LogMsgStream`) owns the
 * semantics (validation, seeks, waiting consumers); a store only appends, reads and truncates.
 * `MemoryLogStore` keeps records in memory; a persistent on-disk store plugs in behind the same
 * interface.
 */
import type { ChannelOffsets } from '../msg-stream.js';

/** One record as a store keeps it. */
export interface StoredRecord {
  payload: Buffer;
  key?: Buffer;
  /** Hybrid timestamp (0n if the producer gave none). */
  timestamp: bigint;
}

/** The storage behind an embedded MsgStream. Methods throw TidalError. */
export interface LogStore {
  /** Creates an empty channel if missing; true if it was created. */
  createChannel(channel: string): Promise<boolean>;
  /** Deletes a channel and its records; false if it was missing. */
  deleteChannel(channel: string): Promise<boolean>;
  /** True when the channel exists. */
  hasChannel(channel: string): Promise<boolean>;
  /**
   * Appends records atomically (all or none) and returns the offset of the first one.
   * Throws NOT_FOUND for a missing channel.
   */
  append(channel: string, records: readonly StoredRecord[]): Promise<bigint>;
  /**
   * Up to `maxRecords` records from offset `from` on; empty when `from` is the end of the log.
   * Throws NOT_FOUND for a missing channel, OFFSET_OUT_OF_RANGE when `from` is below the earliest
   * retained offset or beyond the end.
   */
  read(channel: string, from: bigint, maxRecords: number): Promise<StoredRecord[]>;
  /** Earliest retained offset and next offset. Throws NOT_FOUND for a missing channel. */
  offsets(channel: string): Promise<ChannelOffsets>;
  /**
   * Drops every record below `offset` (like Kafka retention or DeleteRecords) and returns the new
   * earliest offset. `offset` above the end is INVALID_ARGUMENT; below the earliest, a no-op.
   */
  truncateBefore(channel: string, offset: bigint): Promise<bigint>;
  /** Releases the store. Safe to call twice. */
  close(): Promise<void>;
}
