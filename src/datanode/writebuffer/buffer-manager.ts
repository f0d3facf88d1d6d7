/**
 * WriteBufferManager: the node-wide side of the write buffers — the memory budget every insert
 * node reserves from, and the sync triggers (DESIGN "Segments and binlogs"):
 *
 * - size: a segment whose buffered bytes reach `bufferSizeBytes` (default 16 MiB) is synced;
 * - staleness: a segment holding data for `staleMs` is synced (checked at each time tick);
 * - memory watermark: when the bytes held node-wide (buffered + being synced) pass
 *   `watermarkBytes`, the largest buffers of any vchannel are synced first, until the syncs under
 *   way will bring the node back under the watermark;
 * - flush and drop are asked for explicitly (DataPath.flushSegments, the time-tick node).
 *
 * The hard bound is the budget's limit (`memoryLimitBytes`): at it, an insert node's reservation
 * waits — consumption pauses — until syncs release memory. The watermark sits below the limit so
 * that syncs are already under way when the bound is reached.
 */
import { performance } from 'node:perf_hooks';
import type { DataPathMetrics } from '../pipeline/metrics.js';
import type { ChannelWriteBuffer } from './channel-buffer.js';
import { MemoryBudget } from './memory-budget.js';

/** Options of {@link WriteBufferManager}. */
export interface WriteBufferManagerOptions {
  /** Sync a segment's buffer when it holds this many bytes. */
  bufferSizeBytes: number;
  /** Node-wide bound on bytes held; at it, consumption pauses. */
  memoryLimitBytes: number;
  /** Above this (node-wide), the largest buffers are synced. Default 3/4 of the limit. */
  watermarkBytes?: number;
  /** Sync a buffer holding data for this long, ms. */
  staleMs: number;
  metrics: DataPathMetrics;
}

/** Memory budget and sync policies over every vchannel's write buffer. */
export class WriteBufferManager {
  readonly budget: MemoryBudget;
  readonly bufferSizeBytes: number;
  readonly watermarkBytes: number;
  readonly staleMs: number;
  private readonly metrics: DataPathMetrics;
  private readonly channels = new Set<ChannelWriteBuffer>();

  constructor(options: WriteBufferManagerOptions) {
    this.budget = new MemoryBudget(options.memoryLimitBytes);
    this.bufferSizeBytes = options.bufferSizeBytes;
    this.watermarkBytes = options.watermarkBytes ?? Math.floor((options.memoryLimitBytes * 3) / 4);
    this.staleMs = options.staleMs;
    this.metrics = options.metrics;
  }

  /** Adds a vchannel's buffer to the policies. */
  register(channel: ChannelWriteBuffer): void {
    this.channels.add(channel);
  }

  /** Removes a vchannel's buffer (after its release). */
  unregister(channel: ChannelWriteBuffer): void {
    this.channels.delete(channel);
  }

  /** Bytes held node-wide (buffered and being synced). */
  get usedBytes(): number {
    return this.budget.used;
  }

  /**
   * Reserves memory for `bytes` of new data; waits at the bound (counted in the metrics). Rejects
   * when `signal` aborts.
   */
  async reserve(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.budget.wouldWait(bytes)) {
      await this.budget.reserve(bytes, signal);
      return;
    }
    this.metrics.memoryWaits++;
    const t0 = performance.now();
    try {
      await this.budget.reserve(bytes, signal);
    } finally {
      this.metrics.memoryWaitMs += performance.now() - t0;
    }
  }

  /**
   * After a vchannel applied a batch: syncs its segments over the size threshold, then checks the
   * node-wide watermark.
   */
  afterApply(channel: ChannelWriteBuffer): void {
    for (const b of channel.segmentBuffers()) {
      if (b.bytes >= this.bufferSizeBytes && b.bytesUpTo(channel.appliedUpTo) >= this.bufferSizeBytes) void channel.sync(b.segmentId).catch(() => undefined);
    }
    this.checkWatermark();
  }

  /** Above the watermark: syncs the largest buffers (any vchannel) until enough is under way. */
  checkWatermark(): void {
    let syncing = 0;
    for (const c of this.channels) syncing += c.syncingBytes;
    let excess = this.budget.used - this.watermarkBytes - syncing;
    if (excess <= 0) return;
    const candidates: { channel: ChannelWriteBuffer; segmentId: bigint; bytes: number }[] = [];
    for (const channel of this.channels) {
      for (const b of channel.segmentBuffers()) {
        const bytes = b.bytesUpTo(channel.appliedUpTo);
        if (bytes > 0) candidates.push({ channel, segmentId: b.segmentId, bytes });
      }
    }
    candidates.sort((a, b) => b.bytes - a.bytes);
    for (const c of candidates) {
      if (excess <= 0) break;
      void c.channel.sync(c.segmentId).catch(() => undefined);
      excess -= c.bytes;
    }
  }

  /** At a time tick of `channel`: syncs its stale buffers. */
  onTick(channel: ChannelWriteBuffer, nowMs = Date.now()): void {
    channel.syncStale(nowMs, this.staleMs);
  }
}
