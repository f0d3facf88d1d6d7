/**
 * ChannelWriteBuffer: the write buffer of one vchannel — a SegmentBuffer per segment, the syncs in
 * flight, and the positions the channel checkpoint is computed from.
 *
 * Positions it tracks:
 * - `appliedUpTo`: the offset up to which both the insert and the delete node have applied every
 *   message (the delete node sets it after each batch). A sync takes only chunks at or before it.
 * - `consumed`: the last message the time-tick node (the last node) has handled.
 *
 * Channel checkpoint = the earliest start position among the data still buffered or being synced
 * (other than the sync that carries the checkpoint), capped at `consumed` — else `consumed`
 * itself. Consumers seek to it inclusively, so every message whose data is not durable, and every
 * message not fully handled, is read again; what was already synced is skipped by the segments'
 * flushed positions. Undefined until the first message is handled: then the checkpoint stays.
 */
import { ErrorCode, hasCode } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { MsgPosition } from '../../gen/common.js';
import type { CollectionSchema } from '../../gen/schema.js';
import type { Position } from '../../mq/msg-stream.js';
import { toMsgPosition, type InsertFlowMsg } from '../pipeline/messages.js';
import type { DataPathMetrics } from '../pipeline/metrics.js';
import type { SyncManager, SyncResult } from '../syncmgr/sync-manager.js';
import type { SyncPayload } from '../syncmgr/sync-task.js';
import type { MemoryBudget } from './memory-budget.js';
import { SegmentBuffer, type DeleteChunk, type InsertChunk } from './segment-buffer.js';
import type { SegmentRecord, SegmentRegistry } from './segment-registry.js';

/** Options of {@link ChannelWriteBuffer}. */
export interface ChannelWriteBufferOptions {
  vchannel: string;
  collectionId: bigint;
  schema: CollectionSchema;
  registry: SegmentRegistry;
  budget: MemoryBudget;
  syncs: SyncManager;
  metrics: DataPathMetrics;
  /** A sync failed for good: the vchannel cannot go on (its flowgraph is failed with `err`). */
  onFailure: (err: unknown) => void;
  logger?: Logger;
}

/** Flags of a sync. */
export interface SyncFlags {
  /** Mark the segment Flushed once synced. */
  flushed?: boolean;
  /** Mark the segment Dropped once synced. */
  dropped?: boolean;
}

interface InFlight {
  run?: Promise<unknown>;
  segmentId: bigint;
  start: Position | undefined;
  bytes: number;
  inserts: InsertChunk[];
}

/** The write buffer of one vchannel. */
export class ChannelWriteBuffer {
  readonly vchannel: string;
  readonly collectionId: bigint;
  readonly schema: CollectionSchema;
  readonly registry: SegmentRegistry;
  /** Offset up to which both buffer nodes applied every message (-1n before any). */
  appliedUpTo = -1n;
  /** Last message the time-tick node handled. */
  consumed: Position | undefined;
  /** Last time tick handled (0n before the first). */
  consumedTs = 0n;
  /** Newest channel checkpoint stored by the master from this node. */
  savedCheckpoint: MsgPosition | undefined;
  private readonly buffers = new Map<bigint, SegmentBuffer>();
  private readonly syncing = new Map<number, InFlight>();
  private nextSyncId = 1;
  private readonly budget: MemoryBudget;
  private readonly syncs: SyncManager;
  private readonly metrics: DataPathMetrics;
  private readonly onFailure: (err: unknown) => void;
  private readonly released = new AbortController();
  private readonly log: Logger;

  constructor(options: ChannelWriteBufferOptions) {
    this.vchannel = options.vchannel;
    this.collectionId = options.collectionId;
    this.schema = options.schema;
    this.registry = options.registry;
    this.budget = options.budget;
    this.syncs = options.syncs;
    this.metrics = options.metrics;
    this.onFailure = options.onFailure;
    this.log = (options.logger ?? silentLogger).child({ component: 'write-buffer', vchannel: options.vchannel });
  }

  /** Bytes and rows buffered (not yet handed to a sync). */
  get bufferedBytes(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.bytes;
    return n;
  }

  get bufferedRows(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.rows;
    return n;
  }

  /** Bytes handed to syncs that are not yet durable. */
  get syncingBytes(): number {
    let n = 0;
    for (const s of this.syncing.values()) n += s.bytes;
    return n;
  }

  /** Syncs of this vchannel queued or running. */
  get syncsInFlight(): number {
    return this.syncing.size;
  }

  /** Row counts of the growing segments (binlogs + buffered + being synced), for the tick report. */
  segmentStats(): { segmentId: bigint; numRows: bigint }[] {
    const pending = new Map<bigint, number>();
    for (const b of this.buffers.values()) pending.set(b.segmentId, (pending.get(b.segmentId) ?? 0) + b.rows);
    for (const s of this.syncing.values()) {
      let rows = 0;
      for (const c of s.inserts) rows += c.batch.numRows;
      pending.set(s.segmentId, (pending.get(s.segmentId) ?? 0) + rows);
    }
    const out: { segmentId: bigint; numRows: bigint }[] = [];
    for (const [segmentId, rows] of pending) {
      const rec = this.registry.get(segmentId);
      if (rec !== undefined && rec.phase === 'growing') out.push({ segmentId, numRows: rec.flushedRows + BigInt(rows) });
    }
    return out;
  }

  /** The segment buffers (for the sync policies). */
  segmentBuffers(): SegmentBuffer[] {
    return [...this.buffers.values()];
  }

  /** Whether the buffer was released (it takes no more data). */
  get isReleased(): boolean {
    return this.released.signal.aborted;
  }

  /**
   * Appends the rows of one Insert message; its bytes must already be reserved in the budget.
   * After release() the rows are dropped and their bytes given back.
   */
  appendInsert(msg: InsertFlowMsg): void {
    if (this.isReleased) {
      this.budget.release(msg.bytes);
      return;
    }
    this.registry.ensure(msg.segmentId, msg.partitionId, toMsgPosition(msg.position));
    const buf = this.bufferOf(msg.segmentId, msg.partitionId);
    buf.appendInsert({ batch: msg.batch, timestamps: msg.timestamps, rowIds: msg.rowIds, position: msg.position, bytes: msg.bytes }, Date.now());
  }

  /** Appends deletes routed to a segment; their bytes must already be reserved (dropped after release()). */
  appendDelete(rec: SegmentRecord, chunk: DeleteChunk): void {
    if (this.isReleased) {
      this.budget.release(chunk.bytes);
      return;
    }
    this.bufferOf(rec.segmentId, rec.partitionId).appendDelete(chunk, Date.now());
  }

  /** Insert chunks of a segment not yet durable (buffered or being synced), for routing deletes. */
  unsyncedInserts(segmentId: bigint): InsertChunk[] {
    const out: InsertChunk[] = [];
    for (const s of this.syncing.values()) if (s.segmentId === segmentId) out.push(...s.inserts);
    const buf = this.buffers.get(segmentId);
    if (buf !== undefined) out.push(...buf.insertChunks());
    return out;
  }

  /**
   * Hands a segment's chunks (those at or before `appliedUpTo`) to a sync; with `flushed` or
   * `dropped` the sync runs even without data, to mark the segment. Resolves with the sync's
   * result once it is durable (undefined when there was nothing to do). A sync that fails for good
   * also fails the vchannel (`onFailure`); the returned promise rejects with the error.
   */
  sync(segmentId: bigint, flags: SyncFlags = {}): Promise<SyncResult | undefined> {
    if (this.isReleased) return Promise.reject(this.released.signal.reason);
    const rec = this.registry.get(segmentId);
    if (rec === undefined) return Promise.resolve(undefined);
    const buf = this.buffers.get(segmentId);
    const take = buf?.take(this.appliedUpTo);
    if (buf !== undefined && buf.empty) this.buffers.delete(segmentId);
    const flushed = flags.flushed === true;
    const dropped = flags.dropped === true;
    if ((take === undefined || take.start === undefined) && !flushed && !dropped) return Promise.resolve(undefined);
    const id = this.nextSyncId++;
    const bytes = take?.bytes ?? 0;
    this.syncing.set(id, { segmentId, start: take?.start, bytes, inserts: take?.inserts ?? [] });
    const payload: SyncPayload = {
      vchannel: this.vchannel,
      collectionId: this.collectionId,
      partitionId: rec.partitionId,
      segmentId,
      schema: this.schema,
      inserts: take?.inserts ?? [],
      deletes: take?.deletes ?? [],
      rows: take?.rows ?? 0,
      bytes,
      start: take?.start,
      end: take?.end,
      flushed,
      dropped,
    };
    const run = this.syncs.submit({
      payload,
      owner: this,
      signal: this.released.signal,
      hooks: {
        segment: () => ({ flushedRows: rec.flushedRows, startPosition: rec.startPosition, startSaved: rec.startSaved }),
        channelCheckpoint: () => this.checkpoint(id),
        onSaved: (result) => this.onSaved(rec, payload, result),
        // A dropped collection is gone from the meta table: its last syncs have nowhere to go.
        tolerate: (err) => (dropped || this.registry.collectionDropped) && hasCode(err, ErrorCode.NotFound),
      },
    });
    const entry = this.syncing.get(id);
    if (entry !== undefined) entry.run = run;
    const settle = (): void => {
      this.syncing.delete(id);
      this.budget.release(bytes);
    };
    run.then(settle, (err: unknown) => {
      settle();
      if (this.released.signal.aborted) return;
      if (hasCode(err, ErrorCode.Closed)) {
        // The node is shutting down: the sync was given up, its rows are replayed by the next owner.
        this.log.info({ segmentId: segmentId.toString() }, 'sync given up at shutdown');
        return;
      }
      this.log.error({ err, segmentId: segmentId.toString() }, 'sync failed for good; failing the vchannel');
      this.onFailure(err);
    });
    return run;
  }

  /** Syncs every segment that has buffered data older than `staleMs`. */
  syncStale(nowMs: number, staleMs: number): void {
    for (const b of this.buffers.values()) {
      if (!b.empty && nowMs - b.oldestAppendMs >= staleMs && b.bytesUpTo(this.appliedUpTo) > 0) void this.sync(b.segmentId).catch(() => undefined);
    }
  }

  /**
   * The channel checkpoint as of now (see the file comment), leaving out sync `excludeSyncId`
   * (the one that will carry it). Undefined before the first handled message.
   */
  checkpoint(excludeSyncId?: number): MsgPosition | undefined {
    if (this.consumed === undefined) return undefined;
    let min = this.consumed;
    for (const b of this.buffers.values()) {
      const s = b.startPosition();
      if (s !== undefined && s.msgId < min.msgId) min = s;
    }
    for (const [id, s] of this.syncing) {
      if (id !== excludeSyncId && s.start !== undefined && s.start.msgId < min.msgId) min = s.start;
    }
    return toMsgPosition(min);
  }

  /** Waits until the syncs handed over so far settled (durable, or failed). */
  async settleSyncs(): Promise<void> {
    while (this.syncing.size > 0) await Promise.allSettled([...this.syncing.values()].map((s) => s.run));
  }

  /**
   * Stops: syncs still retrying are given up (their rows are NOT durable; the next owner replays
   * them from the checkpoint) and buffered memory is released. Safe to call twice.
   */
  release(): void {
    if (this.released.signal.aborted) return;
    this.released.abort(new Error(`vchannel ${this.vchannel} released`));
    let bytes = 0;
    for (const b of this.buffers.values()) bytes += b.bytes;
    this.buffers.clear();
    this.budget.release(bytes);
  }

  private bufferOf(segmentId: bigint, partitionId: bigint): SegmentBuffer {
    let buf = this.buffers.get(segmentId);
    if (buf === undefined) {
      buf = new SegmentBuffer(segmentId, partitionId);
      this.buffers.set(segmentId, buf);
    }
    return buf;
  }

  private onSaved(rec: SegmentRecord, p: SyncPayload, result: SyncResult): void {
    rec.flushedRows = result.numRows;
    const end = result.encoded.endPosition;
    if (end !== undefined && (rec.dmlPosition === undefined || end.msgId > rec.dmlPosition.msgId)) rec.dmlPosition = end;
    if (result.pkStats !== undefined) rec.pkStats.push(result.pkStats);
    if (rec.startPosition !== undefined) rec.startSaved = true;
    if (p.dropped) rec.phase = 'dropped';
    else if (p.flushed && rec.phase === 'growing') rec.phase = 'flushed';
    const cp = result.channelCheckpoint;
    if (cp !== undefined && !result.tolerated && (this.savedCheckpoint === undefined || cp.msgId > this.savedCheckpoint.msgId)) this.savedCheckpoint = cp;
  }
}
