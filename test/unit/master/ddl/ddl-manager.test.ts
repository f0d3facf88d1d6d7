import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../../src/common/errors.js';
import { MsgType } from '../../../../src/gen/common.js';
import { CollectionState, PartitionState } from '../../../../src/gen/meta.js';
import { StreamMsg } from '../../../../src/gen/msg.js';
import { CollectionSchema, DataType, FieldSchema } from '../../../../src/gen/schema.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import type { Compare } from '../../../../src/kv/meta-kv.js';
import { MemoryMsgStream, type MsgStream, type Position, type ProduceMessage } from '../../../../src/mq/index.js';
import { DdlManager, type DdlConfig } from '../../../../src/master/ddl/index.js';
import { IdAllocator } from '../../../../src/master/idalloc/id-allocator.js';
import { MetaTable } from '../../../../src/master/meta/index.js';
import { TimestampOracle } from '../../../../src/master/tso/timestamp-oracle.js';
import { readAll } from '../../../helpers/read-all.js';
import { rejection } from '../../../helpers/rejection.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A MsgStream over MemoryMsgStream whose produce fails on chosen channels, writing nothing there. */
class FailingStream implements MsgStream {
  readonly failOn = new Set<string>();
  constructor(readonly inner: MemoryMsgStream) {}
  get maxMessageBytes() {
    return this.inner.maxMessageBytes;
  }
  createChannel = (c: string) => this.inner.createChannel(c);
  deleteChannel = (c: string) => this.inner.deleteChannel(c);
  hasChannel = (c: string) => this.inner.hasChannel(c);
  consume: MsgStream['consume'] = (c, from, o) => this.inner.consume(c, from, o);
  offsets = (c: string) => this.inner.offsets(c);
  close = () => this.inner.close();
  async produce(channel: string, messages: ProduceMessage[]): Promise<Position[]> {
    if (this.failOn.has(channel)) throw new TidalError(ErrorCode.BackendUnavailable, 'injected: broker unreachable');
    return this.inner.produce(channel, messages);
  }
}

interface Fixture {
  kv: MemoryKV;
  meta: MetaTable;
  stream: FailingStream;
  ddl: DdlManager;
  tso: TimestampOracle;
  ids: IdAllocator;
  guard: { compares: Compare[] };
}

const CONFIG: DdlConfig = { channelPrefix: 't', dmlChannelNum: 3, defaultShardsNum: 2, maxPartitions: 3 };

async function fixture(kv = new MemoryKV(), config: DdlConfig = CONFIG): Promise<Fixture> {
  const tso = new TimestampOracle({ kv, key: 'tso/timestamp' });
  await tso.start();
  const ids = new IdAllocator({ kv, key: 'gid/idTimestamp' });
  await ids.start();
  const guard = { compares: [] as Compare[] };
  const meta = await MetaTable.load(kv, { guard: () => guard.compares });
  const stream = new FailingStream(new MemoryMsgStream());
  const ddl = new DdlManager({ meta, stream, tso, ids, config, sourceId: 7n });
  await ddl.start();
  closers.push(() => kv.close());
  closers.push(() => stream.close());
  closers.push(() => tso.close());
  closers.push(() => ids.close());
  closers.push(() => ddl.close());
  return { kv, meta, stream, ddl, tso, ids, guard };
}

const booksSchema = () =>
  CollectionSchema.fromPartial({
    fields: [
      FieldSchema.fromPartial({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true }),
      FieldSchema.fromPartial({ name: 'title', dataType: DataType.VarChar, maxLength: 128 }),
      FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 8 }),
    ],
  });


async function decodeAll(stream: MsgStream, channel: string): Promise<{ msg: StreamMsg; position: Position }[]> {
  return (await readAll(stream, channel)).map((m) => ({ msg: StreamMsg.decode(m.payload), position: m.position }));
}

/** Next offset of every Tidal channel of the fixture. */
async function offsets(f: Fixture): Promise<bigint[]> {
  return Promise.all([f.ddl.ddChannel, ...f.ddl.dmlChannels].map(async (c) => (await f.stream.offsets(c)).latest));
}

/** Every meta key with its value and revision. */
async function metaKeys(kv: MemoryKV): Promise<unknown[]> {
  return (await kv.range('meta/')).kvs.map((k) => [k.key, k.value.toString('hex'), k.modRevision]);
}

describe('ddl-manager', () => {
  it('ddl-manager - CreateCollection publishes on the DD channel and on each vchannel, and records the start positions', async () => {
    const f = await fixture();
    const info = await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    expect(info.shardsNum).toBe(2);
    expect(info.pchannels).toEqual(['t-dml_0', 't-dml_1']);
    expect(info.vchannels).toEqual([`t-dml_0_${info.id}v0`, `t-dml_1_${info.id}v1`]);
    expect(info.schema!.fields.map((f) => f.fieldId)).toEqual([100n, 101n, 102n]);
    expect(f.meta.listPartitions(info.id).map((p) => p.name)).toEqual(['_default']);

    const dd = await decodeAll(f.stream, 't-dd');
    expect(dd).toHaveLength(1);
    const { msg, position } = dd[0]!;
    expect(msg.msgType).toBe(MsgType.CreateCollection);
    expect(msg.vchannel).toBe('');
    expect(msg.collectionId).toBe(info.id);
    expect(position.timestamp).toBe(info.createTs);
    if (msg.body?.$case !== 'createCollection') throw new Error(`unexpected body ${msg.body?.$case}`);
    expect(msg.body.value).toEqual({
      base: { msgType: MsgType.CreateCollection, msgId: 0n, timestamp: info.createTs, sourceId: 7n, targetId: 0n },
      collectionId: info.id,
      collectionName: 'books',
      schema: info.schema,
      vchannels: info.vchannels,
      pchannels: info.pchannels,
      partitionIds: info.partitionIds,
      partitionNames: ['_default'],
    });

    for (const [i, vchannel] of info.vchannels.entries()) {
      const records = await decodeAll(f.stream, info.pchannels[i]!);
      expect(records).toHaveLength(1);
      expect(records[0]!.msg).toEqual({ ...msg, vchannel });
      expect(info.startPositions[i]).toEqual({ channelName: info.pchannels[i], msgId: records[0]!.position.msgId, timestamp: info.createTs });
    }
    expect(await readAll(f.stream, 't-dml_2')).toEqual([]);

    // The next collection goes to the least-used pchannel first.
    const films = await f.ddl.createCollection({ collectionName: 'films', schema: booksSchema(), shardsNum: 1 });
    expect(films.pchannels).toEqual(['t-dml_2']);
  });

  it('ddl-manager - every DDL kind reaches the DD channel and the DML channels in timestamp order with its payload', async () => {
    const f = await fixture();
    const pending: (bigint | undefined)[] = [];
    f.ddl.scheduler.on('pending', (ts) => pending.push(ts));
    // Fired together: tasks take their timestamps in call order and run in that order.
    const [books, part, index, dropped, tomb] = await Promise.all([
      f.ddl.createCollection({ collectionName: 'books', schema: booksSchema(), shardsNum: 1 }),
      f.ddl.createPartition({ collectionName: 'books', partitionName: 'p2024' }),
      f.ddl.createIndex({ collectionName: 'books', fieldName: 'v', indexName: 'v_idx', extraParams: [{ key: 'metric_type', value: 'L2' }] }),
      f.ddl.dropPartition({ collectionName: 'books', partitionName: 'p2024' }),
      f.ddl.dropCollection({ collectionName: 'books' }),
    ]);
    const tss = [books.createTs, part.createTs, index.createTs, dropped.dropTs, tomb.dropTs];
    expect([...tss].sort((a, b) => (a < b ? -1 : 1))).toEqual(tss);
    expect(new Set(tss).size).toBe(5);
    expect(pending[pending.length - 1]).toBeUndefined();
    for (const ts of tss) expect(pending).toContain(ts);

    const dd = await decodeAll(f.stream, 't-dd');
    expect(dd.map((d) => d.msg.msgType)).toEqual([
      MsgType.CreateCollection,
      MsgType.CreatePartition,
      MsgType.CreateIndex,
      MsgType.DropPartition,
      MsgType.DropCollection,
    ]);
    expect(dd.map((d) => d.position.timestamp)).toEqual(tss);
    expect(dd.map((d) => d.msg.body?.value.base?.timestamp)).toEqual(tss);
    expect(dd.every((d) => d.msg.collectionId === books.id && d.msg.vchannel === '')).toBe(true);
    expect(dd[1]!.msg.body).toEqual({
      $case: 'createPartition',
      value: {
        base: { msgType: MsgType.CreatePartition, msgId: 0n, timestamp: part.createTs, sourceId: 7n, targetId: 0n },
        collectionId: books.id,
        partitionId: part.id,
        collectionName: 'books',
        partitionName: 'p2024',
      },
    });
    expect(dd[2]!.msg.body).toEqual({
      $case: 'createIndex',
      value: {
        base: { msgType: MsgType.CreateIndex, msgId: 0n, timestamp: index.createTs, sourceId: 7n, targetId: 0n },
        collectionId: books.id,
        collectionName: 'books',
        fieldId: 102n,
        fieldName: 'v',
        indexId: index.indexId,
        indexName: 'v_idx',
        indexParams: [{ key: 'metric_type', value: 'L2' }],
      },
    });
    expect(dd[3]!.msg.body).toMatchObject({ $case: 'dropPartition', value: { partitionId: part.id, partitionName: 'p2024', collectionName: 'books' } });
    expect(dd[4]!.msg.body).toMatchObject({ $case: 'dropCollection', value: { collectionId: books.id, collectionName: 'books' } });

    const dml = await decodeAll(f.stream, books.pchannels[0]!);
    expect(dml.map((d) => d.msg.msgType)).toEqual(dd.map((d) => d.msg.msgType));
    expect(dml.map((d) => d.position.timestamp)).toEqual(tss);
    expect(dml.every((d) => d.msg.vchannel === books.vchannels[0])).toBe(true);

    // Meta recorded each step: the collection is a tombstone now, its partition too.
    expect(f.meta.collectionRecord(books.id)).toMatchObject({ state: CollectionState.CollectionDropped, dropTs: tomb.dropTs });
    expect(f.meta.collectionRecord(books.id)!.indexes).toEqual([index]);
    expect(dropped).toMatchObject({ state: PartitionState.PartitionDropped, dropTs: tss[3] });
    expect(f.meta.hasCollection('books')).toBe(false);
  });

  it('ddl-manager - a failed DDL leaves meta unchanged and publishes nothing, with a clear error', async () => {
    const f = await fixture();
    await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    await f.ddl.createPartition({ collectionName: 'books', partitionName: 'p1' });
    const keys = await metaKeys(f.kv);
    const before = await offsets(f);
    const noPk = CollectionSchema.fromPartial({ fields: [FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 8 })] });
    const cases: [ErrorCode, string, () => Promise<unknown>][] = [
      [ErrorCode.AlreadyExists, 'collection "books" already exists', () => f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() })],
      [ErrorCode.InvalidArgument, 'schema must have exactly one primary key field, found 0', () => f.ddl.createCollection({ collectionName: 'x', schema: noPk })],
      [
        ErrorCode.InvalidArgument,
        'field "v": dim must be an integer from 1 to 32768, got 0',
        () =>
          f.ddl.createCollection({
            collectionName: 'x',
            schema: CollectionSchema.fromPartial({
              fields: [
                FieldSchema.fromPartial({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true }),
                FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 0 }),
              ],
            }),
          }),
      ],
      [ErrorCode.InvalidArgument, 'shardsNum must be an integer from 1 to 64 (0: the default, 2), got 65', () => f.ddl.createCollection({ collectionName: 'x', schema: booksSchema(), shardsNum: 65 })],
      [ErrorCode.InvalidArgument, 'collection name "my books" is invalid: use only letters, digits and underscores', () => f.ddl.createCollection({ collectionName: 'my books', schema: booksSchema() })],
      [ErrorCode.NotFound, 'collection "films" not found', () => f.ddl.dropCollection({ collectionName: 'films' })],
      [ErrorCode.NotFound, 'collection "films" not found', () => f.ddl.createPartition({ collectionName: 'films', partitionName: 'p' })],
      [ErrorCode.AlreadyExists, 'partition "p1" already exists in collection "books"', () => f.ddl.createPartition({ collectionName: 'books', partitionName: 'p1' })],
      [ErrorCode.NotFound, 'partition "p9" not found in collection "books"', () => f.ddl.dropPartition({ collectionName: 'books', partitionName: 'p9' })],
      [
        ErrorCode.InvalidArgument,
        'the default partition "_default" of collection "books" cannot be dropped',
        () => f.ddl.dropPartition({ collectionName: 'books', partitionName: '_default' }),
      ],
      [ErrorCode.NotFound, 'field "nope" not found in collection "books"', () => f.ddl.createIndex({ collectionName: 'books', fieldName: 'nope' })],
      [
        ErrorCode.InvalidArgument,
        'field "title" is VarChar: indexes can only be created on vector fields (FloatVector)',
        () => f.ddl.createIndex({ collectionName: 'books', fieldName: 'title' }),
      ],
      [ErrorCode.InvalidArgument, 'index params: key "k" is given more than once', () => f.ddl.createIndex({ collectionName: 'books', fieldName: 'v', extraParams: [{ key: 'k', value: '1' }, { key: 'k', value: '2' }] })],
    ];
    for (const [code, message, run] of cases) {
      const err = await rejection(run());
      expect({ code: err.code, message: err.message }).toEqual({ code, message });
    }
    // The partition limit (3 in this fixture, _default included).
    await f.ddl.createPartition({ collectionName: 'books', partitionName: 'p2' });
    const keys2 = await metaKeys(f.kv);
    const before2 = await offsets(f);
    const full = await rejection(f.ddl.createPartition({ collectionName: 'books', partitionName: 'p3' }));
    expect(full).toMatchObject({ code: ErrorCode.ResourceExhausted, message: 'collection "books" already has 3 partitions; the limit is 3: drop one first' });
    expect(await metaKeys(f.kv)).toEqual(keys2);
    expect(await offsets(f)).toEqual(before2);
    // Between the two phases nothing but p2 changed.
    expect(keys2.length).toBe(keys.length + 1);
    expect(before2).toEqual([before[0]! + 1n, before[1]! + 1n, before[2]! + 1n, before[3]!]);
  });

  it('ddl-manager - when publishing fails nothing is committed', async () => {
    const f = await fixture();
    const books = await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    const keys = await metaKeys(f.kv);
    f.stream.failOn.add('t-dml_2');
    const err = await rejection(f.ddl.createCollection({ collectionName: 'films', schema: booksSchema(), shardsNum: 1 }));
    expect(err.code).toBe(ErrorCode.BackendUnavailable);
    expect(err.message).toBe('cannot publish create collection "films" on channel t-dml_2: injected: broker unreachable');
    expect(f.meta.hasCollection('films')).toBe(false);
    expect(await metaKeys(f.kv)).toEqual(keys);

    f.stream.failOn.clear();
    f.stream.failOn.add('t-dd');
    const before = await offsets(f);
    const err2 = await rejection(f.ddl.dropCollection({ collectionName: 'books' }));
    expect(err2.message).toBe('cannot publish drop collection "books" on channel t-dd: injected: broker unreachable');
    expect(f.meta.getCollection({ name: 'books' }).id).toBe(books.id);
    expect(await metaKeys(f.kv)).toEqual(keys);
    // A failure on the DD channel publishes nothing anywhere.
    expect(await offsets(f)).toEqual(before);

    // Once the broker is back, the same DDL goes through.
    f.stream.failOn.clear();
    await f.ddl.dropCollection({ collectionName: 'books' });
    expect(f.meta.hasCollection('books')).toBe(false);
  });

  it('ddl-manager - a master that lost its guard publishes nothing and commits nothing', async () => {
    const f = await fixture();
    await f.kv.put('election/master', 'me');
    f.guard.compares = [{ key: 'election/master', target: 'value', op: '==', value: 'me' }];
    await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    await f.kv.put('election/master', 'another-master');
    const keys = await metaKeys(f.kv);
    const before = await offsets(f);
    const err = await rejection(f.ddl.createPartition({ collectionName: 'books', partitionName: 'p' }));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toMatch(/^cannot create partition "p" of collection "books": the transaction was rejected/);
    expect(await offsets(f)).toEqual(before);
    expect(await metaKeys(f.kv)).toEqual(keys);
  });

  it('ddl-manager - concurrent CreateCollection of one name: exactly one succeeds, one DDL is published', async () => {
    const f = await fixture();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'collection "books" already exists' });
    expect(await readAll(f.stream, 't-dd')).toHaveLength(1);
  });

  it('ddl-manager - CreateIndex asked again with the same params returns the index without a new DDL', async () => {
    const f = await fixture();
    await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    const params = [{ key: 'metric_type', value: 'IP' }];
    const a = await f.ddl.createIndex({ collectionName: 'books', fieldName: 'v', extraParams: params });
    expect(a.indexName).toBe('v');
    const before = await offsets(f);
    const b = await f.ddl.createIndex({ collectionName: 'books', fieldName: 'v', indexName: '', extraParams: params });
    expect(b).toEqual(a);
    expect(await offsets(f)).toEqual(before);
    const err = await rejection(f.ddl.createIndex({ collectionName: 'books', fieldName: 'v', extraParams: [{ key: 'metric_type', value: 'L2' }] }));
    expect(err).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'index "v" already exists in collection "books"' });
  });

  it('ddl-manager - after a restart the meta rebuilt from the KV equals the one before, and DDL carries on', async () => {
    const f = await fixture();
    await f.ddl.createCollection({ collectionName: 'books', schema: booksSchema() });
    await f.ddl.createCollection({ collectionName: 'films', schema: booksSchema(), shardsNum: 3 });
    await f.ddl.createPartition({ collectionName: 'films', partitionName: 'p' });
    await f.ddl.createIndex({ collectionName: 'films', fieldName: 'v' });
    await f.ddl.dropCollection({ collectionName: 'books' });
    const view = (m: MetaTable) => ({ all: m.allCollections(), parts: m.allCollections().map((c) => m.allPartitions(c.id)), usage: [...m.pchannelUsage()] });
    const before = view(f.meta);
    await f.ddl.close();
    await f.tso.close();
    await f.ids.close();

    const kv2 = new MemoryKV({ store: f.kv.store });
    const again = await fixture(kv2);
    expect(view(again.meta)).toEqual(before);
    const songs = await again.ddl.createCollection({ collectionName: 'books', schema: booksSchema(), shardsNum: 1 });
    expect(songs.id).toBeGreaterThan(before.all[before.all.length - 1]!.id);
    expect(songs.createTs).toBeGreaterThan(before.all[before.all.length - 1]!.createTs);
    // films holds one vchannel on each pchannel; books (dropped) no longer counts.
    expect(songs.pchannels).toEqual(['t-dml_0']);
  });
});
