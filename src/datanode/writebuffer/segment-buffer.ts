/**
 * SegmentBuffer: the rows and deletes of one segment not yet handed to a sync, as the messages
 * brought them — one chunk per Insert message (its Arrow batch and timestamp / row-id views, no
 * per-row objects) and one per Delete message routed here.
 *
 * Inserts and deletes are appended by two flowgraph nodes (insert, then delete), so the insert
 * chunks may run ahead of the delete chunks. A sync therefore takes only the chunks at or before a
 * cut (the delete node's progress: every message up to it is applied by both nodes), so that
 * "everything of this segment up to the sync's end position is in the sync" holds.
 */
import type { RecordBatch } from 'apache-arrow';
import type { Position } from '../../mq/msg-stream.js';

/** The rows of one Insert message. */
export interface InsertChunk {
  batch: RecordBatch;
  timestamps: BigUint64Array;
  rowIds: BigInt64Array;
  position: Position;
  bytes: number;
}

/** The deletes of one Delete message that may hit this segment. */
export interface DeleteChunk {
  pks: BigInt64Array | string[];
  timestamps: BigUint64Array;
  position: Position;
  bytes: number;
}

/** What a sync takes out of a buffer. */
export interface BufferTake {
  inserts: InsertChunk[];
  deletes: DeleteChunk[];
  rows: number;
  bytes: number;
  /** Smallest and largest position among the chunks taken (undefined when none). */
  start: Position | undefined;
  end: Position | undefined;
}

function minPos(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.msgId < a.msgId ? b : a;
}

function maxPos(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.msgId > a.msgId ? b : a;
}

/** Count of leading chunks at or before `cut` (chunks are in position order). */
function countUpTo(chunks: readonly { position: Position }[], cut: bigint): number {
  let n = 0;
  while (n < chunks.length && chunks[n]!.position.msgId <= cut) n++;
  return n;
}

/** The unsynced rows and deletes of one segment. */
export class SegmentBuffer {
  private inserts: InsertChunk[] = [];
  private deletes: DeleteChunk[] = [];
  /** Bytes and rows held (inserts and deletes). */
  bytes = 0;
  rows = 0;
  deleteRows = 0;
  /** Wall-clock ms of the oldest chunk held (for the staleness policy); 0 when empty. */
  oldestAppendMs = 0;

  constructor(
    readonly segmentId: bigint,
    readonly partitionId: bigint,
  ) {}

  /** Whether nothing is held. */
  get empty(): boolean {
    return this.inserts.length === 0 && this.deletes.length === 0;
  }

  /** Appends the rows of one Insert message (in stream order). */
  appendInsert(chunk: InsertChunk, nowMs: number): void {
    if (this.empty) this.oldestAppendMs = nowMs;
    this.inserts.push(chunk);
    this.bytes += chunk.bytes;
    this.rows += chunk.batch.numRows;
  }

  /** Appends deletes of one Delete message (in stream order). */
  appendDelete(chunk: DeleteChunk, nowMs: number): void {
    if (this.empty) this.oldestAppendMs = nowMs;
    this.deletes.push(chunk);
    this.bytes += chunk.bytes;
    this.deleteRows += chunk.timestamps.length;
  }

  /** Position of the earliest chunk held. */
  startPosition(): Position | undefined {
    return minPos(this.inserts[0]?.position, this.deletes[0]?.position);
  }

  /** Bytes of the chunks at or before `cut`. */
  bytesUpTo(cut: bigint): number {
    let n = 0;
    for (const c of this.inserts) if (c.position.msgId <= cut) n += c.bytes;
    for (const c of this.deletes) if (c.position.msgId <= cut) n += c.bytes;
    return n;
  }

  /** Insert chunks held (for scanning keys of a delete). */
  insertChunks(): readonly InsertChunk[] {
    return this.inserts;
  }

  /** Removes and returns the chunks at or before `cut`. */
  take(cut: bigint): BufferTake {
    const ni = countUpTo(this.inserts, cut);
    const nd = countUpTo(this.deletes, cut);
    const inserts = this.inserts.splice(0, ni);
    const deletes = this.deletes.splice(0, nd);
    let bytes = 0;
    let rows = 0;
    for (const c of inserts) {
      bytes += c.bytes;
      rows += c.batch.numRows;
    }
    let deleteRows = 0;
    for (const c of deletes) {
      bytes += c.bytes;
      deleteRows += c.timestamps.length;
    }
    const start = minPos(inserts[0]?.position, deletes[0]?.position);
    const end = maxPos(inserts[inserts.length - 1]?.position, deletes[deletes.length - 1]?.position);
    this.bytes -= bytes;
    this.rows -= rows;
    this.deleteRows -= deleteRows;
    // What stays is newer than what left; its age restarts now rather than tracking each chunk.
    if (!this.empty && (ni > 0 || nd > 0)) this.oldestAppendMs = Date.now();
    return { inserts, deletes, rows, bytes, start, end };
  }
}
