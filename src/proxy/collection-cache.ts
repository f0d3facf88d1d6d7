/**
 * The proxy's cache of collection metadata: schema, vchannels and their pchannels (from
 * DescribeCollection) and partitions (from ShowPartitions), by collection name. Concurrent misses
 * for one name share one load. An entry is dropped by {@link CollectionCache.invalidate} — the
 * client does so on a DDL about the collection (DD channel) and when the master answers NOT_FOUND
 * for a cached collection — and a partition name not in the entry reloads the partitions once
 * before it is reported unknown.
 *
 * A drop is published on the DD channel just before the master commits it, so a load right after
 * the drop message may still see the dropped collection: ids marked with
 * {@link CollectionCache.markDropped} are described again (every `droppedRetryMs`, up to
 * `droppedWaitMs`) until the master stops answering them.
 */
import { primaryKeyField } from '../common/arrow/index.js';
import { errors, ErrorCode, TidalError } from '../common/errors.js';
import { MsgType } from '../gen/common.js';
import type { CollectionSchema, FieldSchema } from '../gen/schema.js';
import type { MasterRpc } from './master-rpc.js';

/** Name of the partition every collection has. */
export const DEFAULT_PARTITION = '_default';

/** What the proxy knows of one collection. */
export interface CollectionMeta {
  id: bigint;
  name: string;
  schema: CollectionSchema;
  /** The primary key field and its index in `schema.fields`. */
  pkField: FieldSchema;
  pkIndex: number;
  /** Vchannels in shard order, and the pchannel of each. */
  vchannels: readonly string[];
  pchannels: readonly string[];
  /** Partition ids by name. */
  partitions: ReadonlyMap<string, bigint>;
}

const q = (s: string) => JSON.stringify(s);

/** Collection metadata by name, loaded from the master on first use. */
export class CollectionCache {
  private readonly entries = new Map<string, Promise<CollectionMeta>>();
  private readonly dropped = new Set<bigint>();

  constructor(
    private readonly master: MasterRpc,
    private readonly options: { droppedRetryMs?: number; droppedWaitMs?: number } = {},
  ) {}

  /** Records that collection `id` was dropped (a DDL message said so). */
  markDropped(id: bigint): void {
    this.dropped.add(id);
  }

  /** The collection `name`. Throws NOT_FOUND (`collection "x" not found`) or the master's error. */
  get(name: string): Promise<CollectionMeta> {
    let entry = this.entries.get(name);
    if (entry === undefined) {
      entry = this.load(name);
      this.entries.set(name, entry);
      // A failed load is not cached: the next call asks again.
      entry.catch(() => {
        if (this.entries.get(name) === entry) this.entries.delete(name);
      });
    }
    return entry;
  }

  /** Whether `name` is cached (loaded or loading). */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Drops the entry of `name` (every entry when no name is given). */
  invalidate(name?: string): void {
    if (name === undefined) this.entries.clear();
    else this.entries.delete(name);
  }

  /**
   * The id of partition `partition` of `meta` (the default partition when undefined). A name not
   * in the cache reloads the partitions once. Throws NOT_FOUND naming the partitions there are.
   */
  async partitionId(meta: CollectionMeta, partition: string | undefined): Promise<{ meta: CollectionMeta; partitionId: bigint; partitionName: string }> {
    const name = partition ?? DEFAULT_PARTITION;
    const id = meta.partitions.get(name);
    if (id !== undefined) return { meta, partitionId: id, partitionName: name };
    const partitions = await this.loadPartitions(meta.id);
    // Not written back: a partition created later also invalidates the entry (DD channel).
    const fresh: CollectionMeta = { ...meta, partitions };
    const found = partitions.get(name);
    if (found === undefined) {
      throw errors.notFound(`partition ${q(name)} not found in collection ${q(meta.name)}; its partitions: [${[...partitions.keys()].join(', ')}]`, {
        collection: meta.name,
        partition: name,
      });
    }
    return { meta: fresh, partitionId: found, partitionName: name };
  }

  private async load(name: string): Promise<CollectionMeta> {
    if (typeof name !== 'string' || name === '') throw errors.invalidArgument('collection name must be a non-empty string');
    const describe = () => this.master.call('describeCollection', { base: { msgType: MsgType.DescribeCollection }, collectionName: name });
    let res = await describe();
    const deadline = Date.now() + (this.options.droppedWaitMs ?? 2_000);
    while (this.dropped.has(res.collectionId) && Date.now() < deadline) {
      // The drop is published but not committed yet: ask again (NOT_FOUND once it is).
      await new Promise((r) => setTimeout(r, this.options.droppedRetryMs ?? 20));
      res = await describe();
    }
    // Still there: the drop did not take effect (the master's answer wins).
    this.dropped.delete(res.collectionId);
    const schema = res.schema;
    if (schema === undefined || res.vchannels.length === 0 || res.vchannels.length !== res.pchannels.length) {
      throw new TidalError(ErrorCode.Internal, `DescribeCollection of ${q(name)} answered no schema or mismatched channels`, { context: { collection: name } });
    }
    const pkField = primaryKeyField(schema);
    return {
      id: res.collectionId,
      name: res.collectionName,
      schema,
      pkField,
      pkIndex: schema.fields.indexOf(pkField),
      vchannels: res.vchannels,
      pchannels: res.pchannels,
      partitions: await this.loadPartitions(res.collectionId),
    };
  }

  private async loadPartitions(collectionId: bigint): Promise<Map<string, bigint>> {
    const res = await this.master.call('showPartitions', { base: { msgType: MsgType.ShowPartitions }, collectionId });
    return new Map(res.partitionNames.map((n, i) => [n, res.partitionIds[i]!]));
  }
}
