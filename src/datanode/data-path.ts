/**
 * DataPath: the DataNode's data path, the {@link ChannelManager} the DataNode service drives.
 *
 * Wiring: one {@link MsgDispatcher} (each pchannel read once) feeds one {@link VchannelPipeline}
 * per watched vchannel (`input → dd → insert buffer → delete buffer → time tick`); their write
 * buffers share one {@link WriteBufferManager} (memory bound, sync triggers) and one
 * {@link SyncManager} (binlogs to the object store, SaveBinlogPaths to the master).
 *
 * - watch: seeds the vchannel's segments from the VchannelInfo, loads the stats logs of its
 *   existing segments (for deletes), starts the flowgraph and has the dispatcher feed it from the
 *   seek position (inclusive: the checkpoint is the first message not yet durable).
 * - Ticks: a reporter sends the master one ReportTimeTick for every vchannel whose tick moved
 *   (every `tickReportIntervalMs`), with its growing segments' row counts; when a vchannel is idle
 *   (nothing buffered or syncing) its checkpoint is moved forward with a checkpoint-only
 *   SaveBinlogPaths at most every `checkpointIntervalMs`, so a quiet vchannel does not replay (or
 *   fall off the log's retention) after a restart.
 * - Failure: a vchannel whose flowgraph fails (a node threw, the read failed, a sync failed for
 *   good) is removed and, unless the failure says it no longer owns the vchannel
 *   (FAILED_PRECONDITION), watched again from the master's recovery info after a backoff. The
 *   `channelFailed` event reports it.
 * - Failpoint (src/common/failpoint.ts): `datanode.flush.beforeSync`, in FlushSegments once the
 *   vchannel's tick reached the flush ts, before the flush syncs start.
 */
import { EventEmitter } from 'node:events';
import type { DataNodeConfig } from '../common/config.js';
import { ErrorCode, TidalError, errors, hasCode } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { failpoint, failpointsActive } from '../common/failpoint.js';
import { retry } from '../common/retry.js';
import type { VchannelInfo } from '../gen/segment.js';
import type { MsgStream } from '../mq/msg-stream.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ChannelManager, ChannelStatus } from './channel-manager.js';
import type { MasterLink } from './master-link.js';
import { DataPathMetrics } from './pipeline/metrics.js';
import { pchannelOf } from './pipeline/messages.js';
import { MsgDispatcher, type PchannelStats } from './pipeline/msg-dispatcher.js';
import { VchannelPipeline } from './pipeline/vchannel-pipeline.js';
import type { DataNodeDeps } from './server.js';
import { SyncManager, type SyncRetryOptions } from './syncmgr/sync-manager.js';
import { WriteBufferManager } from './writebuffer/buffer-manager.js';
import { SegmentRegistry } from './writebuffer/segment-registry.js';
import { loadSegmentStats } from './writebuffer/stats-loader.js';
import { TickReporter } from './pipeline/tick-reporter.js';

/** What the data path needs of the master (a {@link MasterLink} fits). */
export type DataPathMaster = Pick<MasterLink, 'saveBinlogPaths' | 'reportTimeTick' | 'getRecoveryInfo' | 'call'>;

/** Options of {@link DataPath}. */
export interface DataPathOptions {
  stream: MsgStream;
  store: ObjectStore;
  master: DataPathMaster;
  /** `datanode.*`: flush triggers and memory bound, flowgraph queue length. */
  config: DataNodeConfig;
  /** This node's server id (for logs). */
  nodeId: bigint | (() => bigint);
  logger: Logger;
  /** Syncs encoding or writing at once, node-wide. Default: `config.flush.syncConcurrency`. */
  syncConcurrency?: number;
  /** Backoff of object puts and SaveBinlogPaths. Default: unbounded retries, 200 ms to 5 s. */
  syncRetry?: SyncRetryOptions;
  /** Node-wide watermark above which the largest buffers are synced, bytes. Default 3/4 of memoryLimitBytes. */
  watermarkBytes?: number;
  /** Interval of tick reports to the master, ms. Default 100. */
  tickReportIntervalMs?: number;
  /** Least interval between checkpoint-only saves of an idle vchannel, ms. Default 10,000. */
  checkpointIntervalMs?: number;
  /** Longest a flowgraph drains its queues when stopped, ms. Default 5,000. */
  drainTimeoutMs?: number;
  /** Longest close() waits for syncs in flight before giving them up, ms. Default 20,000. */
  closeTimeoutMs?: number;
  /** Longest a flush waits for the vchannel's tick to reach the flush ts, ms. Default 60,000. */
  flushWaitMs?: number;
  /** Largest batch a pchannel reader takes at once. Default: the stream's. */
  maxBatchMessages?: number;
  /** Largest batch handed to one flowgraph at once, payload bytes. Default 2 MiB (see MsgDispatcher). */
  maxPushBytes?: number;
}

/** Events of a {@link DataPath}. */
export interface DataPathEvents {
  /** A vchannel's flowgraph failed; `rewatch` says whether it will be watched again. */
  channelFailed: [vchannel: string, error: unknown, rewatch: boolean];
  /** A failed vchannel was watched again. */
  channelRestarted: [vchannel: string];
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** The DataNode's data path. Methods throw TidalError. */
export class DataPath extends EventEmitter<DataPathEvents> implements ChannelManager {
  readonly dispatcher: MsgDispatcher;
  readonly buffers: WriteBufferManager;
  readonly syncs: SyncManager;
  private readonly counters = new DataPathMetrics();
  private readonly pipelines = new Map<string, VchannelPipeline>();
  /** vchannels the master wants here (watched, not released): failed ones are watched again. */
  private readonly wanted = new Map<string, bigint>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly reporter: TickReporter;
  private readonly stopping = new AbortController();
  private closePromise: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: DataPathOptions) {
    super();
    const nodeId = typeof options.nodeId === 'function' ? options.nodeId : () => options.nodeId as bigint;
    this.log = options.logger.child({ component: 'data-path', nodeId: nodeId().toString() });
    const flush = options.config.flush;
    this.dispatcher = new MsgDispatcher({ stream: options.stream, metrics: this.counters, logger: options.logger, maxBatchMessages: options.maxBatchMessages, maxPushBytes: options.maxPushBytes });
    this.buffers = new WriteBufferManager({
      bufferSizeBytes: flush.bufferSizeBytes,
      memoryLimitBytes: flush.memoryLimitBytes,
      watermarkBytes: options.watermarkBytes,
      staleMs: flush.staleMs,
      metrics: this.counters,
    });
    this.syncs = new SyncManager({ store: options.store, master: options.master, metrics: this.counters, logger: options.logger, concurrency: options.syncConcurrency ?? flush.syncConcurrency, retry: options.syncRetry });
    this.reporter = new TickReporter({
      master: options.master,
      pipelines: () => [...this.pipelines.values()],
      intervalMs: options.tickReportIntervalMs ?? 100,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 10_000,
      logger: options.logger,
    });
    this.reporter.start();
  }

  /** See ChannelManager.watch. Also throws CLOSED after close(). */
  watch(info: VchannelInfo): Promise<void> {
    return this.locked(info.channelName, async () => {
      if (this.stopping.signal.aborted) throw errors.closed('data path');
      const vchannel = info.channelName;
      const current = this.pipelines.get(vchannel);
      if (current !== undefined && current.failed === undefined) {
        if (current.collectionId !== info.collectionId) {
          throw errors.invalidArgument(`vchannel ${vchannel} is watched for collection ${current.collectionId}, not ${info.collectionId}`, { vchannel });
        }
        return;
      }
      this.wanted.set(vchannel, info.collectionId);
      await this.start(info);
    });
  }

  /** See ChannelManager.release. */
  release(vchannel: string): Promise<void> {
    this.wanted.delete(vchannel);
    return this.locked(vchannel, async () => {
      await this.stop(vchannel, false);
      this.log.info({ vchannel }, 'vchannel released');
    });
  }

  /** See ChannelManager.flushSegments. Throws TIMEOUT when a vchannel's tick does not reach `flushTs` in time. */
  async flushSegments(segmentIds: readonly bigint[], flushTs?: bigint): Promise<void> {
    const byPipeline = new Map<VchannelPipeline, bigint[]>();
    for (const id of new Set(segmentIds)) {
      const p = await this.pipelineOfSegment(id);
      if (p === undefined) continue;
      byPipeline.set(p, [...(byPipeline.get(p) ?? []), id]);
    }
    await Promise.all(
      [...byPipeline].map(async ([p, ids]) => {
        if (flushTs !== undefined) await this.waitTick(p, flushTs);
        if (failpointsActive) await failpoint('datanode.flush.beforeSync');
        await Promise.all(ids.map((id) => p.buffer.sync(id, { flushed: true })));
        this.log.info({ vchannel: p.vchannel, segmentIds: ids.map(String) }, 'segments flushed');
      }),
    );
  }

  /** See ChannelManager.status. */
  status(): ChannelStatus[] {
    return [...this.pipelines.values()].map((p) => p.status());
  }

  /** See ChannelManager.memoryUsedBytes: the write buffers' budget in use (buffered + syncing). */
  memoryUsedBytes(): number {
    return this.buffers.usedBytes;
  }

  /** The data path's counters, and per pchannel its readers. */
  metrics(): { counters: Record<string, number>; pchannels: PchannelStats[]; memoryUsedBytes: number; syncsPending: number } {
    return { counters: this.counters.snapshot(), pchannels: this.dispatcher.stats(), memoryUsedBytes: this.buffers.usedBytes, syncsPending: this.syncs.pending };
  }

  /**
   * Stops reading, drains the flowgraphs, lets syncs in flight finish (at most `closeTimeoutMs`,
   * then gives them up); buffered rows are not synced (the next owner replays them). Safe to call twice.
   */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.stopping.abort(errors.closed('data path'));
      this.reporter.close();
      await this.dispatcher.close();
      const all = [...this.pipelines.values()];
      const closing = Promise.all(all.map((p) => p.close({ finishSyncs: true })));
      const timer = sleep(this.options.closeTimeoutMs ?? 20_000, new AbortController().signal);
      await Promise.race([closing, timer]);
      await this.syncs.close();
      await closing;
      this.pipelines.clear();
      this.log.info('data path closed');
    })();
    return this.closePromise;
  }

  // ---- internals --------------------------------------------------------------------------------

  private async start(info: VchannelInfo): Promise<void> {
    const vchannel = info.channelName;
    const pchannel = pchannelOf(vchannel) ?? info.seekPosition?.channelName;
    if (pchannel === undefined || pchannel === '') throw errors.invalidArgument(`${JSON.stringify(vchannel)} is not a vchannel name ({pchannel}_{collectionID}v{shard})`);
    const seek = info.seekPosition;
    if (seek === undefined) throw errors.invalidArgument(`vchannel ${vchannel}: seekPosition is required`);
    await this.stop(vchannel, false);
    const registry = SegmentRegistry.fromVchannelInfo(info);
    const loaded = await loadSegmentStats(registry, this.options.store, this.stopping.signal);
    const p = new VchannelPipeline({
      info,
      registry,
      manager: this.buffers,
      syncs: this.syncs,
      metrics: this.counters,
      logger: this.options.logger,
      queueCapacity: this.options.config.flowgraph.maxQueueLength,
      drainTimeoutMs: this.options.drainTimeoutMs ?? 5_000,
    });
    const position = { channel: pchannel, msgId: seek.msgId, timestamp: seek.timestamp };
    // Everything before the seek position is durable or irrelevant: that is the checkpoint's meaning.
    p.buffer.consumed = position;
    p.buffer.savedCheckpoint = seek;
    await p.start();
    this.pipelines.set(vchannel, p);
    try {
      await this.dispatcher.add(pchannel, p, position);
    } catch (err) {
      this.pipelines.delete(vchannel);
      await p.close();
      throw err;
    }
    p.graph.done.catch((err: unknown) => this.onFailed(p, err));
    this.log.info({ vchannel, pchannel, seek: seek.msgId.toString(), segments: registry.all().length, statsLogs: loaded }, 'watching vchannel');
  }

  private async stop(vchannel: string, finishSyncs: boolean): Promise<void> {
    const p = this.pipelines.get(vchannel);
    if (p === undefined) return;
    this.pipelines.delete(vchannel);
    await this.dispatcher.remove(vchannel);
    await p.close({ finishSyncs });
  }

  private onFailed(p: VchannelPipeline, err: unknown): void {
    if (this.pipelines.get(p.vchannel) !== p) return;
    const rewatch = !this.stopping.signal.aborted && this.wanted.has(p.vchannel) && !causedBy(err, ErrorCode.FailedPrecondition);
    this.emitSafely('channelFailed', p.vchannel, err, rewatch);
    void this.locked(p.vchannel, () => this.stop(p.vchannel, false)).catch(() => undefined);
    if (rewatch) void this.rewatch(p.vchannel, p.collectionId);
  }

  /** Watches a failed vchannel again from the master's recovery info, with backoff, while it is wanted. */
  private async rewatch(vchannel: string, collectionId: bigint): Promise<void> {
    const signal = this.stopping.signal;
    await sleep(1_000, signal);
    try {
      await retry(
        async () => {
          if (signal.aborted || this.wanted.get(vchannel) !== collectionId) return;
          const [info] = await this.options.master.getRecoveryInfo(collectionId, vchannel, { signal });
          if (info === undefined) throw errors.notFound(`the master has no recovery info for ${vchannel}`);
          await this.locked(vchannel, async () => {
            if (this.wanted.get(vchannel) !== collectionId || this.pipelines.has(vchannel)) return;
            await this.start(info);
          });
          this.emitSafely('channelRestarted', vchannel);
        },
        { retries: Number.POSITIVE_INFINITY, minTimeoutMs: 1_000, maxTimeoutMs: 30_000, signal, shouldRetry: () => !signal.aborted && this.wanted.has(vchannel) },
      );
    } catch (err) {
      if (!signal.aborted) this.log.error({ err, vchannel }, 'could not watch a failed vchannel again');
    }
  }

  /** The pipeline holding `segmentId`; for a segment no pipeline knows, asks the master where it lives. */
  private async pipelineOfSegment(segmentId: bigint): Promise<VchannelPipeline | undefined> {
    for (const p of this.pipelines.values()) if (p.buffer.registry.get(segmentId) !== undefined) return p;
    let segment;
    try {
      ({ segment } = await this.options.master.call('describeSegment', { segmentId }, { signal: this.stopping.signal }));
    } catch (err) {
      if (hasCode(err, ErrorCode.NotFound)) return undefined;
      throw err;
    }
    if (segment === undefined) return undefined;
    const p = this.pipelines.get(segment.insertChannel);
    if (p === undefined || p.collectionId !== segment.collectionId) return undefined;
    // A segment that got no rows here: it is flushed empty.
    p.buffer.registry.adopt(segment);
    return p;
  }

  private async waitTick(p: VchannelPipeline, ts: bigint): Promise<void> {
    const ms = this.options.flushWaitMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TidalError(ErrorCode.Timeout, `vchannel ${p.vchannel} did not consume tick ${ts} within ${ms} ms`)), ms);
    });
    try {
      await Promise.race([p.waitConsumedTs(ts), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `fn` after the earlier work on `key` settled. */
  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  private emitSafely<K extends keyof DataPathEvents>(event: K, ...args: DataPathEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: DataPathEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.warn({ err, event }, 'a data path listener threw');
    }
  }
}

/** Whether `err` or one of its causes carries `code`. */
function causedBy(err: unknown, code: ErrorCode): boolean {
  let e = err;
  for (let i = 0; i < 8 && e !== undefined; i++) {
    if (hasCode(e, code)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** The `channels` factory for DataNodeServer: a DataPath over the node's clients. */
export function createDataPath(deps: DataNodeDeps): DataPath {
  return new DataPath({ stream: deps.stream, store: deps.store, master: deps.master, config: deps.config.datanode, nodeId: deps.nodeId, logger: deps.logger });
}
