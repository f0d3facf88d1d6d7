/**
 * SegmentRegistry: what one vchannel's data path knows about its segments — from the master at
 * watch time (VchannelInfo: unflushed segments with their flushed position, flushed and dropped
 * segments) and from its own syncs since.
 *
 * It answers the recovery questions of the dd, insert and delete nodes: a record at or before a
 * segment's flushed `dmlPosition` holds nothing new for it (its rows are in the segment's
 * binlogs); rows of a flushed or dropped segment, or of a dropped partition, are skipped. It also
 * keeps the primary-key stats of every synced range (and of the binlogs found at watch time), so
 * the delete node can tell which segments may hold a deleted key.
 */
import type { MsgPosition } from '../../gen/common.js';
import { SegmentState, type SegmentInfo, type VchannelInfo } from '../../gen/segment.js';
import { mightContainPk, type PkStats, type PrimaryKey } from '../../storage/binlog/index.js';

/** Where a segment is in its life, as this node sees it. */
export type SegmentPhase = 'growing' | 'flushed' | 'dropped';

/** One segment of the vchannel. */
export interface SegmentRecord {
  segmentId: bigint;
  partitionId: bigint;
  phase: SegmentPhase;
  /** Rows in the segment's referenced insert logs (what the master stores as its num_rows). */
  flushedRows: bigint;
  /** Flushed up to here: records at or before it hold nothing that is not in the binlogs. */
  dmlPosition: MsgPosition | undefined;
  /** Position of the first message with rows of the segment, once known. */
  startPosition: MsgPosition | undefined;
  /** Whether the master has the start position (reported once by a sync, or known at watch). */
  startSaved: boolean;
  /** Primary-key stats of each synced range (for routing deletes). */
  pkStats: PkStats[];
  /** Stats-log paths to load (binlogs referenced at watch time). */
  statsLogPaths: string[];
  /** Flushed before this node watched the vchannel: every row for it on the channel is in its binlogs. */
  flushedAtWatch: boolean;
}

function sumEntries(info: SegmentInfo): bigint {
  return info.insertLogs.reduce((n, b) => n + b.entriesNum, 0n);
}

function recordOf(info: SegmentInfo, phase: SegmentPhase): SegmentRecord {
  return {
    segmentId: info.segmentId,
    partitionId: info.partitionId,
    phase,
    flushedRows: sumEntries(info),
    dmlPosition: info.dmlPosition,
    startPosition: info.startPosition,
    startSaved: info.startPosition !== undefined,
    pkStats: [],
    statsLogPaths: info.statsLogs.map((b) => b.logPath),
    flushedAtWatch: phase === 'flushed',
  };
}

/** The segments of one vchannel. */
export class SegmentRegistry {
  private readonly segments = new Map<bigint, SegmentRecord>();
  private readonly droppedPartitions = new Set<bigint>();
  /** Whether the collection was dropped (every later row is skipped). */
  collectionDropped = false;

  /** A registry seeded from what the master says of the vchannel. */
  static fromVchannelInfo(info: VchannelInfo): SegmentRegistry {
    const r = new SegmentRegistry();
    for (const s of info.unflushedSegments) r.segments.set(s.segmentId, recordOf(s, s.state === SegmentState.Dropped ? 'dropped' : 'growing'));
    for (const s of info.flushedSegments) r.segments.set(s.segmentId, recordOf(s, 'flushed'));
    for (const id of info.droppedSegmentIds) {
      const known = r.segments.get(id);
      if (known !== undefined) known.phase = 'dropped';
      else r.segments.set(id, { segmentId: id, partitionId: 0n, phase: 'dropped', flushedRows: 0n, dmlPosition: undefined, startPosition: undefined, startSaved: true, pkStats: [], statsLogPaths: [], flushedAtWatch: false });
    }
    return r;
  }

  /** The record of a segment, if known. */
  get(segmentId: bigint): SegmentRecord | undefined {
    return this.segments.get(segmentId);
  }

  /** Every known segment. */
  all(): SegmentRecord[] {
    return [...this.segments.values()];
  }

  /** The record of a segment receiving rows at `position`, created (growing, started there) when new. */
  ensure(segmentId: bigint, partitionId: bigint, position: MsgPosition): SegmentRecord {
    let rec = this.segments.get(segmentId);
    if (rec === undefined) {
      rec = { segmentId, partitionId, phase: 'growing', flushedRows: 0n, dmlPosition: undefined, startPosition: position, startSaved: false, pkStats: [], statsLogPaths: [], flushedAtWatch: false };
      this.segments.set(segmentId, rec);
    } else if (rec.startPosition === undefined) {
      rec.startPosition = position;
    }
    return rec;
  }

  /**
   * Registers a segment the master knows but this node has seen no rows of (a flush order for an
   * empty segment). Returns the known record when there is one.
   */
  adopt(info: SegmentInfo): SegmentRecord {
    const known = this.segments.get(info.segmentId);
    if (known !== undefined) return known;
    const rec = recordOf(info, 'growing');
    this.segments.set(info.segmentId, rec);
    return rec;
  }

  /** Whether the rows of an Insert message at `msgId` for `segmentId` are to be skipped. */
  skipInsert(segmentId: bigint, partitionId: bigint, msgId: bigint): boolean {
    if (this.collectionDropped || this.droppedPartitions.has(partitionId)) return true;
    const rec = this.segments.get(segmentId);
    if (rec === undefined) return false;
    // Rows of a segment flushed at watch time are all in its binlogs; one flushed since then by
    // this node may still get rows (after its flush position), which are kept.
    if (rec.phase === 'dropped' || rec.flushedAtWatch) return true;
    return rec.dmlPosition !== undefined && msgId <= rec.dmlPosition.msgId;
  }

  /** Whether a delete at `msgId` is already in `rec`'s binlogs (or `rec` takes no more deletes). */
  skipDelete(rec: SegmentRecord, msgId: bigint): boolean {
    if (rec.phase === 'dropped') return true;
    return rec.dmlPosition !== undefined && msgId <= rec.dmlPosition.msgId;
  }

  /** Whether a delete of `partitionId` (0n: any) is skipped outright. */
  skipDeletesOf(partitionId: bigint): boolean {
    return this.collectionDropped || (partitionId !== 0n && this.droppedPartitions.has(partitionId));
  }

  /** Whether the synced rows of `rec` may hold `key` (by their stats). */
  syncedMightContain(rec: SegmentRecord, key: PrimaryKey): boolean {
    for (const s of rec.pkStats) if (mightContainPk(s, key)) return true;
    return false;
  }

  /** Records a dropped partition: its later rows and deletes are skipped. */
  dropPartition(partitionId: bigint): void {
    this.droppedPartitions.add(partitionId);
  }

  /** Segments of a partition (every segment when `partitionId` is undefined). */
  segmentsOf(partitionId?: bigint): SegmentRecord[] {
    return this.all().filter((s) => partitionId === undefined || s.partitionId === partitionId);
  }
}
