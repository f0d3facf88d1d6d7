/**
 * What travels through a vchannel's flowgraph: the dispatcher hands the input raw records with
 * their header decoded ({@link DispatchedMsg}); the dd node turns each into one {@link FlowMsg}
 * (body decoded, rows as Arrow, filtered), which the insert, delete and time-tick nodes consume.
 */
import type { RecordBatch } from 'apache-arrow';
import type { MsgPosition } from '../../gen/common.js';
import type { StreamMsgHeader } from '../../gen/msg.js';
import type { Position } from '../../mq/msg-stream.js';

/** A record of the pchannel routed to one vchannel: its position, its header, its undecoded bytes. */
export interface DispatchedMsg {
  position: Position;
  header: StreamMsgHeader;
  payload: Buffer;
}

/** Rows of one Insert message, decoded: Arrow columns plus per-row timestamp and row-id views. */
export interface InsertFlowMsg {
  kind: 'insert';
  position: Position;
  segmentId: bigint;
  partitionId: bigint;
  /** The user fields (schema order), buffers viewing the message bytes (or a copy of them). */
  batch: RecordBatch;
  timestamps: BigUint64Array;
  rowIds: BigInt64Array;
  /** Bytes the rows hold in memory (what the write buffer accounts for). */
  bytes: number;
}

/** Deletes of one Delete message (keys typed as the primary key). */
export interface DeleteFlowMsg {
  kind: 'delete';
  position: Position;
  /** The partition, or 0n for every partition. */
  partitionId: bigint;
  pks: BigInt64Array | string[];
  timestamps: BigUint64Array;
  bytes: number;
}

/** A time tick: no later message on the pchannel has a timestamp below `ts`. */
export interface TickFlowMsg {
  kind: 'tick';
  position: Position;
  ts: bigint;
}

/** The collection was dropped (as of `ts`). */
export interface DropCollectionFlowMsg {
  kind: 'drop-collection';
  position: Position;
  ts: bigint;
}

/** A partition of the collection was dropped (as of `ts`). */
export interface DropPartitionFlowMsg {
  kind: 'drop-partition';
  position: Position;
  partitionId: bigint;
  ts: bigint;
}

/** A record that carries nothing for the buffers (filtered, skipped or undecodable): it only moves the position. */
export interface SkipFlowMsg {
  kind: 'skip';
  position: Position;
}

/** What the dd node emits, one per record it keeps (and a trailing skip for a filtered tail). */
export type FlowMsg = InsertFlowMsg | DeleteFlowMsg | TickFlowMsg | DropCollectionFlowMsg | DropPartitionFlowMsg | SkipFlowMsg;

/** A log position as the proto spells it (`channelName` = the pchannel). */
export function toMsgPosition(p: Position): MsgPosition {
  return { channelName: p.channel, msgId: p.msgId, timestamp: p.timestamp };
}

/** A proto position as the log spells it. */
export function fromMsgPosition(p: MsgPosition): Position {
  return { channel: p.channelName, msgId: p.msgId, timestamp: p.timestamp };
}

/** Orders two positions of one channel by offset. */
export function comparePositions(a: { msgId: bigint }, b: { msgId: bigint }): number {
  return a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0;
}

const VCHANNEL_RE = /^(.+)_(\d+)v(\d+)$/;

/**
 * The pchannel a vchannel `{pchannel}_{collectionID}v{shard}` lives on (DESIGN "Channels and
 * messages"). Returns undefined for a name of another shape.
 */
export function pchannelOf(vchannel: string): string | undefined {
  return VCHANNEL_RE.exec(vchannel)?.[1];
}
