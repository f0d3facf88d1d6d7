/**
 * LogStore: where the embedded MsgStream keeps its channels. The stream (`LogMsgStream`) owns the
 * semantics (validation, seeks, waiting consumers); a store only appends, reads and truncates.
 * `MemoryLogStore` keeps records in memory; `LmdbLogStore` keeps them on disk, shared by every
 * process that opens the same directory.
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
  /**
   * Set when other processes may write the same log (a shared directory): how often, in ms, a
   * consumer waiting at the end of a channel checks for records it was not told about. Undefined
   * when every write goes through this process, whose stream wakes its consumers itself.
   */
  readonly pollIntervalMs?: number;
  /** Creates an empty channel if missing; true if it was created. */
  createChannel(channel: string): Promise<boolean>;
  /** Deletes a channel and its records; false if it was missing. */
  deleteChannel(channel: string): Promise<boolean>;
  /** True when the channel exists. */
  hasChannel(channel: string): Promise<boolean>;
  /**
   * Appends records atomically (all or none) and returns the offset of the first one. Appends
   * started by one process land in the order they were started. The store does not keep the
   * caller's buffers: it copies what it keeps before it returns or yields, so the caller may reuse
   * them at once. Throws NOT_FOUND for a missing channel.
   */
  append(channel: string, records: readonly StoredRecord[]): Promise<bigint>;
  /**
   * Records from offset `from` on: at most `maxRecords`, and no more once they total `maxBytes`
   * (payload plus key; at least one record is returned if there is one). Empty when `from` is the
   * end of the log. Throws NOT_FOUND for a missing channel, OFFSET_OUT_OF_RANGE when `from` is below
   * the earliest retained offset or beyond the end.
   */
  read(channel: string, from: bigint, maxRecords: number, maxBytes: number): Promise<StoredRecord[]>;
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

/** Bytes a record counts against a read's byte budget: payload plus key. */
export function recordBytes(record: StoredRecord): number {
  return record.payload.length + (record.key?.length ?? 0);
}
