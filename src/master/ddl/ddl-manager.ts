/**
 * DdlManager: the DDL entry points the master's gRPC service calls (CreateCollection,
 * DropCollection, CreatePartition, DropPartition, CreateIndex). Each request is checked for what
 * can be checked without the meta table, then becomes a task of the {@link DdlScheduler}, which
 * runs tasks one at a time in timestamp order.
 *
 * A task runs in this order, so that a task that fails leaves the meta table unchanged and, unless
 * a backend fails midway, publishes nothing:
 *
 *   1. plan: check the request against the meta table (NOT_FOUND, ALREADY_EXISTS, limits) and
 *      compute the one transaction that will record it;
 *   2. check: ask the KV whether that transaction would commit now (the serving master's guard and
 *      the plan's compares), writing nothing;
 *   3. publish: the DDL message on the DD channel, then on the collection's DML pchannels (one per
 *      vchannel), stamped with the task's timestamp; a CreateCollection takes each vchannel's
 *      start position from here;
 *   4. commit: the transaction (retried while the KV is briefly unreachable; a retry first checks
 *      whether the earlier attempt landed).
 *
 * Publishing before committing is the choice that keeps "failed means unchanged": if publishing
 * fails, nothing is committed and the task fails. The price is the window between 3 and 4: if the
 * commit fails after publishing (etcd down for the whole retry budget, or this master deposed), the
 * DDL is on the channels but not in the meta table. The meta table is the authority: consumers
 * treat a DDL message as a notice to act on what the master confirms (a DataNode only consumes the
 * vchannels it is told to watch; a CreateCollection nobody confirms names a fresh id nobody
 * watches; a DropCollection or DropPartition makes a DataNode flush, and segments become Dropped
 * only through the master, which checks the meta table). Consumers therefore tolerate a DDL for an
 * unknown collection, a drop of a collection the meta table still holds, and duplicates. A DDL
 * whose commit failed for a KV outage may also have landed after all: a later retry or a restarted
 * master finds the record (the commit checks whether an unclear attempt landed). The alternative (commit, then publish, with a
 * marker so a restarted master re-publishes, as Milvus does) would leave meta changed when
 * publishing fails, and cannot record CreateCollection's start positions in the same transaction.
 */
import { errors } from '../../common/errors.js';
import { retry } from '../../common/retry.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { KeyValuePair } from '../../gen/common.js';
import { CollectionState, PartitionState, type CollectionInfo, type IndexInfo, type PartitionInfo } from '../../gen/meta.js';
import type { CollectionSchema } from '../../gen/schema.js';
import type { MsgStream } from '../../mq/msg-stream.js';
import { ddChannelName, dmlChannelNames } from '../channels/channel-names.js';
import { assignShards } from '../channels/shard-assignment.js';
import { DEFAULT_MAX_PARTITIONS, DEFAULT_PARTITION_NAME, type MetaChange, type MetaTable } from '../meta/meta-table.js';
import { dataTypeName, isVectorType, validateCollectionSchema, validateKeyValues, validateName } from '../meta/schema-validation.js';
import { DdlPublisher, ddlBase, type DdlBody } from './ddl-publisher.js';
import { DdlScheduler, type DdlType, type TimestampSource, type TsLockLike } from './ddl-scheduler.js';

/** Where ids come from: the global ID allocator (`IdAllocator.alloc`) or anything with its shape. */
export interface IdSource {
  alloc(count: number): Promise<{ first: bigint; count: number }>;
}

/** The DDL settings (the `master.*` config slice has the first three). */
export interface DdlConfig {
  /** Prefix of the channels: `{prefix}-dd`, `{prefix}-dml_{i}`. */
  channelPrefix: string;
  /** Number of DML pchannels. */
  dmlChannelNum: number;
  /** Shards of a collection created without shardsNum. */
  defaultShardsNum: number;
  /** Most shards a collection may have. Default 64. */
  maxShardsNum?: number;
  /** Most partitions a collection may have, the default one included. Default 4096. */
  maxPartitions?: number;
}

/** Options of {@link DdlManager}. */
export interface DdlManagerOptions {
  meta: MetaTable;
  stream: MsgStream;
  tso: TimestampSource;
  ids: IdSource;
  config: DdlConfig;
  /** Shared with the time-tick producer (see DdlSchedulerOptions.tsLock). */
  tsLock?: TsLockLike;
  /** This master's server id (MsgBase.source_id of the DDL messages). Default 0. */
  sourceId?: bigint;
  logger?: Logger;
  /** Attempts after the first when the commit meets a retriable KV error. Default 5. */
  commitRetries?: number;
}

/** CreateCollection input (the generated master.CreateCollectionRequest fits). */
export interface CreateCollectionInput {
  collectionName: string;
  schema?: CollectionSchema | undefined;
  /** 0 or absent: the configured default. */
  shardsNum?: number;
  properties?: readonly KeyValuePair[];
}

/** DropCollection input. */
export interface DropCollectionInput {
  collectionName: string;
}

/** CreatePartition / DropPartition input. */
export interface PartitionInput {
  collectionName: string;
  partitionName: string;
}

/** CreateIndex input (the generated master.CreateIndexRequest fits). */
export interface CreateIndexInput {
  collectionName: string;
  fieldName: string;
  /** Empty or absent: the field name. */
  indexName?: string;
  extraParams?: readonly KeyValuePair[];
}

const q = (s: string) => JSON.stringify(s);
const DEFAULT_MAX_SHARDS = 64;

/** Runs DDL requests as scheduled tasks. `start()` before use; methods throw TidalError. */
export class DdlManager {
  /** The scheduler: its pendingMinTs() and `pending` event bound the time-tick producer. */
  readonly scheduler: DdlScheduler;
  /** The DD channel name. */
  readonly ddChannel: string;
  /** The DML pchannel names, in index order. */
  readonly dmlChannels: readonly string[];
  private readonly meta: MetaTable;
  private readonly stream: MsgStream;
  private readonly ids: IdSource;
  private readonly publisher: DdlPublisher;
  private readonly sourceId: bigint;
  private readonly defaultShardsNum: number;
  private readonly maxShardsNum: number;
  private readonly maxPartitions: number;
  private readonly commitRetries: number;
  private readonly log: Logger;

  constructor(options: DdlManagerOptions) {
    const { config } = options;
    this.meta = options.meta;
    this.stream = options.stream;
    this.ids = options.ids;
    this.sourceId = options.sourceId ?? 0n;
    this.log = (options.logger ?? silentLogger).child({ component: 'ddl' });
    this.ddChannel = ddChannelName(config.channelPrefix);
    this.dmlChannels = dmlChannelNames(config.channelPrefix, config.dmlChannelNum);
    this.maxShardsNum = config.maxShardsNum ?? DEFAULT_MAX_SHARDS;
    this.defaultShardsNum = config.defaultShardsNum;
    this.maxPartitions = config.maxPartitions ?? DEFAULT_MAX_PARTITIONS;
    this.commitRetries = options.commitRetries ?? 5;
    this.scheduler = new DdlScheduler({ tso: options.tso, tsLock: options.tsLock, logger: options.logger });
    this.publisher = new DdlPublisher({ stream: options.stream, ddChannel: this.ddChannel });
  }

  /** Creates the DD channel and the DML pchannels where missing (idempotent). */
  async start(): Promise<void> {
    await this.stream.createChannel(this.ddChannel);
    for (const channel of this.dmlChannels) await this.stream.createChannel(channel);
  }

  /** Rejects queued DDL with CLOSED and waits for the running one. Safe to call twice. */
  close(): Promise<void> {
    return this.scheduler.close();
  }

  /** The smallest timestamp a DDL message may still be published with (see DdlScheduler). */
  pendingMinTs(): bigint | undefined {
    return this.scheduler.pendingMinTs();
  }

  /**
   * Creates a collection with its `_default` partition and `shardsNum` vchannels spread over the
   * DML pchannels; records each vchannel's start position (the position of its CreateCollection
   * message). Returns the stored record. Throws INVALID_ARGUMENT (name, schema, shardsNum),
   * ALREADY_EXISTS, or a backend's error (then nothing is committed).
   */
  async createCollection(input: CreateCollectionInput): Promise<CollectionInfo> {
    const schema = validateCollectionSchema(input.collectionName, input.schema);
    const name = input.collectionName;
    const shardsNum = this.shardsNumOf(input.shardsNum);
    const properties = [...(input.properties ?? [])].map((p) => ({ key: p.key, value: p.value }));
    validateKeyValues('properties', properties);
    return this.run('CreateCollection', async (ts) => {
      if (this.meta.hasCollection(name)) throw errors.alreadyExists(`collection ${q(name)} already exists`, { collection: name });
      const { first } = await this.ids.alloc(2);
      const collectionId = first;
      const partitionId = first + 1n;
      const shards = assignShards(collectionId, shardsNum, this.dmlChannels, this.meta.pchannelUsage());
      const info = (startPositions: CollectionInfo['startPositions']): CollectionInfo => ({
        id: collectionId,
        name,
        schema,
        shardsNum,
        vchannels: shards.map((s) => s.vchannel),
        pchannels: shards.map((s) => s.pchannel),
        startPositions,
        createTs: ts,
        properties,
        state: CollectionState.CollectionCreated,
        dropTs: 0n,
        partitionIds: [partitionId],
        indexes: [],
      });
      const partition: PartitionInfo = {
        id: partitionId,
        name: DEFAULT_PARTITION_NAME,
        collectionId,
        createTs: ts,
        state: PartitionState.PartitionCreated,
        dropTs: 0n,
      };
      const draft = this.meta.planCreateCollection(info([]), partition);
      await this.meta.check(draft);
      const body: DdlBody = {
        $case: 'createCollection',
        value: {
          base: ddlBase('createCollection', ts, this.sourceId),
          collectionId,
          collectionName: name,
          schema,
          vchannels: shards.map((s) => s.vchannel),
          pchannels: shards.map((s) => s.pchannel),
          partitionIds: [partitionId],
          partitionNames: [DEFAULT_PARTITION_NAME],
        },
      };
      const published = await this.publisher.publish(draft.description, body, collectionId, info([]).vchannels, ts);
      const starts = published.vchannels.map((p) => ({ channelName: p.channel, msgId: p.msgId, timestamp: p.timestamp }));
      await this.commit(this.meta.planCreateCollection(info(starts), partition));
      return this.meta.getCollection({ id: collectionId });
    });
  }

  /** Drops a collection (a tombstone at the task's timestamp; the name is free again). Returns the tombstone. Throws NOT_FOUND. */
  async dropCollection(input: DropCollectionInput): Promise<CollectionInfo> {
    validateName('collection', input.collectionName);
    return this.run('DropCollection', async (ts) => {
      const coll = this.meta.getCollection({ name: input.collectionName });
      const change = this.meta.planDropCollection(coll.id, ts);
      const body: DdlBody = {
        $case: 'dropCollection',
        value: { base: ddlBase('dropCollection', ts, this.sourceId), collectionId: coll.id, collectionName: coll.name },
      };
      await this.checkPublishCommit(change, body, coll);
      return this.meta.collectionRecord(coll.id) as CollectionInfo;
    });
  }

  /** Creates a partition. Throws NOT_FOUND (collection), ALREADY_EXISTS, RESOURCE_EXHAUSTED (partition limit). */
  async createPartition(input: PartitionInput): Promise<PartitionInfo> {
    validateName('collection', input.collectionName);
    validateName('partition', input.partitionName);
    return this.run('CreatePartition', async (ts) => {
      const coll = this.meta.getCollection({ name: input.collectionName });
      if (this.meta.partitionByName(coll.id, input.partitionName) !== undefined) {
        throw errors.alreadyExists(`partition ${q(input.partitionName)} already exists in collection ${q(coll.name)}`, {
          collection: coll.name,
          partition: input.partitionName,
        });
      }
      const { first: partitionId } = await this.ids.alloc(1);
      const change = this.meta.planCreatePartition(
        { id: partitionId, name: input.partitionName, collectionId: coll.id, createTs: ts, state: PartitionState.PartitionCreated, dropTs: 0n },
        this.maxPartitions,
      );
      const body: DdlBody = {
        $case: 'createPartition',
        value: {
          base: ddlBase('createPartition', ts, this.sourceId),
          collectionId: coll.id,
          partitionId,
          collectionName: coll.name,
          partitionName: input.partitionName,
        },
      };
      await this.checkPublishCommit(change, body, coll);
      return this.meta.partitionById(coll.id, partitionId) as PartitionInfo;
    });
  }

  /** Drops a partition (a tombstone). Throws NOT_FOUND, or INVALID_ARGUMENT for `_default`. */
  async dropPartition(input: PartitionInput): Promise<PartitionInfo> {
    validateName('collection', input.collectionName);
    validateName('partition', input.partitionName);
    return this.run('DropPartition', async (ts) => {
      const coll = this.meta.getCollection({ name: input.collectionName });
      const change = this.meta.planDropPartition(coll.id, input.partitionName, ts);
      const partition = this.meta.getPartition(coll, input.partitionName);
      const body: DdlBody = {
        $case: 'dropPartition',
        value: {
          base: ddlBase('dropPartition', ts, this.sourceId),
          collectionId: coll.id,
          partitionId: partition.id,
          collectionName: coll.name,
          partitionName: partition.name,
        },
      };
      await this.checkPublishCommit(change, body, coll);
      return this.meta.allPartitions(coll.id).find((p) => p.id === partition.id) as PartitionInfo;
    });
  }

  /**
   * Declares an index on a vector field, recording its params in the collection's record. Asking
   * again for the same index (same name, field and params) returns it without a new DDL. Throws
   * NOT_FOUND (collection, field), INVALID_ARGUMENT (not a vector field, bad names or params),
   * ALREADY_EXISTS (the name is taken, or the field has another index).
   */
  async createIndex(input: CreateIndexInput): Promise<IndexInfo> {
    validateName('collection', input.collectionName);
    validateName('field', input.fieldName);
    const indexName = input.indexName === undefined || input.indexName === '' ? input.fieldName : input.indexName;
    validateName('index', indexName);
    const params = [...(input.extraParams ?? [])].map((p) => ({ key: p.key, value: p.value }));
    validateKeyValues('index params', params);
    return this.run('CreateIndex', async (ts) => {
      const coll = this.meta.getCollection({ name: input.collectionName });
      const field = coll.schema?.fields.find((f) => f.name === input.fieldName);
      if (field === undefined) {
        throw errors.notFound(`field ${q(input.fieldName)} not found in collection ${q(coll.name)}`, { collection: coll.name, field: input.fieldName });
      }
      if (!isVectorType(field.dataType)) {
        throw errors.invalidArgument(
          `field ${q(field.name)} is ${dataTypeName(field.dataType)}: indexes can only be created on vector fields (FloatVector)`,
          { collection: coll.name, field: field.name },
        );
      }
      const existing = coll.indexes.find((i) => i.fieldId === field.fieldId && i.indexName === indexName);
      if (existing !== undefined && sameParams(existing.params, params)) return existing;
      const { first: indexId } = await this.ids.alloc(1);
      const index: IndexInfo = { indexId, indexName, fieldId: field.fieldId, params, createTs: ts };
      const change = this.meta.planCreateIndex(coll.id, index);
      const body: DdlBody = {
        $case: 'createIndex',
        value: {
          base: ddlBase('createIndex', ts, this.sourceId),
          collectionId: coll.id,
          collectionName: coll.name,
          fieldId: field.fieldId,
          fieldName: field.name,
          indexId,
          indexName,
          indexParams: params,
        },
      };
      await this.checkPublishCommit(change, body, coll);
      return this.meta.getCollection({ id: coll.id }).indexes.find((i) => i.indexId === indexId) as IndexInfo;
    });
  }

  // ---- internals --------------------------------------------------------------------------------

  private run<R>(type: DdlType, execute: (ts: bigint) => Promise<R>): Promise<R> {
    return this.scheduler.run(type, execute);
  }

  private shardsNumOf(given: number | undefined): number {
    if (given === undefined || given === 0) return this.defaultShardsNum;
    if (!Number.isInteger(given) || given < 1 || given > this.maxShardsNum) {
      throw errors.invalidArgument(`shardsNum must be an integer from 1 to ${this.maxShardsNum} (0: the default, ${this.defaultShardsNum}), got ${given}`);
    }
    return given;
  }

  private async checkPublishCommit(change: MetaChange, body: DdlBody, coll: CollectionInfo): Promise<void> {
    await this.meta.check(change);
    const ts = body.value.base?.timestamp ?? 0n;
    await this.publisher.publish(change.description, body, coll.id, coll.vchannels, ts);
    await this.commit(change);
  }

  private async commit(change: MetaChange): Promise<void> {
    try {
      await retry(() => this.meta.commit(change), {
        retries: this.commitRetries,
        onRetry: (err, attempt) => this.log.warn({ err, attempt, change: change.description }, 'ddl commit failed; retrying'),
      });
    } catch (err) {
      // The DDL is on the channels but not in the meta table; consumers defer to the meta table.
      this.log.error({ err, change: change.description }, 'ddl published but not committed');
      throw err;
    }
  }
}

function sameParams(a: readonly KeyValuePair[], b: readonly KeyValuePair[]): boolean {
  if (a.length !== b.length) return false;
  const m = new Map(a.map((p) => [p.key, p.value]));
  return b.every((p) => m.get(p.key) === p.value);
}
