/**
 * One sync of one segment, as data: what the write buffer hands over ({@link SyncPayload}), the
 * objects it becomes (insert log, stats log, delta log; DESIGN "Segments and binlogs") and the
 * SaveBinlogPaths request that records them.
 *
 * All three objects of a sync share one log id, derived from the start position of the synced
 * range (`deriveLogId`): a replay after a crash starts the range at the same message and
 * overwrites the same keys rather than adding objects. Keys are relative to the object store's
 * root (the store applies its own root path), and are what `Binlog.log_path` records.
 */
import type { RecordBatch } from 'apache-arrow';
import type { MsgPosition } from '../../gen/common.js';
import type { SaveBinlogPathsRequest } from '../../gen/master.js';
import type { CollectionSchema } from '../../gen/schema.js';
import type { Binlog } from '../../gen/segment.js';
import {
  binlogEntry,
  computePkStats,
  deltaLogPath,
  deriveLogId,
  insertLogPath,
  statsLogPath,
  writeDeltaLog,
  writeInsertLogParts,
  writeStatsLog,
  type BinlogScope,
  type PkStats,
} from '../../storage/binlog/index.js';
import type { Position } from '../../mq/msg-stream.js';
import type { ObjectBody } from '../../storage/object-store.js';
import { toMsgPosition } from '../pipeline/messages.js';
import type { DeleteChunk, InsertChunk } from '../writebuffer/segment-buffer.js';

/** What the write buffer hands to a sync: the chunks of one segment taken out of its buffer. */
export interface SyncPayload {
  vchannel: string;
  collectionId: bigint;
  partitionId: bigint;
  segmentId: bigint;
  schema: CollectionSchema;
  inserts: InsertChunk[];
  deletes: DeleteChunk[];
  /** Rows of `inserts`; bytes of every chunk (released from the memory budget after the sync). */
  rows: number;
  bytes: number;
  /** Smallest and largest position of the chunks (undefined when there are none). */
  start: Position | undefined;
  end: Position | undefined;
  /** Mark the segment Flushed (a flush) or Dropped (its collection or partition was dropped). */
  flushed: boolean;
  dropped: boolean;
}

/** The segment as the sync finds it when it runs (after the segment's previous sync). */
export interface SegmentBase {
  /** Rows already in the segment's referenced binlogs. */
  flushedRows: bigint;
  startPosition: MsgPosition | undefined;
  /** Whether the master already has the start position. */
  startSaved: boolean;
}

/** One object to write. */
export interface SyncObject {
  key: string;
  /** The object's bytes, as one array or as the pieces of its file in order (not joined). */
  body: ObjectBody;
  /** Size of `body` in bytes. */
  byteLength: number;
}

/** A payload encoded: its objects, their Binlog entries and the stats of its rows. */
export interface EncodedSync {
  objects: SyncObject[];
  insertLogs: Binlog[];
  statsLogs: Binlog[];
  deltaLogs: Binlog[];
  pkStats: PkStats | undefined;
  /** The segment checkpoint position (the last message of the range). */
  endPosition: MsgPosition | undefined;
}

/**
 * Encodes a payload's chunks as binlogs (pure, deterministic). Throws INVALID_ARGUMENT from the
 * codecs when the chunks do not match the schema (a bug: the dd node checked them).
 */
export function encodeSync(p: SyncPayload): EncodedSync {
  const out: EncodedSync = { objects: [], insertLogs: [], statsLogs: [], deltaLogs: [], pkStats: undefined, endPosition: p.end && toMsgPosition(p.end) };
  if (p.start === undefined || p.end === undefined) return out;
  const scope: BinlogScope = {
    collectionId: p.collectionId,
    partitionId: p.partitionId,
    segmentId: p.segmentId,
    startPosition: toMsgPosition(p.start),
    endPosition: toMsgPosition(p.end),
  };
  const logId = deriveLogId(scope.startPosition);
  if (p.inserts.length > 0) {
    const ins = writeInsertLogParts(
      p.schema,
      p.inserts.map((c) => ({ batch: c.batch, timestamps: c.timestamps, rowIds: c.rowIds })),
      scope,
    );
    const pkIndex = p.schema.fields.findIndex((f) => f.isPrimaryKey);
    const stats = computePkStats(
      p.schema,
      p.inserts.map((c) => (c.batch as RecordBatch).data.children[pkIndex]!),
    );
    const statsBin = writeStatsLog(stats, ins.meta);
    const insKey = insertLogPath('', p.collectionId, p.partitionId, p.segmentId, logId);
    const statsKey = statsLogPath('', p.collectionId, p.partitionId, p.segmentId, logId);
    out.objects.push({ key: insKey, body: ins.parts, byteLength: ins.byteLength }, { key: statsKey, body: statsBin.bytes, byteLength: statsBin.bytes.byteLength });
    out.insertLogs.push(binlogEntry(insKey, ins));
    out.statsLogs.push(binlogEntry(statsKey, statsBin));
    out.pkStats = stats;
  }
  if (p.deletes.length > 0) {
    const delta = writeDeltaLog(
      p.schema,
      p.deletes.map((d) => ({ pks: d.pks, timestamps: d.timestamps })),
      scope,
    );
    const key = deltaLogPath('', p.collectionId, p.partitionId, p.segmentId, logId);
    out.objects.push({ key, body: delta.bytes, byteLength: delta.bytes.byteLength });
    out.deltaLogs.push(binlogEntry(key, delta));
  }
  return out;
}

/** The SaveBinlogPaths request of an encoded sync (`base` is filled by the master link). */
export function saveRequest(p: SyncPayload, enc: EncodedSync, base: SegmentBase, channelCheckpoint: MsgPosition | undefined): Omit<SaveBinlogPathsRequest, 'base'> {
  return {
    segmentId: p.segmentId,
    collectionId: p.collectionId,
    partitionId: p.partitionId,
    channel: p.vchannel,
    insertLogs: enc.insertLogs,
    statsLogs: enc.statsLogs,
    deltaLogs: enc.deltaLogs,
    checkpoints: enc.endPosition === undefined ? [] : [{ segmentId: p.segmentId, position: enc.endPosition, numRows: base.flushedRows + BigInt(p.rows) }],
    startPositions: !base.startSaved && base.startPosition !== undefined ? [{ segmentId: p.segmentId, startPosition: base.startPosition }] : [],
    channelCheckpoint,
    flushed: p.flushed,
    dropped: p.dropped,
  };
}
