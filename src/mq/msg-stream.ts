/**
 * MsgStream: the message-log seam. Kafka in production (`KafkaMsgStream`), an embedded log for
 * standalone and unit tests. Both pass test/conformance/msg-stream.suite.ts.
 *
 * A channel is one ordered log (a Kafka topic with one partition). Positions are Tidal's own,
 * stored in etcd by the caller, never consumer-group offsets.
 */

/** Where a message sits: its channel, its offset (msgID) and its hybrid timestamp. */
export interface Position {
  channel: string;
  /** Offset in the channel (Kafka offset), starting at 0. */
  msgId: bigint;
  /** Hybrid timestamp the producer stamped on the message (0n if none). */
  timestamp: bigint;
}

/** A message to produce. */
export interface ProduceMessage {
  payload: Buffer | Uint8Array;
  /** Hybrid timestamp recorded with the message and returned in its position. */
  timestamp?: bigint;
  key?: Buffer | string;
}

/** A consumed message. */
export interface ConsumedMessage {
  position: Position;
  payload: Buffer;
  key?: Buffer;
}

/** Where a consumer starts. */
export type SeekFrom =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  /** From a position: including it (`inclusive: true`) or just after it. */
  | { kind: 'position'; position: Position; inclusive: boolean };

/** Offsets of a channel: the first retained one and the next one to be written. */
export interface ChannelOffsets {
  /** Lowest offset still retained (low watermark). */
  earliest: bigint;
  /** Offset the next produced message will get (high watermark). */
  latest: bigint;
}

/** Largest batch a consumer hands out at once unless told otherwise. */
export const DEFAULT_MAX_BATCH_MESSAGES = 1_000;

/** How a consumer hands out messages. */
export interface ConsumeOptions {
  /** Largest batch handed to the caller at once (a positive integer). Default 1,000. */
  maxBatchMessages?: number;
}

/**
 * A consumer of one channel, read as an async iterable of batches in offset order. Pulling is the
 * backpressure: while the caller does not ask for the next batch, fetching pauses (bounded
 * read-ahead). Iteration throws TidalError OFFSET_OUT_OF_RANGE if the next offset it needs was
 * deleted by retention — never a silent jump.
 */
export interface Consumer extends AsyncIterable<ConsumedMessage[]> {
  readonly channel: string;
  /** Stops consuming; a pending iteration ends. Safe to call twice. */
  close(): Promise<void>;
}

/** The message-log seam. Methods throw TidalError. */
export interface MsgStream {
  /** Creates a channel if missing (idempotent). */
  createChannel(channel: string): Promise<void>;
  /** Deletes a channel and its messages. Deleting a missing channel is not an error. */
  deleteChannel(channel: string): Promise<void>;
  /** True when the channel exists. */
  hasChannel(channel: string): Promise<boolean>;
  /**
   * Appends messages to a channel, in order, and resolves once the log has them (acks from all
   * in-sync replicas) with one position per message. Concurrent calls to one channel are appended
   * one after the other, so a call's messages are contiguous. Throws NOT_FOUND for a missing
   * channel, RESOURCE_EXHAUSTED for a message above maxMessageBytes, INVALID_ARGUMENT for a bad
   * timestamp (those two before writing anything). A backend failure after part of a large call
   * was written says how many messages were (`context.written`).
   */
  produce(channel: string, messages: ProduceMessage[]): Promise<Position[]>;
  /** Starts consuming a channel. Throws OFFSET_OUT_OF_RANGE if a seek position was deleted. */
  consume(channel: string, from: SeekFrom, options?: ConsumeOptions): Promise<Consumer>;
  /** First retained offset and next offset of a channel. */
  offsets(channel: string): Promise<ChannelOffsets>;
  /**
   * Largest message the log accepts, in bytes of payload plus key (producers split messages under
   * it). produce rejects a bigger one with RESOURCE_EXHAUSTED before writing anything.
   */
  readonly maxMessageBytes: number;
  /** Closes producers and consumers. Safe to call twice. */
  close(): Promise<void>;
}
