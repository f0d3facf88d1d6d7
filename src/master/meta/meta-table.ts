/**
 * MetaTable: the master's view of collections, partitions and indexes, kept in the metadata KV
 * (keys in meta-keys.ts, values from proto/meta.proto) and mirrored in memory for reads.
 *
 * Writes go in two steps: a `plan*` method checks the request against the current view and returns
 * a {@link MetaChange} (the transaction's compares and writes, nothing applied yet); `commit()` runs
 * it as ONE transaction and only then updates the memory view. Between the two the DDL scheduler
 * publishes the DDL message, so a change that fails its checks neither commits nor publishes.
 *
 * Concurrency: commits run one at a time in this process. Across processes (two masters, or a stale
 * view) the transaction's compares decide: a create compares that the name key was never created
 * (createRevision == 0), every other change that the collection record is unchanged (its
 * modRevision), and every write carries the serving master's guard. A rejected commit reloads the
 * view and reports the domain error (ALREADY_EXISTS, NOT_FOUND) it now sees, else
 * FAILED_PRECONDITION.
 *
 * Drops keep tombstones (state Dropped, drop_ts) so that reads "as of" an earlier timestamp still
 * answer and consumers can look a dropped collection up by id; the name is freed at once.
 * {@link MetaTable.purgeDropped} deletes tombstones older than a timestamp.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { CollectionInfo, CollectionState, IndexInfo, PartitionInfo, PartitionState } from '../../gen/meta.js';
import type { CollectionSchema } from '../../gen/schema.js';
import type { Compare, KeyValue, MetaKV, TxnOp, TxnResult } from '../../kv/meta-kv.js';
import { COLLECTION_NAME_PREFIX, COLLECTION_PREFIX, PARTITION_PREFIX, collectionKey, collectionNameKey, partitionKey, partitionPrefix } from './meta-keys.js';

/** Name of the partition every collection is created with; it cannot be dropped. */
export const DEFAULT_PARTITION_NAME = '_default';
/** Default limit of partitions per collection (the default partition included). */
export const DEFAULT_MAX_PARTITIONS = 4096;

const LOAD_PAGE = 500;

/** Options of {@link MetaTable.load}. */
export interface MetaTableOptions {
  /** Compares every write must satisfy (the serving master's key). Default none. */
  guard?: () => Compare[];
  logger?: Logger;
}

/** A collection to look up: by id when given (non-zero), else by name. */
export interface CollectionRef {
  name?: string;
  id?: bigint;
}

/** What the segment manager reads of a live collection (structurally its CollectionLookup). */
export interface CollectionView {
  id: bigint;
  schema: CollectionSchema;
  vchannels: readonly string[];
  partitionIds: readonly bigint[];
}

/**
 * A planned meta change: the compares and writes of one transaction and how it updates the memory
 * view. Made by the `plan*` methods of a {@link MetaTable}, committed (once) by its `commit()`.
 */
export class MetaChange {
  /** @param apply updates the memory view after the transaction succeeded at `revision`.
   *  @param recheck re-runs the plan's checks against the current view (throws its domain errors). */
  constructor(
    readonly description: string,
    readonly collectionId: bigint,
    /** modRevision of the collection record the plan was made on; 0 for a create. */
    readonly baseRevision: number,
    readonly compares: readonly Compare[],
    readonly ops: readonly TxnOp[],
    readonly apply: (revision: number) => void,
    readonly recheck: () => void,
  ) {}
}

interface CollectionEntry {
  info: CollectionInfo;
  /** modRevision of `meta/collection/{id}`. */
  modRevision: number;
  /** Every partition record, tombstones included. */
  partitions: Map<bigint, PartitionInfo>;
}

interface View {
  collections: Map<bigint, CollectionEntry>;
  /** Live collections by name. */
  liveByName: Map<string, bigint>;
  /** Every collection id that ever had a name (for reads as of a timestamp). */
  nameHistory: Map<string, bigint[]>;
}

function emptyView(): View {
  return { collections: new Map(), liveByName: new Map(), nameHistory: new Map() };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** True when a record with these fields is live now (ts undefined) or at `ts`. */
function liveAt(createTs: bigint, live: boolean, dropTs: bigint, ts: bigint | undefined): boolean {
  if (ts === undefined) return live;
  return createTs <= ts && (dropTs === 0n || ts < dropTs);
}

function collectionLiveAt(info: CollectionInfo, ts: bigint | undefined): boolean {
  return liveAt(info.createTs, info.state === CollectionState.CollectionCreated, info.dropTs, ts);
}

function partitionLiveAt(p: PartitionInfo, ts: bigint | undefined): boolean {
  return liveAt(p.createTs, p.state === PartitionState.PartitionCreated, p.dropTs, ts);
}

function encodeCollection(info: CollectionInfo): Buffer {
  return Buffer.from(CollectionInfo.encode(info).finish());
}

function encodePartition(p: PartitionInfo): Buffer {
  return Buffer.from(PartitionInfo.encode(p).finish());
}

const q = (s: string) => JSON.stringify(s);
const asOf = (ts: bigint | undefined) => (ts === undefined ? '' : ` as of timestamp ${ts}`);

/** The meta table. Create it with {@link MetaTable.load}. Reads are synchronous; writes throw TidalError. */
export class MetaTable {
  private view: View = emptyView();
  private readonly guard: () => Compare[];
  private readonly log: Logger;
  private writeTail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly kv: MetaKV,
    options: MetaTableOptions,
  ) {
    this.guard = options.guard ?? (() => []);
    this.log = (options.logger ?? silentLogger).child({ component: 'meta-table' });
  }

  /**
   * Builds the memory view from the KV. Throws CORRUPTED naming the key when a record does not
   * decode or the records disagree (a name key without its collection, partition lists that do not
   * match the partition records); throws the KV's errors when it is unreachable.
   */
  static async load(kv: MetaKV, options: MetaTableOptions = {}): Promise<MetaTable> {
    const table = new MetaTable(kv, options);
    table.view = await table.readView();
    table.log.info({ collections: table.view.liveByName.size }, 'meta table loaded');
    return table;
  }

  /** Re-reads the whole view from the KV (after a leader change, or to pick up another master's writes). */
  reload(): Promise<void> {
    return this.serial(async () => {
      this.view = await this.readView();
    });
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** The live collection named `name` (as of `ts` when given), or undefined. */
  collectionByName(name: string, ts?: bigint): CollectionInfo | undefined {
    if (ts === undefined) {
      const id = this.view.liveByName.get(name);
      return id === undefined ? undefined : this.view.collections.get(id)?.info;
    }
    for (const id of this.view.nameHistory.get(name) ?? []) {
      const info = this.view.collections.get(id)?.info;
      if (info !== undefined && collectionLiveAt(info, ts)) return info;
    }
    return undefined;
  }

  /** The live collection with this id (as of `ts` when given), or undefined. */
  collectionById(id: bigint, ts?: bigint): CollectionInfo | undefined {
    const info = this.view.collections.get(id)?.info;
    return info !== undefined && collectionLiveAt(info, ts) ? info : undefined;
  }

  /** The stored record of a collection, a dropped one's tombstone included; undefined when unknown or purged. */
  collectionRecord(id: bigint): CollectionInfo | undefined {
    return this.view.collections.get(id)?.info;
  }

  /**
   * The live collection `ref` names (by id when non-zero, else by name), as of `ts` when given.
   * Throws NOT_FOUND (`collection "books" not found`) or INVALID_ARGUMENT when `ref` names nothing.
   */
  getCollection(ref: CollectionRef, ts?: bigint): CollectionInfo {
    if (ref.id !== undefined && ref.id !== 0n) {
      const info = this.collectionById(ref.id, ts);
      if (info !== undefined) return info;
      const record = this.collectionRecord(ref.id);
      if (record !== undefined && ts === undefined && record.state !== CollectionState.CollectionCreated) {
        throw errors.notFound(`collection ${ref.id} (${q(record.name)}) was dropped`, { collectionId: ref.id.toString() });
      }
      throw errors.notFound(`collection ${ref.id} not found${asOf(ts)}`, { collectionId: ref.id.toString() });
    }
    if (ref.name === undefined || ref.name === '') throw errors.invalidArgument('a collection name or id is required');
    const info = this.collectionByName(ref.name, ts);
    if (info === undefined) throw errors.notFound(`collection ${q(ref.name)} not found${asOf(ts)}`, { collection: ref.name });
    return info;
  }

  /** True when a live collection has this name (as of `ts` when given). */
  hasCollection(name: string, ts?: bigint): boolean {
    return this.collectionByName(name, ts) !== undefined;
  }

  /** Live collections (as of `ts` when given), sorted by name. */
  listCollections(ts?: bigint): CollectionInfo[] {
    const out: CollectionInfo[] = [];
    for (const { info } of this.view.collections.values()) if (collectionLiveAt(info, ts)) out.push(info);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Every stored collection record, tombstones included, sorted by id. */
  allCollections(): CollectionInfo[] {
    return [...this.view.collections.values()].map((e) => e.info).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Live partitions of a live collection (as of `ts` when given), in creation order (the default
   * partition first). Empty when the collection is not live.
   */
  listPartitions(collectionId: bigint, ts?: bigint): PartitionInfo[] {
    const entry = this.view.collections.get(collectionId);
    if (entry === undefined || !collectionLiveAt(entry.info, ts)) return [];
    if (ts === undefined) return entry.info.partitionIds.map((id) => entry.partitions.get(id) as PartitionInfo);
    return [...entry.partitions.values()]
      .filter((p) => partitionLiveAt(p, ts))
      .sort((a, b) => (a.createTs !== b.createTs ? (a.createTs < b.createTs ? -1 : 1) : a.id < b.id ? -1 : 1));
  }

  /** Every stored partition record of a collection, tombstones included, sorted by id. */
  allPartitions(collectionId: bigint): PartitionInfo[] {
    const entry = this.view.collections.get(collectionId);
    if (entry === undefined) return [];
    return [...entry.partitions.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The live partition `name` of a live collection (as of `ts` when given), or undefined. */
  partitionByName(collectionId: bigint, name: string, ts?: bigint): PartitionInfo | undefined {
    return this.listPartitions(collectionId, ts).find((p) => p.name === name);
  }

  /** The live partition `id` of a live collection (as of `ts` when given), or undefined. */
  partitionById(collectionId: bigint, partitionId: bigint, ts?: bigint): PartitionInfo | undefined {
    return this.listPartitions(collectionId, ts).find((p) => p.id === partitionId);
  }

  /** The live partition `name` of `collection`. Throws NOT_FOUND (`partition "p" not found in collection "books"`). */
  getPartition(collection: CollectionInfo, name: string, ts?: bigint): PartitionInfo {
    const p = this.partitionByName(collection.id, name, ts);
    if (p === undefined) {
      throw errors.notFound(`partition ${q(name)} not found in collection ${q(collection.name)}${asOf(ts)}`, {
        collection: collection.name,
        partition: name,
      });
    }
    return p;
  }

  /** Live vchannels per pchannel, over every live collection (for shard placement). */
  pchannelUsage(): Map<string, number> {
    const usage = new Map<string, number>();
    for (const { info } of this.view.collections.values()) {
      if (info.state !== CollectionState.CollectionCreated) continue;
      for (const p of info.pchannels) usage.set(p, (usage.get(p) ?? 0) + 1);
    }
    return usage;
  }

  /** A live collection as the segment manager reads it (its CollectionLookup), or undefined. */
  collection(id: bigint): CollectionView | undefined {
    const info = this.collectionById(id);
    if (info === undefined || info.schema === undefined) return undefined;
    return { id: info.id, schema: info.schema, vchannels: info.vchannels, partitionIds: info.partitionIds };
  }

  // ---- planned changes --------------------------------------------------------------------------

  /**
   * Plans creating `info` (state Created, `partitionIds` = [the default partition's id]) with its
   * default partition. Throws ALREADY_EXISTS (`collection "books" already exists`).
   */
  planCreateCollection(info: CollectionInfo, defaultPartition: PartitionInfo): MetaChange {
    const check = () => {
      if (this.view.liveByName.has(info.name)) {
        throw errors.alreadyExists(`collection ${q(info.name)} already exists`, { collection: info.name });
      }
      if (this.view.collections.has(info.id)) throw new TidalError(ErrorCode.Internal, `collection id ${info.id} is already in use`);
    };
    check();
    if (
      info.state !== CollectionState.CollectionCreated ||
      info.partitionIds.length !== 1 ||
      info.partitionIds[0] !== defaultPartition.id ||
      defaultPartition.collectionId !== info.id
    ) {
      throw new TidalError(ErrorCode.Internal, 'a new collection must be live and list exactly its default partition');
    }
    const coll = deepFreeze(CollectionInfo.fromPartial(info));
    const part = deepFreeze(PartitionInfo.fromPartial(defaultPartition));
    return new MetaChange(
      `create collection ${q(info.name)}`,
      info.id,
      0,
      [
        { key: collectionNameKey(info.name), target: 'createRevision', op: '==', revision: 0 },
        { key: collectionKey(info.id), target: 'createRevision', op: '==', revision: 0 },
      ],
      [
        { type: 'put', key: collectionKey(info.id), value: encodeCollection(coll) },
        { type: 'put', key: collectionNameKey(info.name), value: info.id.toString() },
        { type: 'put', key: partitionKey(info.id, part.id), value: encodePartition(part) },
      ],
      (revision) => {
        this.view.collections.set(coll.id, { info: coll, modRevision: revision, partitions: new Map([[part.id, part]]) });
        this.view.liveByName.set(coll.name, coll.id);
        this.addNameHistory(this.view, coll.name, coll.id);
      },
      check,
    );
  }

  /** Plans dropping the live collection `id` at `dropTs` (a tombstone; the name is freed). Throws NOT_FOUND. */
  planDropCollection(id: bigint, dropTs: bigint): MetaChange {
    const entry = this.liveEntry(id);
    const check = () => void this.liveEntry(id);
    const coll = deepFreeze(CollectionInfo.fromPartial({ ...entry.info, state: CollectionState.CollectionDropped, dropTs }));
    return new MetaChange(
      `drop collection ${q(entry.info.name)}`,
      id,
      entry.modRevision,
      [{ key: collectionKey(id), target: 'modRevision', op: '==', revision: entry.modRevision }],
      [
        { type: 'put', key: collectionKey(id), value: encodeCollection(coll) },
        { type: 'delete', key: collectionNameKey(coll.name) },
      ],
      (revision) => {
        const e = this.view.collections.get(id);
        if (e === undefined) return;
        e.info = coll;
        e.modRevision = revision;
        if (this.view.liveByName.get(coll.name) === id) this.view.liveByName.delete(coll.name);
      },
      check,
    );
  }

  /**
   * Plans adding `partition` (state Created) to its live collection. Throws NOT_FOUND,
   * ALREADY_EXISTS (`partition "p" already exists in collection "books"`) or RESOURCE_EXHAUSTED
   * when the collection already has `maxPartitions` partitions.
   */
  planCreatePartition(partition: PartitionInfo, maxPartitions = DEFAULT_MAX_PARTITIONS): MetaChange {
    const collectionId = partition.collectionId;
    const check = () => {
      const e = this.liveEntry(collectionId);
      if (this.partitionByName(collectionId, partition.name) !== undefined) {
        throw errors.alreadyExists(`partition ${q(partition.name)} already exists in collection ${q(e.info.name)}`, {
          collection: e.info.name,
          partition: partition.name,
        });
      }
      if (e.info.partitionIds.length >= maxPartitions) {
        throw new TidalError(
          ErrorCode.ResourceExhausted,
          `collection ${q(e.info.name)} already has ${e.info.partitionIds.length} partitions; the limit is ${maxPartitions}: drop one first`,
          { context: { collection: e.info.name, limit: maxPartitions } },
        );
      }
      if (e.partitions.has(partition.id)) throw new TidalError(ErrorCode.Internal, `partition id ${partition.id} is already in use`);
    };
    check();
    const entry = this.liveEntry(collectionId);
    const part = deepFreeze(PartitionInfo.fromPartial({ ...partition, state: PartitionState.PartitionCreated, dropTs: 0n }));
    const coll = deepFreeze(CollectionInfo.fromPartial({ ...entry.info, partitionIds: [...entry.info.partitionIds, part.id] }));
    return new MetaChange(
      `create partition ${q(part.name)} of collection ${q(coll.name)}`,
      collectionId,
      entry.modRevision,
      [
        { key: collectionKey(collectionId), target: 'modRevision', op: '==', revision: entry.modRevision },
        { key: partitionKey(collectionId, part.id), target: 'createRevision', op: '==', revision: 0 },
      ],
      [
        { type: 'put', key: collectionKey(collectionId), value: encodeCollection(coll) },
        { type: 'put', key: partitionKey(collectionId, part.id), value: encodePartition(part) },
      ],
      (revision) => {
        const e = this.view.collections.get(collectionId);
        if (e === undefined) return;
        e.info = coll;
        e.modRevision = revision;
        e.partitions.set(part.id, part);
      },
      check,
    );
  }

  /**
   * Plans dropping partition `name` of the live collection at `dropTs` (a tombstone). Throws
   * NOT_FOUND, or INVALID_ARGUMENT for the default partition.
   */
  planDropPartition(collectionId: bigint, name: string, dropTs: bigint): MetaChange {
    const check = () => {
      const e = this.liveEntry(collectionId);
      if (name === DEFAULT_PARTITION_NAME) {
        throw errors.invalidArgument(`the default partition ${q(DEFAULT_PARTITION_NAME)} of collection ${q(e.info.name)} cannot be dropped`);
      }
      return this.getPartition(e.info, name);
    };
    const existing = check();
    const entry = this.liveEntry(collectionId);
    const part = deepFreeze(PartitionInfo.fromPartial({ ...existing, state: PartitionState.PartitionDropped, dropTs }));
    const coll = deepFreeze(
      CollectionInfo.fromPartial({ ...entry.info, partitionIds: entry.info.partitionIds.filter((id) => id !== part.id) }),
    );
    return new MetaChange(
      `drop partition ${q(name)} of collection ${q(coll.name)}`,
      collectionId,
      entry.modRevision,
      [{ key: collectionKey(collectionId), target: 'modRevision', op: '==', revision: entry.modRevision }],
      [
        { type: 'put', key: collectionKey(collectionId), value: encodeCollection(coll) },
        { type: 'put', key: partitionKey(collectionId, part.id), value: encodePartition(part) },
      ],
      (revision) => {
        const e = this.view.collections.get(collectionId);
        if (e === undefined) return;
        e.info = coll;
        e.modRevision = revision;
        e.partitions.set(part.id, part);
      },
      () => void check(),
    );
  }

  /**
   * Plans declaring `index` on a field of the live collection. Throws NOT_FOUND, INVALID_ARGUMENT
   * for an unknown field id, ALREADY_EXISTS when the name is taken or the field already has an index.
   */
  planCreateIndex(collectionId: bigint, index: IndexInfo): MetaChange {
    const check = () => {
      const e = this.liveEntry(collectionId);
      const field = e.info.schema?.fields.find((f) => f.fieldId === index.fieldId);
      if (field === undefined) throw errors.invalidArgument(`collection ${q(e.info.name)} has no field with id ${index.fieldId}`);
      const sameName = e.info.indexes.find((i) => i.indexName === index.indexName);
      if (sameName !== undefined) {
        throw errors.alreadyExists(`index ${q(index.indexName)} already exists in collection ${q(e.info.name)}`, {
          collection: e.info.name,
          index: index.indexName,
        });
      }
      const onField = e.info.indexes.find((i) => i.fieldId === index.fieldId);
      if (onField !== undefined) {
        throw errors.alreadyExists(`field ${q(field.name)} of collection ${q(e.info.name)} already has index ${q(onField.indexName)}`, {
          collection: e.info.name,
          field: field.name,
        });
      }
    };
    check();
    const entry = this.liveEntry(collectionId);
    const coll = deepFreeze(CollectionInfo.fromPartial({ ...entry.info, indexes: [...entry.info.indexes, index] }));
    return new MetaChange(
      `create index ${q(index.indexName)} on collection ${q(coll.name)}`,
      collectionId,
      entry.modRevision,
      [{ key: collectionKey(collectionId), target: 'modRevision', op: '==', revision: entry.modRevision }],
      [{ type: 'put', key: collectionKey(collectionId), value: encodeCollection(coll) }],
      (revision) => {
        const e = this.view.collections.get(collectionId);
        if (e === undefined) return;
        e.info = coll;
        e.modRevision = revision;
      },
      check,
    );
  }

  // ---- commit -----------------------------------------------------------------------------------

  /**
   * Checks, without writing, that `change` would commit now (the guard and its compares hold in the
   * KV). Throws like {@link commit}. The DDL scheduler calls it before publishing, so a change that
   * cannot commit publishes nothing.
   */
  check(change: MetaChange): Promise<void> {
    return this.serial(async () => {
      this.checkBase(change);
      const res = await this.kv.txn({ compare: [...this.guard(), ...change.compares], success: [] });
      if (!res.succeeded) await this.rejected(change);
    });
  }

  /**
   * Commits `change` as one transaction, then updates the memory view. Throws the domain error the
   * KV now shows (ALREADY_EXISTS, NOT_FOUND, ...) or FAILED_PRECONDITION when a compare failed (this
   * master lost its guard, or another master changed the collection); nothing is written then.
   */
  commit(change: MetaChange): Promise<void> {
    return this.serial(async () => {
      this.checkBase(change);
      let res: TxnResult;
      try {
        res = await this.kv.txn({ compare: [...this.guard(), ...change.compares], success: [...change.ops] });
      } catch (err) {
        // The KV failed mid-request: the transaction may have been applied all the same.
        if (await this.landed(change)) return;
        throw err;
      }
      if (!res.succeeded) {
        // An earlier attempt whose answer was lost may have written exactly this change.
        if (await this.landed(change)) return;
        await this.rejected(change);
      }
      change.apply(res.revision);
      this.log.debug({ change: change.description, revision: res.revision }, 'meta change committed');
    });
  }

  /**
   * Deletes the tombstones of collections dropped before `beforeTs` (with their partitions) and of
   * partitions dropped before it, one transaction per collection. Returns how many collections and
   * partitions were purged.
   */
  purgeDropped(beforeTs: bigint): Promise<{ collections: number; partitions: number }> {
    return this.serial(async () => {
      let collections = 0;
      let partitions = 0;
      for (const [id, entry] of [...this.view.collections]) {
        const info = entry.info;
        const compare: Compare[] = [...this.guard(), { key: collectionKey(id), target: 'modRevision', op: '==', revision: entry.modRevision }];
        if (info.state !== CollectionState.CollectionCreated) {
          if (info.dropTs === 0n || info.dropTs >= beforeTs) continue;
          const res = await this.kv.txn({
            compare,
            success: [
              { type: 'delete', key: collectionKey(id) },
              { type: 'deletePrefix', prefix: partitionPrefix(id) },
            ],
          });
          if (!res.succeeded) throw this.guardError(`purge collection ${id}`);
          this.view.collections.delete(id);
          const ids = (this.view.nameHistory.get(info.name) ?? []).filter((x) => x !== id);
          if (ids.length === 0) this.view.nameHistory.delete(info.name);
          else this.view.nameHistory.set(info.name, ids);
          collections += 1;
          partitions += entry.partitions.size;
          continue;
        }
        const dead = [...entry.partitions.values()].filter((p) => p.state !== PartitionState.PartitionCreated && p.dropTs !== 0n && p.dropTs < beforeTs);
        if (dead.length === 0) continue;
        const res = await this.kv.txn({ compare, success: dead.map((p) => ({ type: 'delete' as const, key: partitionKey(id, p.id) })) });
        if (!res.succeeded) throw this.guardError(`purge partitions of collection ${id}`);
        for (const p of dead) entry.partitions.delete(p.id);
        partitions += dead.length;
      }
      return { collections, partitions };
    });
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Runs write work one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeTail.then(fn);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  /** The entry of live collection `id`; throws NOT_FOUND (`collection 7 not found`, or `... was dropped`). */
  private liveEntry(id: bigint): CollectionEntry {
    const entry = this.view.collections.get(id);
    if (entry !== undefined && entry.info.state === CollectionState.CollectionCreated) return entry;
    this.getCollection({ id }); // throws the NOT_FOUND that names the collection
    throw new TidalError(ErrorCode.Internal, `collection ${id} is not live but was found`);
  }

  /** A plan made on an older view than the current one is stale: refuse it before asking the KV. */
  private checkBase(change: MetaChange): void {
    if (change.baseRevision === 0) return;
    const entry = this.view.collections.get(change.collectionId);
    if (entry?.modRevision !== change.baseRevision) {
      change.recheck();
      throw errors.failedPrecondition(`cannot ${change.description}: the collection changed after the change was planned; plan it again`);
    }
  }

  /**
   * True (and the view reloaded) when the KV already holds this change's first write, the
   * collection record, byte for byte: its value carries the change's unique ids and timestamps, so
   * only this change (or a retry of it) can have written it.
   */
  private async landed(change: MetaChange): Promise<boolean> {
    const first = change.ops[0];
    if (first?.type !== 'put') return false;
    let stored: KeyValue | undefined;
    try {
      stored = await this.kv.get(first.key);
    } catch {
      // Still unreachable: the outcome stays unknown and the caller gets the original error.
      return false;
    }
    if (stored === undefined || !stored.value.equals(Buffer.from(first.value))) return false;
    this.view = await this.readView();
    this.log.info({ change: change.description }, 'meta change found committed after an unclear answer');
    return true;
  }

  /** After a rejected transaction: reload, report the domain error now visible, else FAILED_PRECONDITION. */
  private async rejected(change: MetaChange): Promise<never> {
    this.view = await this.readView();
    change.recheck();
    throw this.guardError(change.description);
  }

  private guardError(what: string): TidalError {
    return errors.failedPrecondition(
      `cannot ${what}: the transaction was rejected (this master no longer serves, or another master changed the collection); retry`,
    );
  }

  private addNameHistory(view: View, name: string, id: bigint): void {
    const ids = view.nameHistory.get(name);
    if (ids === undefined) view.nameHistory.set(name, [id]);
    else if (!ids.includes(id)) ids.push(id);
  }

  private async rangeAll(prefix: string): Promise<KeyValue[]> {
    const out: KeyValue[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.kv.range(prefix, { limit: LOAD_PAGE, startAfter });
      out.push(...page.kvs);
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return out;
      startAfter = last.key;
    }
  }

  /** Reads every meta record into a fresh view and checks that the records agree. */
  private async readView(): Promise<View> {
    const view = emptyView();
    const corrupted = (key: string, why: string, cause?: unknown) => errors.corrupted(`meta table: ${key}: ${why}`, cause, { key });
    for (const kv of await this.rangeAll(COLLECTION_PREFIX)) {
      let info: CollectionInfo;
      try {
        info = CollectionInfo.decode(kv.value);
      } catch (err) {
        throw corrupted(kv.key, 'value is not a meta.CollectionInfo', err);
      }
      if (collectionKey(info.id) !== kv.key) throw corrupted(kv.key, `holds collection id ${info.id}`);
      view.collections.set(info.id, { info: deepFreeze(info), modRevision: kv.modRevision, partitions: new Map() });
      this.addNameHistory(view, info.name, info.id);
    }
    for (const kv of await this.rangeAll(PARTITION_PREFIX)) {
      let p: PartitionInfo;
      try {
        p = PartitionInfo.decode(kv.value);
      } catch (err) {
        throw corrupted(kv.key, 'value is not a meta.PartitionInfo', err);
      }
      if (partitionKey(p.collectionId, p.id) !== kv.key) throw corrupted(kv.key, `holds partition ${p.id} of collection ${p.collectionId}`);
      const entry = view.collections.get(p.collectionId);
      if (entry === undefined) throw corrupted(kv.key, `partition of collection ${p.collectionId}, which has no record`);
      entry.partitions.set(p.id, deepFreeze(p));
    }
    for (const kv of await this.rangeAll(COLLECTION_NAME_PREFIX)) {
      const name = kv.key.slice(COLLECTION_NAME_PREFIX.length);
      const text = kv.value.toString('utf8');
      const info = /^\d+$/.test(text) ? view.collections.get(BigInt(text))?.info : undefined;
      if (info === undefined || info.name !== name || info.state !== CollectionState.CollectionCreated) {
        throw corrupted(kv.key, `names collection ${q(text)}, which is not a live collection of that name`);
      }
      view.liveByName.set(name, info.id);
    }
    for (const { info, partitions } of view.collections.values()) {
      if (info.state !== CollectionState.CollectionCreated) continue;
      const key = collectionKey(info.id);
      if (view.liveByName.get(info.name) !== info.id) throw corrupted(key, `live collection ${q(info.name)} has no name key`);
      const live = [...partitions.values()].filter((p) => p.state === PartitionState.PartitionCreated).map((p) => p.id);
      const listed = new Set(info.partitionIds);
      if (live.length !== listed.size || live.some((id) => !listed.has(id)) || listed.size !== info.partitionIds.length) {
        throw corrupted(key, `partition_ids [${info.partitionIds.join(', ')}] do not match the live partition records [${live.join(', ')}]`);
      }
    }
    return view;
  }
}
