/**
 * SegmentManager: decides which segment each row goes to, per (collection, partition, vchannel),
 * and when a segment stops growing.
 *
 * Decisions (see also DESIGN.md, Segments):
 * - Capacity: `maxSizeBytes / estimateRowSizeBytes(schema)` rows, fixed when the segment opens.
 *   Capacity counts every row ever allocated, expired allocations included (their rows may have
 *   been written), so a segment never holds more than its capacity.
 * - A request that does not fit in what is left of the growing segment is split: the segment is
 *   filled to capacity and sealed, the rest goes to a new segment (one request, several
 *   assignments, as AssignSegmentIDResponse allows; Milvus instead answers one segment per
 *   request and leaves segments partly empty). A request above a whole segment's capacity is
 *   INVALID_ARGUMENT: the proxy must split its insert.
 * - Allocations expire `allocationExpireMs` after the TSO's current time (one TSO read per
 *   `assign` call). Rows must carry timestamps below the expiry. A sealed segment is flushable once
 *   its last expiry is at or below the DataNodes' tick on its vchannel.
 * - Seal: capacity (when full), lifetime and idle (TSO time, checked on every assignment for the
 *   key and every `flushableSegments` call for the vchannel), and explicit `flush`.
 * - Persistence: `meta/segment/{coll}/{seg}` holds `segment.SegmentInfo`; each change (open, seal,
 *   update) is one transaction, applied in memory only after it commits. Allocations are kept in
 *   memory only (no etcd write per AssignSegmentID).
 * - Restart: allocations in flight are lost with the old master, so how full a growing segment is
 *   cannot be known. `start()` therefore seals every growing segment it finds (reason `restart`),
 *   with its last expiry raised to TSO-now + allocationExpireMs — an upper bound of every allocation
 *   the old master made, since the TSO starts above all it served. New rows go to new segments,
 *   whose IDs come from the IdAllocator and so are never handed out twice.
 * - Concurrency: work on one (collection, partition, vchannel) key runs one call at a time; calls
 *   that touch several keys take their locks in key order.
 * - `numRows` of a segment is what DataNodes reported (SaveBinlogPaths through `update`, or
 *   `updateStats` from their ticks); rows allocated are in `allocation()`.
 */
import { EventEmitter } from 'node:events';
import { errors } from '../../common/errors.js';
import { addMs } from '../../common/hybrid-ts.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { SegmentInfo, SegmentState } from '../../gen/segment.js';
import type { IdAllocator } from '../idalloc/id-allocator.js';
import type { TimestampOracle } from '../tso/timestamp-oracle.js';
import type { CollectionInfo, CollectionLookup } from './collection-lookup.js';
import { KeyedMutex } from './keyed-mutex.js';
import { estimateRowSizeBytes, segmentCapacityRows } from './row-size.js';
import { isFull, sealReasonAt, type AllocationState, type SealReason } from './seal-policy.js';
import { SegmentStore, type TxnExtras } from './segment-store.js';
import type {
  FlushResult,
  SegmentAllocation,
  SegmentAssignment,
  SegmentManagerConfig,
  SegmentManagerEvents,
  SegmentManagerOptions,
  SegmentManagerState,
  SegmentRequest,
} from './segment-types.js';
import { checkEdit, notSealed } from './state-transition.js';

interface Entry extends AllocationState {
  /** As persisted. */
  info: SegmentInfo;
  lastExpireTs: bigint;
  /** Rows a DataNode last reported for it (memory only). */
  statsRows: bigint;
}

interface Plan {
  index: number;
  request: SegmentRequest;
  collection: CollectionInfo;
  rowSizeBytes: number;
  capacity: number;
}

const keyOf = (collectionId: bigint, partitionId: bigint, vchannel: string) => `${collectionId}/${partitionId}/${vchannel}`;
const keyOfInfo = (s: SegmentInfo) => keyOf(s.collectionId, s.partitionId, s.insertChannel);
const ids = (xs: Iterable<{ info: SegmentInfo }>) => [...xs].map((e) => e.info.segmentId);
const maxTs = (a: bigint, b: bigint) => (a > b ? a : b);

/** Assigns rows to segments and tracks their lifecycle. `start()` before use; methods throw TidalError. */
export class SegmentManager extends EventEmitter<SegmentManagerEvents> {
  private readonly store: SegmentStore;
  private readonly tso: Pick<TimestampOracle, 'alloc'>;
  private readonly ids: Pick<IdAllocator, 'alloc'>;
  private readonly collections: CollectionLookup;
  private readonly config: SegmentManagerConfig;
  private readonly log: Logger;
  private readonly locks = new KeyedMutex();
  private stateValue: SegmentManagerState = 'idle';

  private readonly segments = new Map<bigint, Entry>();
  /** Growing segment ids per key, oldest first. */
  private readonly growing = new Map<string, bigint[]>();
  /** Segment ids per collection. */
  private readonly byCollection = new Map<bigint, Set<bigint>>();

  constructor(options: SegmentManagerOptions) {
    super();
    const c = options.config;
    for (const k of ['maxSizeBytes', 'allocationExpireMs', 'maxLifetimeMs', 'maxIdleMs'] as const) {
      if (!Number.isSafeInteger(c[k]) || c[k] < 1) throw errors.invalidArgument(`segment config ${k} must be a positive integer, got ${c[k]}`);
    }
    if (!Number.isSafeInteger(c.minSizeToSealIdleBytes) || c.minSizeToSealIdleBytes < 0) {
      throw errors.invalidArgument(`segment config minSizeToSealIdleBytes must be a non-negative integer, got ${c.minSizeToSealIdleBytes}`);
    }
    this.config = { ...c };
    this.store = new SegmentStore({ kv: options.kv, prefix: options.keyPrefix, guard: options.guard });
    this.tso = options.tso;
    this.ids = options.ids;
    this.collections = options.collections;
    this.log = (options.logger ?? silentLogger).child({ component: 'segment-manager' });
  }

  /** Current lifecycle state. */
  get state(): SegmentManagerState {
    return this.stateValue;
  }

  /**
   * Loads every segment from the KV and seals the growing ones (see the file comment: restart).
   * Needs a serving TSO when growing segments exist. Safe to call twice.
   */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'starting';
    try {
      for (const info of await this.store.loadAll()) {
        this.add({
          info,
          allocatedRows: Number(info.numRows),
          maxRows: Number(info.maxRowNum),
          rowSizeBytes: 0,
          openedTs: 0n,
          lastAssignTs: 0n,
          lastExpireTs: info.lastExpireTime,
          statsRows: 0n,
        });
      }
      const growing = [...this.segments.values()].filter((e) => e.info.state === SegmentState.Growing);
      if (growing.length > 0) {
        const bound = addMs((await this.tso.alloc(1)).first, this.config.allocationExpireMs);
        for (const e of growing) {
          e.lastExpireTs = maxTs(e.lastExpireTs, bound);
          await this.seal([e], 'restart');
        }
      }
      if (this.stateValue !== 'starting') return; // closed meanwhile
      this.stateValue = 'serving';
      this.log.info({ segments: this.segments.size, sealedAtStart: growing.length }, 'segment manager serving');
    } catch (err) {
      if (this.stateValue === 'starting') this.stateValue = 'idle';
      this.segments.clear();
      this.growing.clear();
      this.byCollection.clear();
      throw err;
    }
  }

  /** Stops serving (later calls throw UNAVAILABLE) and waits for calls in progress. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    await this.locks.idle();
  }

  /**
   * Assigns room for each request's rows. Every request is checked before anything is assigned;
   * the first bad one fails the call: NOT_FOUND for an unknown collection or partition,
   * INVALID_ARGUMENT for a vchannel not of the collection or a count that is not an integer from 1
   * to one segment's capacity. Answers one or more assignments per request (counts add up to the
   * request's count), ordered by request index. Throws UNAVAILABLE when not serving; a KV or ID
   * allocator failure fails the call (rows already assigned in it are never handed out again).
   */
  async assign(requests: readonly SegmentRequest[]): Promise<SegmentAssignment[]> {
    this.checkServing();
    if (!Array.isArray(requests) || requests.length === 0) throw errors.invalidArgument('segment requests must be a non-empty list');
    const plans: Plan[] = [];
    for (const [index, request] of requests.entries()) plans.push(await this.plan(index, request));

    const now = (await this.tso.alloc(1)).first;
    const expireTs = addMs(now, this.config.allocationExpireMs);
    const byKey = new Map<string, Plan[]>();
    for (const p of plans) {
      const key = keyOf(p.request.collectionId, p.request.partitionId, p.request.vchannel);
      byKey.set(key, [...(byKey.get(key) ?? []), p]);
    }
    const results = await Promise.all(
      [...byKey].map(([key, group]) => this.locks.run(key, () => this.assignKey(key, group, now, expireTs))),
    );
    return results.flat().sort((a, b) => a.requestIndex - b.requestIndex);
  }

  /**
   * Seals the collection's growing segments (only those in `segmentIds`, when given) so they take
   * no more rows; DataNodes flush them once their allocations expire behind the tick. Throws
   * NOT_FOUND when a listed segment is unknown or of another collection (nothing is sealed).
   */
  async flush(collectionId: bigint, segmentIds?: readonly bigint[]): Promise<FlushResult> {
    this.checkServing();
    let only: Set<bigint> | undefined;
    if (segmentIds !== undefined) {
      only = new Set(segmentIds);
      for (const id of only) {
        const e = this.segments.get(id);
        if (e === undefined || e.info.collectionId !== collectionId) {
          throw errors.notFound(`segment ${id} is not a segment of collection ${collectionId}`, {
            segmentId: id.toString(),
            collectionId: collectionId.toString(),
          });
        }
      }
    }
    const wanted = (e: Entry) => only === undefined || only.has(e.info.segmentId);
    const sealed: bigint[] = [];
    const keys = new Set(this.entriesOf(collectionId).filter((e) => e.info.state === SegmentState.Growing && wanted(e)).map((e) => keyOfInfo(e.info)));
    for (const key of [...keys].sort()) {
      await this.locks.run(key, async () => {
        this.checkServing();
        const entries = this.growingOf(key).filter(wanted);
        if (entries.length === 0) return;
        await this.seal(entries, 'flush');
        sealed.push(...ids(entries));
      });
    }
    const rest = this.entriesOf(collectionId).filter((e) => wanted(e) && !sealed.includes(e.info.segmentId));
    const byState = (...states: SegmentState[]) => ids(rest.filter((e) => states.includes(e.info.state)));
    this.log.info({ collectionId: collectionId.toString(), sealed: sealed.map(String) }, 'flush sealed segments');
    return {
      sealedSegmentIds: sealed,
      pendingSegmentIds: byState(SegmentState.Sealed, SegmentState.Flushing),
      flushedSegmentIds: byState(SegmentState.Flushed),
    };
  }

  /**
   * The segments of `vchannel` ready to flush at the DataNodes' tick `dataNodeTs`: Sealed or
   * Flushing (a repeated flush order is harmless) with every allocation expired at or below it.
   * First seals the vchannel's growing segments whose lifetime or idle limit passed, measured at
   * `dataNodeTs`. Returns copies, by segment id.
   */
  async flushableSegments(vchannel: string, dataNodeTs: bigint): Promise<SegmentInfo[]> {
    this.checkServing();
    await this.applySealPolicies(dataNodeTs, vchannel);
    return [...this.segments.values()]
      .filter(
        (e) =>
          e.info.insertChannel === vchannel &&
          (e.info.state === SegmentState.Sealed || e.info.state === SegmentState.Flushing) &&
          e.info.lastExpireTime <= dataNodeTs,
      )
      .map((e) => this.view(e))
      .sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1));
  }

  /**
   * Seals growing segments whose capacity, lifetime or idle limit is reached at `nowTs` (default:
   * a fresh TSO timestamp), on `vchannel` only when given. Returns the ids it sealed. For a periodic
   * sweep; assignments and DataNode ticks apply the same policies on their keys.
   */
  async applySealPolicies(nowTs?: bigint, vchannel?: string): Promise<bigint[]> {
    this.checkServing();
    const now = nowTs ?? (await this.tso.alloc(1)).first;
    const sealed: bigint[] = [];
    const keys = [...this.growing.keys()].filter((k) => vchannel === undefined || this.growingOf(k)[0]?.info.insertChannel === vchannel);
    for (const key of keys.sort()) {
      sealed.push(...(await this.locks.run(key, () => this.sealByPolicy(key, now))));
    }
    return sealed;
  }

  /**
   * Changes segments in one transaction: `mutate` edits a copy of each (state, rows, binlogs,
   * positions; never ids, collection, partition or channel), `extras` commit with them (the
   * channel checkpoint of SaveBinlogPaths). The state only moves forward (Growing → Sealed →
   * Flushing → Flushed, or to Dropped); a segment leaving Growing takes no more rows. Throws
   * NOT_FOUND for an unknown segment, INVALID_ARGUMENT for a forbidden edit, FAILED_PRECONDITION
   * when a compare fails; nothing is applied then. Returns the new infos.
   */
  async update(segmentIds: readonly bigint[], mutate: (info: SegmentInfo) => void, extras?: TxnExtras): Promise<SegmentInfo[]> {
    this.checkServing();
    const unique = [...new Set(segmentIds)];
    const entries = unique.map((id) => this.entry(id));
    const keys = [...new Set(entries.map((e) => keyOfInfo(e.info)))].sort();
    return this.withKeys(keys, async () => {
      this.checkServing();
      const next = entries.map((e) => {
        const copy = SegmentInfo.fromPartial(e.info);
        mutate(copy);
        checkEdit(e.info, copy);
        if (e.info.state === SegmentState.Growing && copy.state !== SegmentState.Growing) {
          copy.lastExpireTime = maxTs(copy.lastExpireTime, e.lastExpireTs);
        }
        return copy;
      });
      await this.store.save(next, extras);
      entries.forEach((e, i) => this.replace(e, next[i] as SegmentInfo));
      return entries.map((e) => this.view(e));
    });
  }

  /** Marks sealed segments Flushing (a DataNode was told to flush them). Throws as {@link update}. */
  async markFlushing(segmentIds: readonly bigint[]): Promise<SegmentInfo[]> {
    return this.update(segmentIds, (info) => {
      if (info.state === SegmentState.Growing) throw notSealed(info);
      if (info.state === SegmentState.Sealed) info.state = SegmentState.Flushing;
    });
  }

  /**
   * Marks a sealed segment Flushed, with its final row count when given. Throws
   * FAILED_PRECONDITION for a growing segment, and as {@link update}.
   */
  async markFlushed(segmentId: bigint, numRows?: bigint): Promise<SegmentInfo> {
    const [info] = await this.update([segmentId], (s) => {
      if (s.state === SegmentState.Growing) throw notSealed(s);
      if (s.state !== SegmentState.Dropped) s.state = SegmentState.Flushed;
      if (numRows !== undefined) s.numRows = numRows;
    });
    return info as SegmentInfo;
  }

  /** Records DataNode-reported row counts of segments (memory only; unknown ids are ignored). */
  updateStats(stats: Iterable<{ segmentId: bigint; numRows: bigint }>): void {
    for (const s of stats) {
      const e = this.segments.get(s.segmentId);
      if (e !== undefined) e.statsRows = s.numRows;
    }
  }

  /** One segment (a copy). Throws NOT_FOUND for an unknown id. */
  describe(segmentId: bigint): SegmentInfo {
    this.checkServing();
    return this.view(this.entry(segmentId));
  }

  /**
   * The segments of a collection (of one partition when given), by segment id, as copies. An
   * unknown collection has none; whether it exists is the meta table's to say.
   */
  list(collectionId: bigint, partitionId?: bigint): SegmentInfo[] {
    this.checkServing();
    return this.entriesOf(collectionId)
      .filter((e) => partitionId === undefined || e.info.partitionId === partitionId)
      .map((e) => this.view(e))
      .sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1));
  }

  /** Rows handed out of a segment, its capacity and last expiry. Throws NOT_FOUND for an unknown id. */
  allocation(segmentId: bigint): SegmentAllocation {
    const e = this.entry(segmentId);
    return { allocatedRows: e.allocatedRows, maxRows: e.maxRows, lastExpireTs: e.lastExpireTs };
  }

  // ---- internals --------------------------------------------------------------------------------

  private checkServing(): void {
    if (this.stateValue !== 'serving') throw errors.unavailable(`segment manager is not serving (state ${this.stateValue})`);
  }

  private async plan(index: number, request: SegmentRequest): Promise<Plan> {
    const where = `segmentIdRequests[${index}]`;
    if (request === null || typeof request !== 'object') throw errors.invalidArgument(`${where} must be an object`);
    const { collectionId, partitionId, vchannel, count } = request;
    const ctx = { requestIndex: index, collectionId: String(collectionId), partitionId: String(partitionId), vchannel };
    if (!Number.isSafeInteger(count) || count < 1) throw errors.invalidArgument(`${where}: count must be a positive integer, got ${count}`, ctx);
    const collection = await this.collections.collection(collectionId);
    if (collection === undefined) throw errors.notFound(`${where}: collection ${collectionId} does not exist`, ctx);
    if (!collection.partitionIds.includes(partitionId)) {
      throw errors.notFound(`${where}: partition ${partitionId} does not exist in collection ${collectionId}`, ctx);
    }
    if (!collection.vchannels.includes(vchannel)) {
      throw errors.invalidArgument(
        `${where}: vchannel ${JSON.stringify(vchannel)} is not a channel of collection ${collectionId}; its channels are ${collection.vchannels.join(', ')}`,
        ctx,
      );
    }
    const rowSizeBytes = estimateRowSizeBytes(collection.schema);
    const capacity = segmentCapacityRows(this.config.maxSizeBytes, rowSizeBytes);
    if (count > capacity) {
      throw errors.invalidArgument(
        `${where}: count ${count} is above one segment's capacity of ${capacity} rows (${this.config.maxSizeBytes} bytes / ${rowSizeBytes} bytes per row); split the insert`,
        { ...ctx, count, capacity },
      );
    }
    return { index, request, collection, rowSizeBytes, capacity };
  }

  /** Under the key's lock: applies the seal policies, then fills growing segments in order. */
  private async assignKey(key: string, plans: readonly Plan[], now: bigint, expireTs: bigint): Promise<SegmentAssignment[]> {
    this.checkServing();
    await this.sealByPolicy(key, now);
    const out: SegmentAssignment[] = [];
    for (const p of plans) {
      let remaining = p.request.count;
      while (remaining > 0) {
        const e = this.growingOf(key).find((x) => !isFull(x)) ?? (await this.open(p, now, expireTs));
        const take = Math.min(remaining, e.maxRows - e.allocatedRows);
        e.allocatedRows += take;
        e.lastAssignTs = maxTs(e.lastAssignTs, now);
        e.lastExpireTs = maxTs(e.lastExpireTs, expireTs);
        remaining -= take;
        out.push({
          requestIndex: p.index,
          segmentId: e.info.segmentId,
          collectionId: e.info.collectionId,
          partitionId: e.info.partitionId,
          vchannel: e.info.insertChannel,
          count: take,
          expireTs,
        });
        if (isFull(e)) await this.seal([e], 'capacity');
      }
    }
    return out;
  }

  /** Under the key's lock: seals the key's growing segments that a policy says to. */
  private async sealByPolicy(key: string, now: bigint): Promise<bigint[]> {
    const sealed: bigint[] = [];
    for (const e of this.growingOf(key)) {
      const reason = sealReasonAt(e, now, this.config);
      if (reason === undefined) continue;
      await this.seal([e], reason);
      sealed.push(e.info.segmentId);
    }
    return sealed;
  }

  /** Under the key's lock: a new growing segment, persisted before use. */
  private async open(p: Plan, now: bigint, expireTs: bigint): Promise<Entry> {
    const { first: segmentId } = await this.ids.alloc(1);
    const info = SegmentInfo.fromPartial({
      segmentId,
      collectionId: p.request.collectionId,
      partitionId: p.request.partitionId,
      insertChannel: p.request.vchannel,
      numRows: 0n,
      state: SegmentState.Growing,
      maxRowNum: BigInt(p.capacity),
      lastExpireTime: expireTs,
      schemaVersion: p.collection.schema.version,
    });
    await this.store.save([info]);
    const e: Entry = {
      info,
      allocatedRows: 0,
      maxRows: p.capacity,
      rowSizeBytes: p.rowSizeBytes,
      openedTs: now,
      lastAssignTs: now,
      lastExpireTs: expireTs,
      statsRows: 0n,
    };
    this.add(e);
    this.log.info(
      { segmentId: segmentId.toString(), collectionId: String(p.request.collectionId), partitionId: String(p.request.partitionId), vchannel: p.request.vchannel, maxRows: p.capacity },
      'segment opened',
    );
    this.emit('opened', this.view(e));
    return e;
  }

  /** Under the lock of their key(s): persists the entries as Sealed (one transaction), then applies it. */
  private async seal(entries: readonly Entry[], reason: SealReason): Promise<void> {
    const next = entries.map((e) => {
      const copy = SegmentInfo.fromPartial(e.info);
      copy.state = SegmentState.Sealed;
      copy.lastExpireTime = maxTs(copy.lastExpireTime, e.lastExpireTs);
      return copy;
    });
    await this.store.save(next);
    entries.forEach((e, i) => {
      this.replace(e, next[i] as SegmentInfo);
      this.log.info({ segmentId: e.info.segmentId.toString(), reason, allocatedRows: e.allocatedRows, maxRows: e.maxRows }, 'segment sealed');
      this.emit('sealed', this.view(e), reason);
    });
  }

  private add(e: Entry): void {
    this.segments.set(e.info.segmentId, e);
    let set = this.byCollection.get(e.info.collectionId);
    if (set === undefined) this.byCollection.set(e.info.collectionId, (set = new Set()));
    set.add(e.info.segmentId);
    if (e.info.state === SegmentState.Growing) {
      const key = keyOfInfo(e.info);
      this.growing.set(key, [...(this.growing.get(key) ?? []), e.info.segmentId]);
    }
  }

  /** Swaps in a committed info and keeps the growing index in step. */
  private replace(e: Entry, info: SegmentInfo): void {
    const wasGrowing = e.info.state === SegmentState.Growing;
    e.info = info;
    e.lastExpireTs = maxTs(e.lastExpireTs, info.lastExpireTime);
    if (wasGrowing && info.state !== SegmentState.Growing) {
      const key = keyOfInfo(info);
      const rest = (this.growing.get(key) ?? []).filter((id) => id !== info.segmentId);
      if (rest.length === 0) this.growing.delete(key);
      else this.growing.set(key, rest);
    }
  }

  private growingOf(key: string): Entry[] {
    return (this.growing.get(key) ?? []).map((id) => this.segments.get(id)).filter((e): e is Entry => e !== undefined);
  }

  private entriesOf(collectionId: bigint): Entry[] {
    return [...(this.byCollection.get(collectionId) ?? [])].map((id) => this.segments.get(id)).filter((e): e is Entry => e !== undefined);
  }

  private entry(segmentId: bigint): Entry {
    const e = this.segments.get(segmentId);
    if (e === undefined) throw errors.notFound(`segment ${segmentId} does not exist`, { segmentId: String(segmentId) });
    return e;
  }

  /** A copy for callers, with the DataNode-reported row count when it is newer. */
  private view(e: Entry): SegmentInfo {
    const copy = SegmentInfo.fromPartial(e.info);
    if (e.statsRows > copy.numRows) copy.numRows = e.statsRows;
    return copy;
  }

  /** Runs `fn` holding every key's lock, taken in the given (sorted) order. */
  private withKeys<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const [first, ...rest] = keys;
    if (first === undefined) return fn();
    return this.locks.run(first, () => this.withKeys(rest, fn));
  }
}
