/**
 * TickReporter: tells the master how far this node has consumed each vchannel, and keeps idle
 * vchannels' checkpoints moving.
 *
 * - Every `intervalMs`, one ReportTimeTick carries a DataNodeTtMsg for each vchannel whose tick
 *   moved since the last report (the tick the time-tick node consumed, and the row counts of its
 *   growing segments). The flowgraphs never wait for it; a failed report is sent again next time.
 *   When the master refuses a vchannel of the report (NOT_FOUND, FAILED_PRECONDITION: it moved to
 *   another node or its collection was dropped), each vchannel is reported alone, so the refused
 *   one holds back no other; the refused one is sent again only once its tick moves.
 * - A vchannel with nothing buffered and no sync in flight whose consumed position passed its
 *   saved checkpoint gets a checkpoint-only SaveBinlogPaths (no binlogs; any segment of the
 *   vchannel names it, as the master requires one) at most every `checkpointIntervalMs`.
 */
import { ErrorCode, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { DataNodeTtMsg } from '../../gen/msg.js';
import type { MasterLink } from '../master-link.js';
import type { VchannelPipeline } from './vchannel-pipeline.js';

/** The master's answer for a vchannel this node may not report: NOT_FOUND (no such vchannel) or FAILED_PRECONDITION (another owner). */
function isRefusal(err: unknown): boolean {
  return hasCode(err, ErrorCode.NotFound) || hasCode(err, ErrorCode.FailedPrecondition);
}

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
    const msgOf = (p: VchannelPipeline): Partial<DataNodeTtMsg> => {
      p.tickDirty = false;
      return { channelName: p.vchannel, timestamp: p.buffer.consumedTs, segmentsStats: p.buffer.segmentStats() };
    };
    try {
      await this.options.master.reportTimeTick({ msgs: dirty.map(msgOf) }, { signal: this.stop.signal });
    } catch (err) {
      if (this.stop.signal.aborted) return;
      if (dirty.length > 1 && isRefusal(err)) {
        // One vchannel the master no longer gives this node (moved, or its collection dropped)
        // must not hold back the others' ticks until its pipeline stops: report each on its own.
        // A failure that may pass (the master went away meanwhile) ends the round: the rest wait
        // for the next one rather than each spending the link's whole retry budget.
        for (const [i, p] of dirty.entries()) {
          if (!(await this.reportOne(p, msgOf(p)))) {
            for (const rest of dirty.slice(i + 1)) rest.tickDirty = true;
            return;
          }
        }
        return;
      }
      this.reportFailed(dirty, err);
    }
  }

  /** Reports one vchannel; false when the round should end (a failure that may pass, or closing). */
  private async reportOne(p: VchannelPipeline, msg: Partial<DataNodeTtMsg>): Promise<boolean> {
    try {
      await this.options.master.reportTimeTick({ msgs: [msg] }, { signal: this.stop.signal });
      return true;
    } catch (err) {
      if (this.stop.signal.aborted) return false;
      this.reportFailed([p], err);
      return isRefusal(err);
    }
  }

  /**
   * After a failed report: a refused vchannel is not sent again until its tick moves (its
   * pipeline is about to be released); any other failure is sent again at the next round.
   */
  private reportFailed(pipelines: readonly VchannelPipeline[], err: unknown): void {
    const vchannels = pipelines.map((p) => p.vchannel);
    if (isRefusal(err)) {
      this.log.warn({ err, vchannels }, 'the master refused these vchannels\' ticks (not owned by this node, or not a vchannel any more)');
      return;
    }
    for (const p of pipelines) p.tickDirty = true;
    this.log.warn({ err, vchannels }, 'reporting ticks failed; they are sent again at the next round');
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
