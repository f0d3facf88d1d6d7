import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../../src/common/errors.js';
import { CollectionInfo, CollectionState, IndexInfo, PartitionInfo } from '../../../../src/gen/meta.js';
import { CollectionSchema, DataType, FieldSchema } from '../../../../src/gen/schema.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import type { Compare, MetaKV, TxnRequest, TxnResult } from '../../../../src/kv/meta-kv.js';
import type { CollectionLookup } from '../../../../src/master/segment/collection-lookup.js';
import { rejection } from '../../../helpers/rejection.js';
import { MetaTable, collectionKey, collectionNameKey, partitionKey, validateCollectionSchema } from '../../../../src/master/meta/index.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function memoryKV(store?: MemoryKV['store']): MemoryKV {
  const kv = new MemoryKV(store === undefined ? {} : { store });
  closers.push(() => kv.close());
  return kv;
}

const schema = (name: string) =>
  validateCollectionSchema(
    name,
    CollectionSchema.fromPartial({
      fields: [
        FieldSchema.fromPartial({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true }),
        FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 4 }),
      ],
    }),
  );

/** A new collection `name` with id `id`, default partition id `id + 1`, created at `ts` on `pchannel`. */
function newCollection(id: bigint, name: string, ts: bigint, pchannel = 't-dml_0'): { info: CollectionInfo; part: PartitionInfo } {
  const vchannel = `${pchannel}_${id}v0`;
  return {
    info: CollectionInfo.fromPartial({
      id,
      name,
      schema: schema(name),
      shardsNum: 1,
      vchannels: [vchannel],
      pchannels: [pchannel],
      startPositions: [{ channelName: pchannel, msgId: 3n, timestamp: ts }],
      createTs: ts,
      state: CollectionState.CollectionCreated,
      partitionIds: [id + 1n],
    }),
    part: PartitionInfo.fromPartial({ id: id + 1n, name: '_default', collectionId: id, createTs: ts }),
  };
}

async function create(meta: MetaTable, id: bigint, name: string, ts: bigint, pchannel?: string): Promise<void> {
  const { info, part } = newCollection(id, name, ts, pchannel);
  await meta.commit(meta.planCreateCollection(info, part));
}

async function addPartition(meta: MetaTable, collectionId: bigint, id: bigint, name: string, ts: bigint, max?: number): Promise<void> {
  await meta.commit(meta.planCreatePartition(PartitionInfo.fromPartial({ id, name, collectionId, createTs: ts }), max));
}

/** Everything the view holds, tombstones included. */
function snapshot(meta: MetaTable) {
  return {
    all: meta.allCollections(),
    partitions: meta.allCollections().map((c) => meta.allPartitions(c.id)),
    live: meta.listCollections().map((c) => c.name),
    livePartitions: meta.listCollections().map((c) => meta.listPartitions(c.id).map((p) => p.name)),
    usage: [...meta.pchannelUsage()],
  };
}

/** A MetaKV that delegates to MemoryKV and can fail its next transactions on purpose. */
class FaultyKV implements MetaKV {
  /** Apply the next txn, then throw as if its answer was lost. */
  loseNextAnswer = false;
  /** Throw on the next txn without applying it. */
  failNextTxn = false;
  constructor(private readonly inner: MemoryKV) {}
  get = (key: string) => this.inner.get(key);
  put = (key: string, value: string | Buffer) => this.inner.put(key, value);
  delete = (key: string) => this.inner.delete(key);
  deletePrefix = (prefix: string) => this.inner.deletePrefix(prefix);
  range: MetaKV['range'] = (prefix, options) => this.inner.range(prefix, options);
  watch: MetaKV['watch'] = (prefix, options) => this.inner.watch(prefix, options);
  grantLease = (ttl: number) => this.inner.grantLease(ttl);
  revision = () => this.inner.revision();
  close = () => this.inner.close();
  async txn(request: TxnRequest): Promise<TxnResult> {
    if (this.failNextTxn) {
      this.failNextTxn = false;
      throw new TidalError(ErrorCode.BackendUnavailable, 'injected: etcd unreachable');
    }
    const res = await this.inner.txn(request);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new TidalError(ErrorCode.BackendUnavailable, 'injected: answer lost');
    }
    return res;
  }
}

describe('meta-table', () => {
  it('meta-table - creates a collection with its default partition in one transaction and reads it back', async () => {
    const kv = memoryKV();
    const meta = await MetaTable.load(kv);
    const before = await kv.revision();
    await create(meta, 10n, 'books', 1000n);
    expect(await kv.revision()).toBe(before + 1); // one transaction
    const c = meta.getCollection({ name: 'books' });
    expect(c.id).toBe(10n);
    expect(meta.getCollection({ id: 10n }).name).toBe('books');
    expect(meta.listPartitions(10n).map((p) => [p.id, p.name])).toEqual([[11n, '_default']]);
    // The meta table is the segment manager's CollectionLookup.
    const lookup: CollectionLookup = meta;
    expect(lookup.collection(10n)).toEqual({ id: 10n, schema: c.schema, vchannels: ['t-dml_0_10v0'], partitionIds: [11n] });
    expect(lookup.collection(99n)).toBeUndefined();
    expect(meta.pchannelUsage()).toEqual(new Map([['t-dml_0', 1]]));
    // The KV holds the protobuf records and the name index.
    expect(CollectionInfo.decode((await kv.get(collectionKey(10n)))!.value).name).toBe('books');
    expect((await kv.get(collectionNameKey('books')))!.value.toString()).toBe('10');
    expect(PartitionInfo.decode((await kv.get(partitionKey(10n, 11n)))!.value).name).toBe('_default');
  });

  it('meta-table - the view rebuilt from the KV after a restart equals the one before', async () => {
    const kv = memoryKV();
    const meta = await MetaTable.load(kv);
    await create(meta, 10n, 'books', 1000n, 't-dml_0');
    await create(meta, 20n, 'films', 1001n, 't-dml_1');
    await create(meta, 30n, 'songs', 1002n, 't-dml_0');
    await addPartition(meta, 10n, 12n, 'p2024', 1003n);
    await addPartition(meta, 10n, 13n, 'p2025', 1004n);
    await meta.commit(meta.planDropPartition(10n, 'p2024', 1005n));
    await meta.commit(meta.planCreateIndex(10n, IndexInfo.fromPartial({ indexId: 40n, indexName: 'v_idx', fieldId: 101n, params: [{ key: 'metric_type', value: 'L2' }], createTs: 1006n })));
    await meta.commit(meta.planDropCollection(20n, 1007n));
    const before = snapshot(meta);
    expect(before.live).toEqual(['books', 'songs']);
    expect(before.livePartitions).toEqual([['_default', 'p2025'], ['_default']]);

    const restarted = await MetaTable.load(memoryKV(kv.store));
    expect(snapshot(restarted)).toEqual(before);
    // The restarted view keeps working: its revisions are the KV's.
    await addPartition(restarted, 10n, 14n, 'p2026', 1008n);
    expect(restarted.listPartitions(10n).map((p) => p.name)).toEqual(['_default', 'p2025', 'p2026']);
  });

  it('meta-table - concurrent creates of one name in one process: exactly one succeeds', async () => {
    const meta = await MetaTable.load(memoryKV());
    const results = await Promise.allSettled([1n, 2n, 3n, 4n, 5n].map((i) => create(meta, i * 10n, 'books', 1000n + i)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
      expect(r.reason).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'collection "books" already exists' });
    }
    expect(meta.listCollections()).toHaveLength(1);
  });

  it('meta-table - two masters creating the same name: the KV transaction lets exactly one win', async () => {
    const kvA = memoryKV();
    const a = await MetaTable.load(kvA);
    const b = await MetaTable.load(memoryKV(kvA.store));
    // Both plan against a view where the name is free.
    const pa = a.planCreateCollection(newCollection(10n, 'books', 1000n).info, newCollection(10n, 'books', 1000n).part);
    const pb = b.planCreateCollection(newCollection(20n, 'books', 1001n).info, newCollection(20n, 'books', 1001n).part);
    const results = await Promise.allSettled([a.commit(pa), b.commit(pb)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(loser.reason).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'collection "books" already exists' });
    // The loser reloaded: both views now agree with the KV.
    expect(a.getCollection({ name: 'books' }).id).toBe(b.getCollection({ name: 'books' }).id);
    const restarted = await MetaTable.load(memoryKV(kvA.store));
    expect(restarted.listCollections()).toHaveLength(1);
  });

  it('meta-table - a change planned by a stale master is rejected and leaves the KV unchanged', async () => {
    const kvA = memoryKV();
    const a = await MetaTable.load(kvA);
    await create(a, 10n, 'books', 1000n);
    const b = await MetaTable.load(memoryKV(kvA.store));
    await addPartition(a, 10n, 12n, 'p', 1001n);
    const rev = await kvA.revision();
    // b's view predates the partition: its plan compares an old revision of the collection record.
    const err = await rejection(addPartition(b, 10n, 13n, 'p', 1002n));
    expect(err.code).toBe(ErrorCode.AlreadyExists);
    expect(err.message).toBe('partition "p" already exists in collection "books"');
    expect(await kvA.revision()).toBe(rev);
    // A conflicting change that is still valid on the fresh view: FAILED_PRECONDITION, retry.
    const stalePlan = b.planDropCollection(10n, 1004n);
    await addPartition(a, 10n, 14n, 'q', 1003n);
    const err2 = await rejection(b.commit(stalePlan));
    expect(err2.code).toBe(ErrorCode.FailedPrecondition);
    expect(err2.message).toMatch(/^cannot drop collection "books": the transaction was rejected .*another master changed the collection\); retry$/);
    expect(b.hasCollection('books')).toBe(true);
    // Planned again on the reloaded view, it commits; a's stale view then learns it is gone.
    await b.commit(b.planDropCollection(10n, 1005n));
    const err3 = await rejection(addPartition(a, 10n, 15n, 'r', 1006n));
    expect(err3).toMatchObject({ code: ErrorCode.NotFound, message: 'collection 10 ("books") was dropped' });
  });

  it('meta-table - a failed guard rejects check and commit with FAILED_PRECONDITION and writes nothing', async () => {
    const kv = memoryKV();
    await kv.put('election/master', 'me');
    let guard: Compare[] = [{ key: 'election/master', target: 'value', op: '==', value: 'me' }];
    const meta = await MetaTable.load(kv, { guard: () => guard });
    await create(meta, 10n, 'books', 1000n);
    guard = [{ key: 'election/master', target: 'value', op: '==', value: 'someone-else' }];
    const rev = await kv.revision();
    const { info, part } = newCollection(20n, 'films', 1001n);
    const change = meta.planCreateCollection(info, part);
    const e1 = await rejection(meta.check(change));
    expect(e1.code).toBe(ErrorCode.FailedPrecondition);
    expect(e1.message).toMatch(/^cannot create collection "films": the transaction was rejected \(this master no longer serves/);
    const e2 = await rejection(meta.commit(change));
    expect(e2.code).toBe(ErrorCode.FailedPrecondition);
    expect(await kv.revision()).toBe(rev);
    expect(meta.hasCollection('films')).toBe(false);
  });

  it('meta-table - answers as of a timestamp, across a drop and the reuse of the name', async () => {
    const meta = await MetaTable.load(memoryKV());
    await create(meta, 10n, 'books', 1000n);
    await addPartition(meta, 10n, 12n, 'p', 1100n);
    await meta.commit(meta.planDropPartition(10n, 'p', 1200n));
    await meta.commit(meta.planDropCollection(10n, 1300n));
    await create(meta, 20n, 'books', 1400n);

    expect(meta.collectionByName('books', 999n)).toBeUndefined();
    expect(meta.collectionByName('books', 1000n)?.id).toBe(10n);
    expect(meta.collectionByName('books', 1299n)?.id).toBe(10n);
    expect(meta.collectionByName('books', 1300n)).toBeUndefined();
    expect(meta.collectionByName('books', 1400n)?.id).toBe(20n);
    expect(meta.collectionByName('books')?.id).toBe(20n);
    expect(meta.listPartitions(10n, 1150n).map((p) => p.name)).toEqual(['_default', 'p']);
    expect(meta.listPartitions(10n, 1250n).map((p) => p.name)).toEqual(['_default']);
    expect(meta.listPartitions(10n)).toEqual([]);
    expect(meta.listCollections(1350n)).toEqual([]);
    expect(meta.listCollections(1050n).map((c) => c.id)).toEqual([10n]);
    // The tombstone stays readable by id.
    expect(meta.collectionRecord(10n)).toMatchObject({ state: CollectionState.CollectionDropped, dropTs: 1300n });
    expect(() => meta.getCollection({ id: 10n })).toThrow('collection 10 ("books") was dropped');
    expect(() => meta.getCollection({ name: 'books' }, 1350n)).toThrow('collection "books" not found as of timestamp 1350');
    expect(meta.pchannelUsage()).toEqual(new Map([['t-dml_0', 1]]));
  });

  it('meta-table - domain errors say what is wrong', async () => {
    const meta = await MetaTable.load(memoryKV());
    await create(meta, 10n, 'books', 1000n);
    expect(() => meta.getCollection({ name: 'films' })).toThrowError(expect.objectContaining({ code: ErrorCode.NotFound, message: 'collection "films" not found' }));
    expect(() => meta.getCollection({ id: 99n })).toThrow('collection 99 not found');
    expect(() => meta.getCollection({})).toThrowError(expect.objectContaining({ code: ErrorCode.InvalidArgument, message: 'a collection name or id is required' }));
    expect(() => meta.planCreateCollection(newCollection(20n, 'books', 1001n).info, newCollection(20n, 'books', 1001n).part)).toThrowError(
      expect.objectContaining({ code: ErrorCode.AlreadyExists, message: 'collection "books" already exists' }),
    );
    expect(() => meta.planDropPartition(10n, '_default', 1002n)).toThrowError(
      expect.objectContaining({ code: ErrorCode.InvalidArgument, message: 'the default partition "_default" of collection "books" cannot be dropped' }),
    );
    expect(() => meta.planDropPartition(10n, 'nope', 1002n)).toThrowError(
      expect.objectContaining({ code: ErrorCode.NotFound, message: 'partition "nope" not found in collection "books"' }),
    );
    await addPartition(meta, 10n, 12n, 'p', 1003n, 2);
    const full = await rejection(addPartition(meta, 10n, 13n, 'q', 1004n, 2));
    expect(full.code).toBe(ErrorCode.ResourceExhausted);
    expect(full.message).toBe('collection "books" already has 2 partitions; the limit is 2: drop one first');
    await meta.commit(meta.planCreateIndex(10n, IndexInfo.fromPartial({ indexId: 40n, indexName: 'vi', fieldId: 101n, createTs: 1005n })));
    expect(() => meta.planCreateIndex(10n, IndexInfo.fromPartial({ indexId: 41n, indexName: 'vi', fieldId: 100n, createTs: 1006n }))).toThrow(
      'index "vi" already exists in collection "books"',
    );
    expect(() => meta.planCreateIndex(10n, IndexInfo.fromPartial({ indexId: 41n, indexName: 'other', fieldId: 101n, createTs: 1006n }))).toThrow(
      'field "v" of collection "books" already has index "vi"',
    );
  });

  it('meta-table - a commit whose answer was lost is found committed, not reported as a conflict', async () => {
    const inner = memoryKV();
    const kv = new FaultyKV(inner);
    const meta = await MetaTable.load(kv);
    kv.loseNextAnswer = true;
    await create(meta, 10n, 'books', 1000n); // applied, answer lost: found by reading back
    expect(meta.getCollection({ name: 'books' }).id).toBe(10n);
    // A plain failure that did not apply is reported as it is, and nothing changes.
    kv.failNextTxn = true;
    const err = await rejection(addPartition(meta, 10n, 12n, 'p', 1001n));
    expect(err).toMatchObject({ code: ErrorCode.BackendUnavailable, message: 'injected: etcd unreachable' });
    expect(meta.listPartitions(10n).map((p) => p.name)).toEqual(['_default']);
    // Retrying the same planned change after a lost answer succeeds once, idempotently.
    const change = meta.planCreatePartition(PartitionInfo.fromPartial({ id: 12n, name: 'p', collectionId: 10n, createTs: 1001n }));
    kv.loseNextAnswer = true;
    await meta.commit(change);
    expect(meta.listPartitions(10n).map((p) => p.name)).toEqual(['_default', 'p']);
  });

  it('meta-table - purges tombstones older than a timestamp', async () => {
    const kv = memoryKV();
    const meta = await MetaTable.load(kv);
    await create(meta, 10n, 'books', 1000n);
    await create(meta, 20n, 'films', 1001n);
    await addPartition(meta, 20n, 22n, 'p', 1002n);
    await meta.commit(meta.planDropPartition(20n, 'p', 1003n));
    await meta.commit(meta.planDropCollection(10n, 1004n));
    expect(await meta.purgeDropped(1004n)).toEqual({ collections: 0, partitions: 1 });
    expect(await meta.purgeDropped(1005n)).toEqual({ collections: 1, partitions: 1 });
    expect(await kv.get(collectionKey(10n))).toBeUndefined();
    expect(await kv.get(partitionKey(10n, 11n))).toBeUndefined();
    expect(await kv.get(partitionKey(20n, 22n))).toBeUndefined();
    expect(meta.collectionRecord(10n)).toBeUndefined();
    expect(snapshot(await MetaTable.load(memoryKV(kv.store)))).toEqual(snapshot(meta));
  });

  it('meta-table - loading refuses records that do not decode or disagree, naming the key', async () => {
    const kv = memoryKV();
    await kv.put(collectionKey(5n), Buffer.from([0xff, 0xff, 0xff]));
    await expect(MetaTable.load(kv)).rejects.toMatchObject({ code: ErrorCode.Corrupted, message: 'meta table: meta/collection/5: value is not a meta.CollectionInfo' });

    const kv2 = memoryKV();
    const meta = await MetaTable.load(kv2);
    await create(meta, 10n, 'books', 1000n);
    await kv2.delete(collectionNameKey('books'));
    await expect(MetaTable.load(kv2)).rejects.toMatchObject({ code: ErrorCode.Corrupted, message: 'meta table: meta/collection/10: live collection "books" has no name key' });
  });
});
