/**
 * TickReporter: tells the master how far this node has consumed each vchannel, and keeps idle
 * vchannels' checkpoints moving.
 *
 * - Every `intervalMs`, one ReportTimeTick carries a DataNodeTtMsg for each vchannel whose tick
 *   moved since the last report (the tick the time-tick node consumed, and the row counts of its
 *   growing segments). The flowgraphs never wait for it; a failed report is sent again next time.
 * - A vchannel with nothing buffered and no sync in flight whose consumed position passed its
 *   saved checkpoint gets a checkpoint-only SaveBinlogPaths (no binlogs; any segment of the
 *   vchannel names it, as the master requires one) at most every `checkpointIntervalMs`.
 */
import type { Logger } from '../../common/log.js';
import type { DataNodeTtMsg } from '../../gen/msg.js';
import type { MasterLink } from '../master-link.js';
import type { VchannelPipeline } from './vchannel-pipeline.js';

/** Options of {@link TickReporter}. */
export interface TickReporterOptions {
  master: Pick<MasterLink, 'reportTimeTick' | 'saveBinlogPaths'>;
  /** The pipelines to report on, as of now. */
  pipelines: () => VchannelPipeline[];
  intervalMs: number;
  checkpointIntervalMs: number;
  logger: Logger;
}

/** Periodic tick reports and checkpoint-only saves. */
export class TickReporter {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly stop = new AbortController();
  private readonly lastCheckpointSave = new WeakMap<VchannelPipeline, number>();
  private readonly log: Logger;

  constructor(private readonly options: TickReporterOptions) {
    this.log = options.logger.child({ component: 'tick-reporter' });
  }

  /** Starts the periodic loop. */
  start(): void {
    if (this.timer !== undefined || this.stop.signal.aborted) return;
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One round (reports, then checkpoint saves); skipped while the previous one runs. */
  async runOnce(): Promise<void> {
    if (this.busy || this.stop.signal.aborted) return;
    this.busy = true;
    try {
      await this.report();
      await this.saveIdleCheckpoints();
    } finally {
      this.busy = false;
    }
  }

  /** Stops the loop and abandons calls in flight. Safe to call twice. */
  close(): void {
    clearInterval(this.timer);
    this.stop.abort();
  }

  private async report(): Promise<void> {
    const dirty = this.options.pipelines().filter((p) => p.tickDirty && p.buffer.consumedTs > 0n && p.failed === undefined);
    if (dirty.length === 0) return;
    const msgs: Partial<DataNodeTtMsg>[] = dirty.map((p) => {
      p.tickDirty = false;
      return { channelName: p.vchannel, timestamp: p.buffer.consumedTs, segmentsStats: p.buffer.segmentStats() };
    });
    try {
      await this.options.master.reportTimeTick({ msgs }, { signal: this.stop.signal });
    } catch (err) {
      for (const p of dirty) p.tickDirty = true;
      if (!this.stop.signal.aborted) this.log.warn({ err, vchannels: dirty.length }, 'reporting ticks failed; they are sent again at the next round');
    }
  }

  private async saveIdleCheckpoints(): Promise<void> {
    const now = Date.now();
    for (const p of this.options.pipelines()) {
      const b = p.buffer;
      if (p.failed !== undefined || b.consumed === undefined || b.bufferedBytes > 0 || b.syncsInFlight > 0) continue;
      if (b.savedCheckpoint !== undefined && b.consumed.msgId <= b.savedCheckpoint.msgId) continue;
      if (now - (this.lastCheckpointSave.get(p) ?? 0) < this.options.checkpointIntervalMs) continue;
      const segments = b.registry.all();
      const seg = segments.find((s) => s.phase !== 'dropped') ?? segments[0];
      if (seg === undefined) continue;
      const cp = b.checkpoint();
      if (cp === undefined) continue;
      this.lastCheckpointSave.set(p, now);
      try {
        await this.options.master.saveBinlogPaths(
          { segmentId: seg.segmentId, collectionId: p.collectionId, partitionId: seg.partitionId, channel: p.vchannel, channelCheckpoint: cp },
          { signal: this.stop.signal },
        );
        if (b.savedCheckpoint === undefined || cp.msgId > b.savedCheckpoint.msgId) b.savedCheckpoint = cp;
      } catch (err) {
        if (!this.stop.signal.aborted) this.log.warn({ err, vchannel: p.vchannel }, 'checkpoint-only save failed; trying again later');
      }
    }
  }
}
