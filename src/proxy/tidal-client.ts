/**
 * TidalClient: the proxy. It registers with the master, allocates timestamps (batched, PD-style)
 * and ids (cached), places rows in segments (cached assignments that respect their expiry),
 * publishes Insert and Delete records on the DML channels, and reports its time tick.
 *
 * An insert, step by step (nothing reaches the log until every step before `publish` succeeded,
 * so bad input, an unknown collection or partition, or a row too large for a message sends
 * nothing):
 *   1. collection metadata (cache; DescribeCollection + ShowPartitions on a miss), partition id;
 *   2. rows checked against the schema and built as one Arrow record batch;
 *   3. timestamps: one range per call (rows get increasing timestamps in row order), row ids;
 *   4. each row's shard from its primary key (pk-hash.ts), rows grouped per vchannel;
 *   5. segment room per (collection, partition, vchannel) for rows below the assignments' expiry;
 *   6. Insert records per (vchannel, segment), split so each payload fits the stream's limit;
 *   7. produce to each vchannel's pchannel; resolve with the positions once the log has them.
 * A NOT_FOUND in steps 1-6 with cached metadata (the collection was dropped, or dropped and
 * created again) drops the cache entry and runs steps 1-6 once more with fresh metadata.
 *
 * Time tick (time-ticker.ts): every `tickIntervalMs`, min(start timestamp of the operations in
 * flight, a fresh TSO timestamp), reported with ReportProxyTimeTick. If the master forgot the
 * proxy (its session lapsed), the proxy registers again under a new id.
 *
 * Lifecycle: `start()` (or `TidalClient.connect`) → inserts and deletes → `close()`: stop taking
 * operations → wait for those in flight (bounded by `closeTimeoutMs`) → stop ticking →
 * DeregisterProxy → close the allocators (and the master connection when the client made it). The
 * MsgStream is the caller's and stays open.
 */
import { EventEmitter } from 'node:events';
import { errors, ErrorCode, hasCode } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { MsgType } from '../gen/common.js';
import type { StreamMsg } from '../gen/msg.js';
import type { MsgStream, Position } from '../mq/msg-stream.js';
import { CollectionCache, type CollectionMeta } from './collection-cache.js';
import { DdlWatcher } from './ddl-watcher.js';
import { publish } from './dml-publisher.js';
import type { DeleteKeysInput, InsertRequest } from './dml-input.js';
import { DmlPlanner, type DeleteOptions, type DeleteResult, type InsertResult, type Prepared } from './dml-planner.js';
import { IdCache } from './id-cache.js';
import { InflightOps, type InflightOp } from './inflight-ops.js';
import { MasterClient } from './master-client.js';
import { retryingMaster, type MasterRpc } from './master-rpc.js';
import { MAX_SEGMENT_SIZE_KEY } from './segment-capacity.js';
import { SegmentAssigner } from './segment-assigner.js';
import { TimestampAllocator } from './timestamp-allocator.js';
import { DEFAULT_TICK_INTERVAL_MS, TimeTicker } from './time-ticker.js';

/** Options of {@link TidalClient}. */
export interface TidalClientOptions {
  /** The master: `host:port` (the client connects and later closes), or a connected client (left open). */
  master: string | MasterRpc;
  /** The message log the DML channels live in (the caller's; not closed by the client). */
  stream: MsgStream;
  /** What RegisterProxy records for operators (host:port or a label). Default `tidal-proxy-{pid}`. */
  address?: string;
  /** Interval between time-tick reports, ms. Default min(200, the master's proxy TTL / 3). */
  tickIntervalMs?: number;
  /** Ids fetched per AllocID call. Default 50,000. */
  idBatchSize?: number;
  /** Segment rows asked for beyond an insert's need, per vchannel. Default 4,096. */
  segmentPrefetchRows?: number;
  /** Largest record payload, bytes; the stream's `maxMessageBytes` when larger or unset. */
  maxMessageBytes?: number;
  /** Deadline of each master call, ms (when the client connects). Default 30,000. */
  masterDeadlineMs?: number;
  /**
   * Follow the DD channel to drop cached metadata and segment room of collections changed by DDL
   * (see ddl-watcher.ts). Default true; without it a dropped collection is noticed only when the
   * master answers NOT_FOUND.
   */
  watchDdl?: boolean;
  /** How long close() waits for operations in flight, ms. Default 30,000. */
  closeTimeoutMs?: number;
  logger?: Logger;
}

/** Lifecycle of a TidalClient. */
export type TidalClientState = 'idle' | 'starting' | 'running' | 'closing' | 'closed';

/** Events of a TidalClient. */
export interface TidalClientEvents {
  /** The master accepted this proxy's tick `ts`. */
  tick: [ts: bigint];
  /** A tick report failed (tried again next interval). */
  tickFailed: [error: unknown];
  /** The master had dropped this proxy; it registered again as `proxyId`. */
  reregistered: [proxyId: bigint];
  /** Cached metadata of `collection` was dropped after a DDL on it (`undefined`: of every collection). */
  metaInvalidated: [collection: string | undefined];
}

const q = (s: string) => JSON.stringify(s);

/** A proxy connected to one master and one message log. Methods throw TidalError. */
export class TidalClient extends EventEmitter<TidalClientEvents> {
  private readonly options: TidalClientOptions;
  private readonly log: Logger;
  private readonly ownedMaster: MasterClient | undefined;
  private readonly master: MasterRpc;
  private readonly tso: TimestampAllocator;
  private readonly ids: IdCache;
  private readonly collections: CollectionCache;
  private readonly segments: SegmentAssigner;
  private readonly ops = new InflightOps();
  private readonly planner: DmlPlanner;
  private ticker: TimeTicker | undefined;
  private ddl: DdlWatcher | undefined;
  private stateValue: TidalClientState = 'idle';
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private proxyIdValue = 0n;
  private maxSegmentBytes: number | undefined;

  constructor(options: TidalClientOptions) {
    super();
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ component: 'proxy' });
    if (typeof options.master === 'string') {
      this.ownedMaster = new MasterClient(options.master, { deadlineMs: options.masterDeadlineMs });
      this.master = retryingMaster(this.ownedMaster);
    } else {
      this.master = retryingMaster(options.master);
    }
    const sourceId = () => this.proxyIdValue;
    this.tso = new TimestampAllocator({
      fetch: async (count) => {
        const r = await this.master.call('allocTimestamp', { base: { msgType: MsgType.RequestTSO, sourceId: sourceId() }, count });
        return { first: r.timestamp, count: r.count };
      },
    });
    this.ids = new IdCache({
      fetch: async (count) => {
        const r = await this.master.call('allocId', { base: { msgType: MsgType.RequestID, sourceId: sourceId() }, count });
        return { first: r.id, count: r.count };
      },
      batchSize: options.idBatchSize,
      logger: this.log,
    });
    this.collections = new CollectionCache(this.master);
    this.segments = new SegmentAssigner({
      master: this.master,
      sourceId,
      prefetchRows: options.segmentPrefetchRows,
    });
    this.planner = new DmlPlanner({
      tso: this.tso,
      ids: this.ids,
      collections: this.collections,
      segments: this.segments,
      sourceId,
      messageLimit: () => this.messageLimit(),
      maxSegmentBytes: () => this.maxSegmentBytes,
    });
  }

  /** A started client (see {@link TidalClient.start}). */
  static async connect(options: TidalClientOptions): Promise<TidalClient> {
    const client = new TidalClient(options);
    try {
      await client.start();
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** Current lifecycle state. */
  get state(): TidalClientState {
    return this.stateValue;
  }

  /** The id the master gave this proxy (0 before start). */
  get proxyId(): bigint {
    return this.proxyIdValue;
  }

  /** Operations in flight. */
  get inflight(): number {
    return this.ops.size;
  }

  /** Registers with the master and starts ticking. Safe to call twice. Throws the master's error. */
  start(): Promise<void> {
    if (this.stateValue === 'closing' || this.stateValue === 'closed') return Promise.reject(errors.closed('tidal client'));
    this.starting ??= this.doStart();
    return this.starting;
  }

  /**
   * Inserts rows into `collection` and resolves once the log holds them. Throws INVALID_ARGUMENT
   * for rows that do not fit the schema, NOT_FOUND for an unknown collection or partition (in
   * both cases nothing is sent), RESOURCE_EXHAUSTED for a row larger than a message, CLOSED after
   * close, or the master's / the log's error.
   */
  async insert(collection: string, request: InsertRequest): Promise<InsertResult> {
    this.checkRunning();
    return this.run(collection, `insert into collection ${q(collection)}`, (meta, op) => this.planner.prepareInsert(meta, request, op));
  }

  /**
   * Deletes rows by primary key (Int64 keys as bigints / safe integers / a BigInt64Array, VarChar
   * keys as strings), each as of its own timestamp, and resolves once the log holds the Delete
   * records. Throws as {@link TidalClient.insert} does.
   */
  async delete(collection: string, pks: DeleteKeysInput, options: DeleteOptions = {}): Promise<DeleteResult> {
    this.checkRunning();
    return this.run(collection, `delete from collection ${q(collection)}`, (meta, op) => this.planner.prepareDelete(meta, pks, options, op));
  }

  /**
   * Forgets cached metadata of `collection` (every collection when not given) and every cached
   * segment room; the next operation loads them again. The DD channel makes this unnecessary
   * unless `watchDdl` is off.
   */
  invalidateCollection(collection?: string): void {
    this.forget(collection);
  }

  /** Reports a tick now (tests, tools); resolves with the tick, or undefined when none was due. */
  tickNow(): Promise<bigint | undefined> {
    if (this.ticker === undefined) return Promise.reject(errors.unavailable('tidal client is not started'));
    return this.ticker.tickNow();
  }

  /** Stops the client in the documented order. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  // ---- lifecycle ----

  private async doStart(): Promise<void> {
    this.stateValue = 'starting';
    const ttlMs = await this.register();
    this.maxSegmentBytes = await this.readMaxSegmentBytes();
    if (this.options.watchDdl !== false) {
      const dd = await this.master.call('getDdChannel', { base: { msgType: MsgType.GetDdChannel, sourceId: this.proxyIdValue } });
      this.ddl = new DdlWatcher({
        stream: this.options.stream,
        channel: dd.value,
        onDdl: (msg) => this.onDdl(msg),
        onReset: () => this.forget(undefined),
        logger: this.log,
      });
      // Reading begins before any metadata is cached, so no DDL after it is missed.
      await this.ddl.start();
    }
    const intervalMs = this.options.tickIntervalMs ?? Math.max(1, Math.min(DEFAULT_TICK_INTERVAL_MS, Math.floor(ttlMs / 3)));
    this.ticker = new TimeTicker({ ops: this.ops, freshTs: () => this.tso.get(), report: (ts) => this.reportTick(ts), intervalMs, logger: this.log });
    this.ticker.on('tick', (ts) => this.emit('tick', ts));
    this.ticker.on('tickFailed', (err) => this.emit('tickFailed', err));
    if (this.stateValue !== 'starting') return; // closed while starting
    this.ticker.start();
    this.stateValue = 'running';
    this.log.info({ proxyId: this.proxyIdValue.toString(), tickIntervalMs: intervalMs }, 'proxy started');
  }

  private async register(): Promise<number> {
    const res = await this.master.call('registerProxy', {
      base: { msgType: MsgType.RegisterProxy },
      address: this.options.address ?? `tidal-proxy-${process.pid}`,
    });
    this.proxyIdValue = res.proxyId;
    return Number(res.ttlMs);
  }

  private async readMaxSegmentBytes(): Promise<number | undefined> {
    try {
      const res = await this.master.call('getSysConfigs', { base: { msgType: MsgType.GetSysConfigs }, keys: [MAX_SEGMENT_SIZE_KEY] });
      const v = Number(res.configs.find((c) => c.key === MAX_SEGMENT_SIZE_KEY)?.value);
      return Number.isSafeInteger(v) && v > 0 ? v : undefined;
    } catch (err) {
      // Without it, requests are not split by capacity; the master then refuses one too large.
      this.log.warn({ err }, 'could not read the max segment size; segment requests are not split');
      return undefined;
    }
  }

  private async reportTick(ts: bigint): Promise<void> {
    const send = () =>
      this.master.call('reportProxyTimeTick', {
        base: { msgType: MsgType.ProxyTimeTick, timestamp: ts, sourceId: this.proxyIdValue },
        defaultTimestamp: ts,
      });
    try {
      await send();
    } catch (err) {
      if (!hasCode(err, ErrorCode.FailedPrecondition) || this.stateValue !== 'running') throw err;
      // The master dropped us (silent past the TTL, or it restarted): register again.
      this.log.warn({ err, proxyId: this.proxyIdValue.toString() }, 'master dropped this proxy; registering again');
      await this.register();
      this.emit('reregistered', this.proxyIdValue);
      await send();
    }
  }

  private async doClose(): Promise<void> {
    const wasStarted = this.starting !== undefined;
    this.stateValue = 'closing';
    await this.starting?.catch(() => undefined);
    const timeoutMs = this.options.closeTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      this.ops.whenIdle().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!waited) this.log.warn({ inflight: this.ops.size, timeoutMs }, 'closing with operations still in flight');
    await this.ticker?.close();
    await this.ddl?.close();
    if (wasStarted && this.proxyIdValue !== 0n) {
      try {
        await this.master.call('deregisterProxy', { base: { msgType: MsgType.DeregisterProxy, sourceId: this.proxyIdValue }, proxyId: this.proxyIdValue });
      } catch (err) {
        // The session lapses on the master after its TTL anyway.
        this.log.warn({ err }, 'deregistering the proxy failed');
      }
    }
    this.tso.close();
    this.ids.close();
    this.ownedMaster?.close();
    this.stateValue = 'closed';
  }

  /** Drops what is cached about the collection a DDL message is about. */
  private onDdl(msg: StreamMsg): void {
    const body = msg.body;
    switch (body?.$case) {
      case 'dropCollection':
        this.collections.markDropped(body.value.collectionId);
        this.forget(body.value.collectionName, body.value.collectionId);
        break;
      case 'createCollection':
      case 'createPartition':
      case 'dropPartition':
        this.forget(body.value.collectionName, body.value.collectionId);
        break;
      default:
        // Other DDL (create index) changes nothing the proxy caches.
        break;
    }
  }

  /**
   * Forgets the metadata of a collection (of every collection when no name) and its segment room
   * (every collection's when its id is not known).
   */
  private forget(name: string | undefined, id?: bigint): void {
    this.collections.invalidate(name);
    this.segments.invalidate(name === undefined ? undefined : id);
    this.emit('metaInvalidated', name);
  }

  private checkRunning(): void {
    if (this.stateValue === 'running') return;
    if (this.stateValue === 'closing' || this.stateValue === 'closed') throw errors.closed('tidal client');
    throw errors.unavailable(`tidal client is ${this.stateValue}: call start() first`);
  }

  // ---- operations ----

  /**
   * Runs an operation on collection `name`: `prepare` (everything before the log) with the
   * collection's metadata and a tracked operation, then publishes its records. When prepare meets
   * NOT_FOUND and the metadata came from the cache (the collection may have been dropped, or
   * dropped and created again), the entry is dropped and prepare runs once more with fresh
   * metadata: nothing was sent yet. The operation is tracked (holding the tick back) until its
   * records are in the log or it failed.
   */
  private async run<R extends { positions: Position[] }>(name: string, what: string, prepare: (meta: CollectionMeta, op: InflightOp) => Promise<Prepared<R>>): Promise<R> {
    if (typeof name !== 'string' || name === '') throw errors.invalidArgument('collection name must be a non-empty string');
    for (let attempt = 0; ; attempt++) {
      const cached = this.collections.has(name);
      const meta = await this.collections.get(name);
      const op = this.ops.begin();
      let prepared: Prepared<R>;
      try {
        prepared = await prepare(meta, op);
      } catch (err) {
        op.end();
        if (attempt === 0 && cached && hasCode(err, ErrorCode.NotFound)) {
          this.forget(name, meta.id);
          continue;
        }
        throw err;
      }
      try {
        prepared.result.positions = await publish(this.options.stream, prepared.byChannel, what);
        return prepared.result;
      } finally {
        op.end();
      }
    }
  }

  /** Largest record payload: the stream's limit, or the client's own when smaller. */
  private messageLimit(): number {
    const own = this.options.maxMessageBytes;
    const stream = this.options.stream.maxMessageBytes;
    return own !== undefined && own < stream ? own : stream;
  }
}

