/**
 * FlushCoordinator: turns DataNode ticks into flush orders, and lets Flush wait for them.
 *
 * - Each ReportTimeTick from a vchannel's OWNER (ticks of a node that no longer owns it are
 *   ignored) asks the segment manager which of the vchannel's sealed segments are flushable at that
 *   tick (every allocation expired at or below it), marks the Sealed ones Flushing and sends the
 *   owner FlushSegments with the tick as flush ts. The order is sent in the background — the tick
 *   RPC never waits for a sync, so a DataNode's tick cannot deadlock behind its own flush — and at
 *   most one order per segment is in flight; a segment still not Flushed is ordered again after
 *   `resendAfterMs` (or at the next tick after a failed order).
 * - {@link FlushCoordinator.waitFlushed} resolves once segments are Flushed (or Dropped, or gone),
 *   which DataNodes make so through SaveBinlogPaths. Flush uses it to return only once the
 *   segments it sealed are flushed.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { SegmentState, type SegmentInfo } from '../../gen/segment.js';
import type { SegmentManager } from '../segment/segment-manager.js';
import type { FlushOrder } from './datanode-client.js';

/** How long Flush waits for its segments by default (and at most), ms. */
export const DEFAULT_FLUSH_WAIT_MS = 60_000;

/**
 * How long a Flush call may wait: {@link DEFAULT_FLUSH_WAIT_MS}, or less when the caller's gRPC
 * deadline (a Date or ms since the epoch; Infinity when none) comes sooner — minus a margin, so the
 * caller reads TIMEOUT with the pending segments rather than a bare DEADLINE_EXCEEDED.
 */
export function flushWaitMs(callDeadline: Date | number, max = DEFAULT_FLUSH_WAIT_MS, now = Date.now()): number {
  const deadline = callDeadline instanceof Date ? callDeadline.getTime() : callDeadline;
  if (!Number.isFinite(deadline)) return max;
  return Math.max(0, Math.min(max, deadline - now - 250));
}

/** Options of {@link FlushCoordinator}. */
export interface FlushCoordinatorOptions {
  segments: Pick<SegmentManager, 'flushableSegments' | 'markFlushing' | 'describe'>;
  /** The owner of a vchannel (the channel scheduler's `owner`). */
  owner: (vchannel: string) => { nodeId: bigint } | undefined;
  /** Sends FlushSegments to a node (the channel scheduler's `flush`). */
  send: (nodeId: bigint, order: FlushOrder) => Promise<void>;
  /** After an acknowledged order, how long before the same segment is ordered again, ms. Default 10,000. */
  resendAfterMs?: number;
  /** How often waitFlushed looks at the segments, ms. Default 50. */
  pollIntervalMs?: number;
  logger?: Logger;
}

/** Options of {@link FlushCoordinator.waitFlushed}. */
export interface WaitFlushedOptions {
  /** Rejects with TIMEOUT after this many ms. Default {@link DEFAULT_FLUSH_WAIT_MS}. */
  timeoutMs?: number;
  /** Rejects with CANCELLED when aborted. */
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const describeState = (s: SegmentInfo) => `${s.segmentId} (${SegmentState[s.state] ?? s.state} on ${JSON.stringify(s.insertChannel)})`;

/** Flush orders from ticks, and waiting for flushes. */
export class FlushCoordinator {
  private readonly log: Logger;
  private readonly resendAfterMs: number;
  private readonly pollIntervalMs: number;
  /** vchannel → segment → wall-clock ms before which it is not ordered again (Infinity: in flight). */
  private readonly ordered = new Map<string, Map<bigint, number>>();
  /** vchannels whose tick is being handled, with the newest tick that arrived meanwhile. */
  private readonly busy = new Map<string, { nodeId: bigint; ts: bigint } | undefined>();
  private closed = false;

  constructor(private readonly options: FlushCoordinatorOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'flush-coordinator' });
    this.resendAfterMs = options.resendAfterMs ?? 10_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
  }

  /**
   * A DataNode reported consuming `vchannel` up to `ts`: orders flushes in the background (see the
   * file comment). Never throws; failures are logged and retried at a later tick.
   */
  onTick(nodeId: bigint, vchannel: string, ts: bigint): void {
    if (this.closed) return;
    if (this.busy.has(vchannel)) {
      this.busy.set(vchannel, { nodeId, ts });
      return;
    }
    this.busy.set(vchannel, undefined);
    void this.tick(nodeId, vchannel, ts)
      .catch((err: unknown) => this.log.warn({ err, vchannel }, 'ordering flushes failed; retrying at a later tick'))
      .finally(() => {
        const next = this.busy.get(vchannel);
        this.busy.delete(vchannel);
        if (next !== undefined) this.onTick(next.nodeId, vchannel, next.ts);
      });
  }

  /**
   * The work of one tick, awaited (onTick runs it in the background): marks the flushable Sealed
   * segments Flushing and sends the order. Resolves once the order is sent (not acknowledged).
   * Throws the segment manager's errors.
   */
  async tick(nodeId: bigint, vchannel: string, ts: bigint): Promise<void> {
    if (this.closed || this.options.owner(vchannel)?.nodeId !== nodeId) return;
    const flushable = await this.options.segments.flushableSegments(vchannel, ts);
    const ordered = this.ordered.get(vchannel) ?? new Map<bigint, number>();
    // Forget segments that are no longer flushable (Flushed, Dropped): nothing to order.
    for (const id of [...ordered.keys()]) if (!flushable.some((s) => s.segmentId === id)) ordered.delete(id);
    if (flushable.length === 0) {
      this.ordered.delete(vchannel);
      return;
    }
    this.ordered.set(vchannel, ordered);
    const now = Date.now();
    const due = flushable.filter((s) => (ordered.get(s.segmentId) ?? 0) <= now);
    if (due.length === 0) return;
    const sealed = due.filter((s) => s.state === SegmentState.Sealed).map((s) => s.segmentId);
    if (sealed.length > 0) await this.options.segments.markFlushing(sealed);
    // A vchannel belongs to one collection; grouping only keeps a stray record from mixing them.
    const byCollection = new Map<bigint, bigint[]>();
    for (const s of due) byCollection.set(s.collectionId, [...(byCollection.get(s.collectionId) ?? []), s.segmentId]);
    for (const [collectionId, segmentIds] of byCollection) {
      for (const id of segmentIds) ordered.set(id, Number.POSITIVE_INFINITY);
      this.log.info({ nodeId: nodeId.toString(), vchannel, segmentIds: segmentIds.map(String), flushTs: ts.toString() }, 'ordering segments flushed');
      this.options.send(nodeId, { collectionId, vchannel, segmentIds, flushTs: ts }).then(
        () => {
          for (const id of segmentIds) if (ordered.has(id)) ordered.set(id, Date.now() + this.resendAfterMs);
        },
        (err: unknown) => {
          this.log.warn({ err, nodeId: nodeId.toString(), vchannel, segmentIds: segmentIds.map(String) }, 'FlushSegments failed; ordering again at the next tick');
          for (const id of segmentIds) ordered.delete(id);
        },
      );
    }
  }

  /**
   * Resolves once every segment in `segmentIds` is Flushed, Dropped or no longer known. Rejects
   * with TIMEOUT naming the segments still pending (and their states), CANCELLED, CLOSED, or the
   * segment manager's error (UNAVAILABLE when it stopped serving).
   */
  async waitFlushed(segmentIds: readonly bigint[], options: WaitFlushedOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_FLUSH_WAIT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) throw errors.closed('flush coordinator');
      const pending = this.pending(segmentIds);
      if (pending.length === 0) return;
      if (options.signal?.aborted) throw new TidalError(ErrorCode.Cancelled, 'waiting for segments to flush was cancelled');
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TidalError(ErrorCode.Timeout, `segments not flushed within ${timeoutMs} ms: ${pending.map(describeState).join(', ')}`, {
          context: { pendingSegmentIds: pending.map((s) => s.segmentId.toString()) },
        });
      }
      await sleep(Math.min(this.pollIntervalMs, left));
    }
  }

  /** Stops ordering; pending waits reject with CLOSED. Safe to call twice. */
  close(): void {
    this.closed = true;
  }

  private pending(segmentIds: readonly bigint[]): SegmentInfo[] {
    const out: SegmentInfo[] = [];
    for (const id of new Set(segmentIds)) {
      let s: SegmentInfo;
      try {
        s = this.options.segments.describe(id);
      } catch (err) {
        if (err instanceof TidalError && err.code === ErrorCode.NotFound) continue; // gone: nothing left to flush
        throw err;
      }
      if (s.state !== SegmentState.Flushed && s.state !== SegmentState.Dropped) out.push(s);
    }
    return out;
  }
}
