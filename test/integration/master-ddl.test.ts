/**
 * DDL on real etcd and Kafka: the messages of every DDL kind appear on the DD channel and on the
 * collection's DML channels in timestamp order with the right payloads; a failed DDL publishes
 * nothing and changes nothing in etcd; two masters racing on one name leave one collection.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { MsgType } from '../../src/gen/common.js';
import { CollectionState } from '../../src/gen/meta.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { CollectionSchema, DataType, FieldSchema } from '../../src/gen/schema.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream, type Position } from '../../src/mq/index.js';
import { DdlManager } from '../../src/master/ddl/index.js';
import { IdAllocator } from '../../src/master/idalloc/id-allocator.js';
import { MetaTable } from '../../src/master/meta/index.js';
import { TimestampOracle } from '../../src/master/tso/timestamp-oracle.js';
import { endpoints, uniqueName, type Endpoints } from '../harness/endpoints.js';
import { readAll } from '../helpers/read-all.js';

let ep: Endpoints;
let stream: KafkaMsgStream;
const channels: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ep = await endpoints();
  stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-ddl' });
});

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

afterAll(async () => {
  for (const c of channels) await stream.deleteChannel(c).catch(() => undefined); // best-effort cleanup
  await stream?.close();
});

interface Master {
  kv: EtcdKV;
  meta: MetaTable;
  ddl: DdlManager;
}

/** A master's DDL side on etcd under `root`, publishing on channels `{prefix}-...`. */
async function master(root: string, prefix: string, shared?: { tso: TimestampOracle; ids: IdAllocator }): Promise<Master & { tso: TimestampOracle; ids: IdAllocator }> {
  const kv = new EtcdKV({ endpoints: ep.etcd, rootPath: root });
  closers.push(async () => {
    await kv.deletePrefix('meta/').catch(() => undefined); // best-effort cleanup
    await kv.close();
  });
  let tso = shared?.tso;
  let ids = shared?.ids;
  if (tso === undefined || ids === undefined) {
    const t = new TimestampOracle({ kv, key: 'tso/timestamp' });
    const i = new IdAllocator({ kv, key: 'gid/idTimestamp' });
    await t.start();
    await i.start();
    closers.push(() => t.close());
    closers.push(() => i.close());
    tso = t;
    ids = i;
  }
  const meta = await MetaTable.load(kv);
  const ddl = new DdlManager({ meta, stream, tso, ids, config: { channelPrefix: prefix, dmlChannelNum: 2, defaultShardsNum: 2 }, sourceId: 1n });
  await ddl.start();
  channels.push(ddl.ddChannel, ...ddl.dmlChannels);
  closers.push(() => ddl.close());
  return { kv, meta, ddl, tso, ids };
}

const schema = () =>
  CollectionSchema.fromPartial({
    fields: [
      FieldSchema.fromPartial({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true, autoId: true }),
      FieldSchema.fromPartial({ name: 'title', dataType: DataType.VarChar, maxLength: 256 }),
      FieldSchema.fromPartial({ name: 'embedding', dataType: DataType.FloatVector, dim: 128 }),
    ],
  });


async function decodeAll(channel: string): Promise<{ msg: StreamMsg; position: Position }[]> {
  return (await readAll(stream, channel)).map((m) => ({ msg: StreamMsg.decode(m.payload), position: m.position }));
}

async function latestOffsets(ddl: DdlManager): Promise<bigint[]> {
  return Promise.all([ddl.ddChannel, ...ddl.dmlChannels].map(async (c) => (await stream.offsets(c)).latest));
}

async function metaKeys(kv: EtcdKV): Promise<unknown[]> {
  return (await kv.range('meta/')).kvs.map((k) => [k.key, k.value.toString('hex'), k.modRevision]);
}

describe('master-ddl (etcd + Kafka)', () => {
  it('master-ddl - DDL messages reach the DD channel and the DML channels in timestamp order with their payloads', async () => {
    const m = await master(uniqueName('it-ddl'), uniqueName('it-ddl'));
    const books = await m.ddl.createCollection({ collectionName: 'books', schema: schema() });
    const part = await m.ddl.createPartition({ collectionName: 'books', partitionName: 'y2024' });
    const index = await m.ddl.createIndex({ collectionName: 'books', fieldName: 'embedding', extraParams: [{ key: 'metric_type', value: 'COSINE' }] });
    const dropped = await m.ddl.dropPartition({ collectionName: 'books', partitionName: 'y2024' });
    const tomb = await m.ddl.dropCollection({ collectionName: 'books' });
    const tss = [books.createTs, part.createTs, index.createTs, dropped.dropTs, tomb.dropTs];
    for (let i = 1; i < tss.length; i += 1) expect(tss[i]!).toBeGreaterThan(tss[i - 1]!);
    const kinds = [MsgType.CreateCollection, MsgType.CreatePartition, MsgType.CreateIndex, MsgType.DropPartition, MsgType.DropCollection];

    const dd = await decodeAll(m.ddl.ddChannel);
    expect(dd.map((d) => d.msg.msgType)).toEqual(kinds);
    expect(dd.map((d) => d.position.timestamp)).toEqual(tss);
    expect(dd.map((d) => d.msg.body?.value.base)).toEqual(kinds.map((msgType, i) => ({ msgType, msgId: 0n, timestamp: tss[i], sourceId: 1n, targetId: 0n })));
    expect(dd.every((d) => d.msg.collectionId === books.id && d.msg.vchannel === '')).toBe(true);

    const create = dd[0]!.msg.body;
    if (create?.$case !== 'createCollection') throw new Error(`expected createCollection, got ${create?.$case}`);
    expect(create.value.collectionName).toBe('books');
    expect(create.value.schema?.fields.map((f) => [f.name, f.fieldId, f.dataType])).toEqual([
      ['id', 100n, DataType.Int64],
      ['title', 101n, DataType.VarChar],
      ['embedding', 102n, DataType.FloatVector],
    ]);
    expect(create.value.schema?.fields[2]!.dim).toBe(128);
    expect(create.value.vchannels).toEqual(books.vchannels);
    expect(create.value.pchannels).toEqual([...m.ddl.dmlChannels]);
    expect(create.value.partitionNames).toEqual(['_default']);
    expect(dd[1]!.msg.body).toMatchObject({ $case: 'createPartition', value: { partitionId: part.id, partitionName: 'y2024', collectionId: books.id } });
    expect(dd[2]!.msg.body).toMatchObject({
      $case: 'createIndex',
      value: { fieldName: 'embedding', fieldId: 102n, indexId: index.indexId, indexName: 'embedding', indexParams: [{ key: 'metric_type', value: 'COSINE' }] },
    });
    expect(dd[3]!.msg.body).toMatchObject({ $case: 'dropPartition', value: { partitionId: part.id, partitionName: 'y2024' } });
    expect(dd[4]!.msg.body).toMatchObject({ $case: 'dropCollection', value: { collectionId: books.id, collectionName: 'books' } });

    // Each DML pchannel holds the same DDLs, for its own vchannel, in the same order; the first is
    // where the collection's start position points.
    for (const [i, vchannel] of books.vchannels.entries()) {
      const dml = await decodeAll(books.pchannels[i]!);
      expect(dml.map((d) => d.msg.msgType)).toEqual(kinds);
      expect(dml.map((d) => d.position.timestamp)).toEqual(tss);
      expect(dml.every((d) => d.msg.vchannel === vchannel && d.msg.collectionId === books.id)).toBe(true);
      expect(dml.map((d) => d.msg.body)).toEqual(dd.map((d) => d.msg.body));
      expect(books.startPositions[i]).toEqual({ channelName: books.pchannels[i], msgId: dml[0]!.position.msgId, timestamp: books.createTs });
    }

    // etcd holds it all: a fresh master's view equals this one.
    const fresh = await MetaTable.load(m.kv);
    expect(fresh.allCollections()).toEqual(m.meta.allCollections());
    expect(fresh.allPartitions(books.id)).toEqual(m.meta.allPartitions(books.id));
    expect(fresh.collectionRecord(books.id)).toMatchObject({ state: CollectionState.CollectionDropped, dropTs: tomb.dropTs });
  });

  it('master-ddl - a failed DDL publishes nothing and changes nothing in etcd', async () => {
    const m = await master(uniqueName('it-ddl'), uniqueName('it-ddl'));
    await m.ddl.createCollection({ collectionName: 'books', schema: schema() });
    const keys = await metaKeys(m.kv);
    const offsets = await latestOffsets(m.ddl);
    const attempts: [ErrorCode, string, () => Promise<unknown>][] = [
      [ErrorCode.AlreadyExists, 'collection "books" already exists', () => m.ddl.createCollection({ collectionName: 'books', schema: schema() })],
      [
        ErrorCode.InvalidArgument,
        'schema must have exactly one primary key field, found 0',
        () => m.ddl.createCollection({ collectionName: 'films', schema: CollectionSchema.fromPartial({ fields: [FieldSchema.fromPartial({ name: 'v', dataType: DataType.FloatVector, dim: 4 })] }) }),
      ],
      [ErrorCode.NotFound, 'collection "films" not found', () => m.ddl.dropCollection({ collectionName: 'films' })],
      [ErrorCode.NotFound, 'partition "nope" not found in collection "books"', () => m.ddl.dropPartition({ collectionName: 'books', partitionName: 'nope' })],
      [
        ErrorCode.InvalidArgument,
        'the default partition "_default" of collection "books" cannot be dropped',
        () => m.ddl.dropPartition({ collectionName: 'books', partitionName: '_default' }),
      ],
      [
        ErrorCode.InvalidArgument,
        'field "title" is VarChar: indexes can only be created on vector fields (FloatVector)',
        () => m.ddl.createIndex({ collectionName: 'books', fieldName: 'title' }),
      ],
    ];
    for (const [code, message, attempt] of attempts) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TidalError);
      expect({ code: (err as TidalError).code, message: (err as TidalError).message }).toEqual({ code, message });
    }
    expect(await latestOffsets(m.ddl)).toEqual(offsets);
    expect(await metaKeys(m.kv)).toEqual(keys);
  });

  it('master-ddl - two masters creating one name at once leave exactly one collection in etcd', async () => {
    const root = uniqueName('it-ddl');
    const a = await master(root, uniqueName('it-ddl-a'));
    const b = await master(root, uniqueName('it-ddl-b'), { tso: a.tso, ids: a.ids });
    const results = await Promise.allSettled([
      a.ddl.createCollection({ collectionName: 'books', schema: schema() }),
      b.ddl.createCollection({ collectionName: 'books', schema: schema() }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const loser = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(loser.reason).toMatchObject({ code: ErrorCode.AlreadyExists, message: 'collection "books" already exists' });
    const fresh = await MetaTable.load(a.kv);
    expect(fresh.listCollections().map((c) => c.name)).toEqual(['books']);
    expect(a.meta.getCollection({ name: 'books' }).id).toBe(fresh.getCollection({ name: 'books' }).id);
    expect(b.meta.getCollection({ name: 'books' }).id).toBe(fresh.getCollection({ name: 'books' }).id);
  });
});
