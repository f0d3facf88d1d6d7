/**
 * SyncManager: runs syncs — encode a segment's chunks as binlogs, write them to the object store,
 * record them with SaveBinlogPaths. Encoding and writing run at once for any syncs, of any
 * segments, at most `concurrency` at a time (node-wide); the recording is serialised per segment.
 *
 * - Order: a segment's syncs are recorded (SaveBinlogPaths, then the vchannel's state) one after
 *   the other in submission order, so its checkpoint row counts and positions only grow; their
 *   objects may be written in any order before. A sync whose predecessor failed is not recorded:
 *   it stops writing and fails with the same error (its rows would be counted on a base that is
 *   not in etcd). Objects it already wrote stay unreferenced; they sit under the log id of their
 *   start position, so the replay of that range by the next owner overwrites them.
 * - Durability: the object puts and the SaveBinlogPaths call are retried with backoff (the retry
 *   helper) while they fail retriably — an S3 outage or a master failover just delays the sync, and
 *   nothing is dropped. Only then is the sync done; the caller moves its checkpoint from the
 *   result, so a checkpoint never passes data that is not both in S3 and in etcd. A non-retriable
 *   error (or running out of retries, when bounded) fails the sync for good: the caller fails the
 *   vchannel's flowgraph.
 * - The channel checkpoint sent with a sync is asked for right before each SaveBinlogPaths attempt
 *   (see SyncHooks.channelCheckpoint), so it reflects what is still unsynced at that moment.
 *
 * Failpoints (src/common/failpoint.ts), in the order a sync reaches them:
 * - `datanode.sync.beforePut`: before each object's put, reached once per object in the order
 *   insert log, stats log, delta log, all of one sync in one turn (so `pause@2` lets a sync's
 *   insert log reach the store and holds its stats log back); a segment's next sync may reach it
 *   while an earlier one is still writing or recording;
 * - `datanode.sync.beforeSave`: every object written and the segment's earlier syncs recorded,
 *   SaveBinlogPaths not called yet;
 * - `datanode.sync.afterSave`: SaveBinlogPaths stored, the vchannel's state (checkpoint, row
 *   counts) not updated yet; then, for a flush, `datanode.flush.afterSave`.
 */
import { ErrorCode, TidalError } from '../../common/errors.js';
import { failpoint, failpointsActive } from '../../common/failpoint.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { isRetriable, retry, type RetryOptions } from '../../common/retry.js';
import type { MsgPosition } from '../../gen/common.js';
import type { PkStats } from '../../storage/binlog/index.js';
import type { ObjectStore } from '../../storage/object-store.js';
import type { MasterLink } from '../master-link.js';
import type { DataPathMetrics } from '../pipeline/metrics.js';
import { encodeSync, saveRequest, type EncodedSync, type SegmentBase, type SyncPayload } from './sync-task.js';

/** What a sync needs of the master. */
export type SyncMaster = Pick<MasterLink, 'saveBinlogPaths'>;

/** How the sync asks its vchannel for what changes while it waits. */
export interface SyncHooks {
  /** The segment as it stands when the sync runs (after its previous sync). */
  segment(): SegmentBase;
  /** The channel checkpoint to store with this sync, computed now (undefined: leave it). */
  channelCheckpoint(): MsgPosition | undefined;
  /** Called once the sync is durable (objects written, SaveBinlogPaths stored), before it resolves. */
  onSaved(result: SyncResult): void;
  /** Whether a failed SaveBinlogPaths is to be accepted as done (e.g. NOT_FOUND for a dropped collection). */
  tolerate?(err: unknown): boolean;
}

/** One sync to run. */
export interface SyncTask {
  payload: SyncPayload;
  hooks: SyncHooks;
  /** Aborting gives up the sync (it rejects with the reason); used when the vchannel is released. */
  signal?: AbortSignal;
  /**
   * Who submits (a vchannel's write buffer). A sync waits for the segment's earlier syncs either
   * way, but only fails with a failed predecessor of the same owner: a new owner of the segment
   * (the vchannel watched again) starts clean.
   */
  owner?: object;
}

/** What a durable sync produced. */
export interface SyncResult {
  encoded: EncodedSync;
  pkStats: PkStats | undefined;
  /** Rows in the segment's binlogs after this sync. */
  numRows: bigint;
  /** The channel checkpoint that was stored with it (if any). */
  channelCheckpoint: MsgPosition | undefined;
  /** True when SaveBinlogPaths failed with an error `tolerate` accepted. */
  tolerated: boolean;
}

/** Backoff of put and SaveBinlogPaths retries. */
export type SyncRetryOptions = Pick<RetryOptions, 'retries' | 'minTimeoutMs' | 'maxTimeoutMs' | 'factor'>;

/** Options of {@link SyncManager}. */
export interface SyncManagerOptions {
  store: ObjectStore;
  master: SyncMaster;
  metrics: DataPathMetrics;
  logger?: Logger;
  /** Syncs encoding or writing at once, node-wide (each writes its objects in parallel). Default 4. */
  concurrency?: number;
  /** Default: unbounded retries of retriable errors, 200 ms doubling to 5 s. */
  retry?: SyncRetryOptions;
}

const DEFAULT_SYNC_RETRY: Required<SyncRetryOptions> = { retries: Number.POSITIVE_INFINITY, minTimeoutMs: 200, maxTimeoutMs: 5_000, factor: 2 };

/** Serialised-per-segment, bounded-parallel syncs. */
export class SyncManager {
  private readonly store: ObjectStore;
  private readonly master: SyncMaster;
  private readonly metrics: DataPathMetrics;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly retryOptions: Required<SyncRetryOptions>;
  private readonly tails = new Map<bigint, { owner: object | undefined; tail: Promise<unknown> }>();
  private running = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: SyncManagerOptions) {
    this.store = options.store;
    this.master = options.master;
    this.metrics = options.metrics;
    this.log = (options.logger ?? silentLogger).child({ component: 'sync-manager' });
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isSafeInteger(this.concurrency) || this.concurrency < 1) throw new TidalError(ErrorCode.InvalidArgument, `sync concurrency must be a positive integer, got ${this.concurrency}`);
    this.retryOptions = { ...DEFAULT_SYNC_RETRY, ...options.retry };
  }

  /** Syncs queued or running. */
  get pending(): number {
    return this.inFlight.size;
  }

  /**
   * Queues a sync behind the segment's earlier ones; resolves once it is durable. Rejects with the
   * error that failed it (or its predecessor), CANCELLED when aborted, CLOSED after close().
   */
  submit(task: SyncTask): Promise<SyncResult> {
    if (this.closing.signal.aborted) return Promise.reject(new TidalError(ErrorCode.Closed, 'sync manager is closed'));
    const key = task.payload.segmentId;
    const before = this.tails.get(key);
    const prev = before === undefined ? Promise.resolve() : before.owner === task.owner ? before.tail : before.tail.catch(() => undefined);
    const run = this.execute(task, prev);
    const tail = run.then(() => undefined);
    tail.catch(() => undefined);
    const entry = { owner: task.owner, tail };
    this.tails.set(key, entry);
    this.inFlight.add(run);
    void run.then(
      () => this.settled(key, entry, run),
      () => this.settled(key, entry, run),
    );
    return run;
  }

  /** Waits for every queued sync to settle. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Aborts syncs still retrying and refuses new ones; waits for the running ones to settle. Safe to call twice. */
  async close(): Promise<void> {
    this.closing.abort(new TidalError(ErrorCode.Closed, 'sync manager is closed'));
    await this.idle();
  }

  private settled(key: bigint, entry: { tail: Promise<unknown> }, run: Promise<unknown>): void {
    this.inFlight.delete(run);
    if (this.tails.get(key) === entry) this.tails.delete(key);
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running >= this.concurrency) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.slotWaiters.shift()?.();
    }
  }

  /**
   * Encodes and writes the sync's objects (in a slot, at once), then waits for the segment's
   * previous sync to be recorded (`prev`), then records this one. A failed predecessor aborts the
   * writing and fails this sync with the predecessor's error.
   */
  private async execute(task: SyncTask, prev: Promise<unknown>): Promise<SyncResult> {
    const { payload: p, hooks } = task;
    const predecessor = new AbortController();
    prev.catch((err: unknown) => predecessor.abort(err));
    const external = task.signal === undefined ? this.closing.signal : AbortSignal.any([task.signal, this.closing.signal]);
    const signal = AbortSignal.any([external, predecessor.signal]);
    const log = this.log.child({ vchannel: p.vchannel, segmentId: p.segmentId.toString() });
    try {
      if (signal.aborted) throw signal.reason;
      const encoded = await this.withSlot(() => this.upload(p, signal, log));
      await prev;
      return await this.record(p, hooks, encoded, signal, log);
    } catch (err) {
      if (!external.aborted) this.metrics.syncsFailed++;
      // Given up because the predecessor failed: fail with its error, not with an abort.
      if (predecessor.signal.aborted && !external.aborted) throw predecessor.signal.reason;
      throw err;
    }
  }

  /** Encodes the payload and writes its objects (retrying), all in parallel. */
  private async upload(p: SyncPayload, signal: AbortSignal, log: Logger): Promise<EncodedSync> {
    if (signal.aborted) throw signal.reason;
    const encoded = encodeSync(p);
    await Promise.all(
      encoded.objects.map(async (o) => {
        if (failpointsActive) await failpoint('datanode.sync.beforePut');
        await this.retrying('put', log, signal, () => this.store.put(o.key, o.body));
      }),
    );
    return encoded;
  }

  /** SaveBinlogPaths of a written sync (retrying), then the vchannel's state. */
  private async record(p: SyncPayload, hooks: SyncHooks, encoded: EncodedSync, signal: AbortSignal, log: Logger): Promise<SyncResult> {
    if (signal.aborted) throw signal.reason;
    if (failpointsActive) await failpoint('datanode.sync.beforeSave');
    const base = hooks.segment();
    let checkpoint: MsgPosition | undefined;
    let tolerated = false;
    try {
      await this.retrying('saveBinlogPaths', log, signal, async () => {
        checkpoint = hooks.channelCheckpoint();
        await this.master.saveBinlogPaths(saveRequest(p, encoded, base, checkpoint), { signal });
      });
    } catch (err) {
      if (hooks.tolerate?.(err) !== true) throw err;
      tolerated = true;
      log.warn({ err }, 'SaveBinlogPaths refused; accepted for a dropped collection or partition');
    }
    if (failpointsActive) {
      await failpoint('datanode.sync.afterSave');
      if (p.flushed) await failpoint('datanode.flush.afterSave');
    }
    const result: SyncResult = { encoded, pkStats: encoded.pkStats, numRows: base.flushedRows + BigInt(p.rows), channelCheckpoint: checkpoint, tolerated };
    this.metrics.syncsCompleted++;
    this.metrics.syncedRows += p.rows;
    this.metrics.syncedBytes += encoded.objects.reduce((n, o) => n + o.byteLength, 0);
    hooks.onSaved(result);
    log.debug({ rows: p.rows, deletes: p.deletes.length, objects: encoded.objects.length, flushed: p.flushed }, 'segment synced');
    return result;
  }

  private retrying<T>(what: string, log: Logger, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    return retry(fn, {
      ...this.retryOptions,
      signal,
      shouldRetry: (err) => !signal.aborted && isRetriable(err) && !(err instanceof TidalError && err.code === ErrorCode.Closed),
      onRetry: (err, attempt) => {
        this.metrics.syncRetries++;
        log.warn({ err, attempt, op: what }, 'sync step failed; retrying');
      },
    }).catch((err: unknown) => {
      if (!(err instanceof TidalError) && !(err instanceof Error)) throw new TidalError(ErrorCode.Internal, `sync ${what} failed: ${String(err)}`, { cause: err });
      throw err;
    });
  }
}
