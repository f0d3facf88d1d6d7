/**
 * Every Master RPC with bad input, over gRPC on real etcd and Kafka: the call fails with the
 * TidalError code and the message a person can act on, and nothing is half-applied (a failed DDL
 * publishes nothing on the DD or DML channels; a failed assignment or binlog save changes no
 * segment). RPCs without bad input of their own (ShowCollections, GetDdChannel, RegisterProxy,
 * Ping) are checked on a follower (UNAVAILABLE naming the leader; Ping answers `leader: false`)
 * and with a stale `base.targetId` (FAILED_PRECONDITION).
 */
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LOGICAL } from '../../src/common/hybrid-ts.js';
import { MsgType } from '../../src/gen/common.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { DataType } from '../../src/gen/schema.js';
import { SegmentState } from '../../src/gen/segment.js';
import { KafkaMsgStream } from '../../src/mq/kafka/kafka-msg-stream.js';
import type { MasterClient, MasterMethod, PartialRequest } from '../../src/proxy/master-client.js';
import { endpoints } from '../harness/endpoints.js';
import { cleanupNamespace, ErrorCode, failure, masterNamespace, startMaster, type InProcessMaster } from './helpers/master.js';

const MAX_SEGMENT_BYTES = 1024 * 1024;
const ns = masterNamespace('it-master-rpc');
let leader: InProcessMaster;
let follower: InProcessMaster;
let client: MasterClient;
let stream: KafkaMsgStream;

/** What beforeAll creates: collection "books" (2 shards, partition "p1", index "vec_idx", one segment) and "other". */
let books: { id: bigint; vchannels: [string, string]; defaultPartition: bigint; segmentId: bigint };
let other: { id: bigint; vchannels: string[] };

const UNKNOWN_ID = 987_654_321n;

const booksSchema = {
  fields: [
    { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
    { name: 'title', dataType: DataType.VarChar, maxLength: 64 },
    { name: 'vec', dataType: DataType.FloatVector, dim: 8 },
  ],
};

beforeAll(async () => {
  leader = await startMaster(ns, { overrides: { master: { segment: { maxSizeBytes: MAX_SEGMENT_BYTES } } } });
  // A second master on the same root: it stays a follower while the leader lives.
  follower = await startMaster(ns, { waitForLeader: false });
  client = leader.client;
  stream = new KafkaMsgStream({ brokers: (await endpoints()).kafka, clientId: 'tidal-it-master-rpc' });

  const created = await client.call('createCollection', { collectionName: 'books', schema: booksSchema, shardsNum: 2 });
  await client.call('createPartition', { collectionName: 'books', partitionName: 'p1' });
  await client.call('createIndex', { collectionName: 'books', fieldName: 'vec', indexName: 'vec_idx', extraParams: [{ key: 'metric_type', value: 'L2' }] });
  const parts = await client.call('showPartitions', { collectionName: 'books' });
  const vchannels = created.vchannels as [string, string];
  const seg = await client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'books', channelName: vchannels[0], count: 10 }] });
  books = { id: created.collectionId, vchannels, defaultPartition: parts.partitionIds[0]!, segmentId: seg.segIdAssignments[0]!.segmentId };
  const o = await client.call('createCollection', { collectionName: 'other', schema: booksSchema });
  other = { id: o.collectionId, vchannels: o.vchannels };
});

afterAll(async () => {
  // The follower first, so it does not take over (and start serving) while the leader closes.
  await follower?.close();
  await leader?.close();
  await stream?.close();
  await cleanupNamespace(ns);
});

async function expectFailure(call: Promise<unknown>, code: ErrorCode, message: string): Promise<void> {
  expect(await failure(call)).toEqual({ code, message });
}

/** Latest offsets of the DD channel and both DML channels. */
async function channelOffsets(): Promise<Map<string, bigint>> {
  const channels = [`${ns.channelPrefix}-dd`, `${ns.channelPrefix}-dml_0`, `${ns.channelPrefix}-dml_1`];
  return new Map(await Promise.all(channels.map(async (c) => [c, (await stream.offsets(c)).latest] as const)));
}

/**
 * The types of the messages other than TimeTick published since `since` on the DD and DML
 * channels (the time-tick producer keeps writing ticks on the DML channels; a failed DDL must add
 * nothing else).
 */
async function publishedSince(since: Map<string, bigint>): Promise<string[]> {
  const out: string[] = [];
  for (const [channel, from] of since) {
    const { latest } = await stream.offsets(channel);
    if (latest <= from) continue;
    const consumer = await stream.consume(channel, { kind: 'position', position: { channel, msgId: from, timestamp: 0n }, inclusive: true });
    try {
      let next = from;
      for await (const batch of consumer) {
        for (const m of batch) {
          const msg = StreamMsg.decode(m.payload);
          if (msg.msgType !== MsgType.TimeTick) out.push(`${channel}@${m.position.msgId}: ${MsgType[msg.msgType]}`);
          next = m.position.msgId + 1n;
        }
        if (next >= latest) break;
      }
    } finally {
      await consumer.close();
    }
  }
  return out;
}

const notLeader = () => `master ${follower.server.serverId} is not the leader; the leader is master ${leader.server.serverId} at ${hostname()}:${leader.server.port}`;
const staleTarget = () => `request for master ${UNKNOWN_ID} reached master ${leader.server.serverId}; refresh the master address`;
const staleBase = { base: { targetId: UNKNOWN_ID } };

/** A well-formed request for every RPC only the leader serves (all but Ping and GetSysConfigs). */
function leaderCalls(): { [K in MasterMethod]?: PartialRequest<K> } {
  const [v0] = books.vchannels;
  return {
    createCollection: { collectionName: 'f', schema: booksSchema },
    dropCollection: { collectionName: 'books' },
    hasCollection: { collectionName: 'books' },
    describeCollection: { collectionName: 'books' },
    showCollections: {},
    createPartition: { collectionName: 'books', partitionName: 'p9' },
    dropPartition: { collectionName: 'books', partitionName: 'p1' },
    hasPartition: { collectionName: 'books', partitionName: 'p1' },
    showPartitions: { collectionName: 'books' },
    describeSegment: { segmentId: books.segmentId },
    showSegments: { collectionId: books.id },
    createIndex: { collectionName: 'books', fieldName: 'vec' },
    describeIndex: { collectionName: 'books' },
    allocTimestamp: { count: 1 },
    allocId: { count: 1 },
    assignSegmentId: { segmentIdRequests: [{ collectionName: 'books', channelName: v0, count: 1 }] },
    getDdChannel: {},
    flush: { collectionName: 'books' },
    registerProxy: { address: 'p' },
    deregisterProxy: { proxyId: 1n },
    reportProxyTimeTick: { base: { sourceId: 1n }, defaultTimestamp: 1n },
    saveBinlogPaths: { segmentId: books.segmentId, collectionId: books.id, channel: v0 },
    reportTimeTick: { base: { sourceId: 7n }, msgs: [{ channelName: v0, timestamp: 1n }] },
    getRecoveryInfo: { collectionId: books.id },
  };
}

describe('master RPC validation (etcd + Kafka, over gRPC)', () => {
  // ---- collections ----

  it('master-rpc - CreateCollection rejects empty and bad names, duplicates, schemas without one primary key, bad dims, types and shardsNum', async () => {
    const offsets = await channelOffsets();
    const create = (collectionName: string, schema: PartialRequest<'createCollection'>['schema'], shardsNum = 0) =>
      client.call('createCollection', { collectionName, schema, shardsNum });
    const pk = { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true };
    const vec = (dim: number) => ({ name: 'vec', dataType: DataType.FloatVector, dim });

    await expectFailure(create('', booksSchema), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(create('9lives', booksSchema), ErrorCode.InvalidArgument, 'collection name "9lives" is invalid: the first character must be a letter or an underscore');
    await expectFailure(create('books', booksSchema), ErrorCode.AlreadyExists, 'collection "books" already exists');
    await expectFailure(create('c_noschema', undefined), ErrorCode.InvalidArgument, 'collection "c_noschema": a schema is required');
    await expectFailure(create('c_nopk', { fields: [vec(8)] }), ErrorCode.InvalidArgument, 'schema must have exactly one primary key field, found 0');
    await expectFailure(
      create('c_twopk', { fields: [pk, { name: 'pk2', dataType: DataType.Int64, isPrimaryKey: true }] }),
      ErrorCode.InvalidArgument,
      'schema must have exactly one primary key field, found 2 ("pk", "pk2")',
    );
    await expectFailure(
      create('c_floatpk', { fields: [{ name: 'pk', dataType: DataType.Float, isPrimaryKey: true }] }),
      ErrorCode.InvalidArgument,
      'field "pk": a primary key must be Int64 or VarChar, got Float',
    );
    await expectFailure(create('c_dim0', { fields: [pk, vec(0)] }), ErrorCode.InvalidArgument, 'field "vec": dim must be an integer from 1 to 32768, got 0');
    await expectFailure(create('c_dimbig', { fields: [pk, vec(32_769)] }), ErrorCode.InvalidArgument, 'field "vec": dim must be an integer from 1 to 32768, got 32769');
    await expectFailure(
      create('c_type', { fields: [pk, { name: 'odd', dataType: 2 as DataType }] }),
      ErrorCode.InvalidArgument,
      'field "odd": data type 2 is not supported; use one of Bool, Int64, Float, Double, VarChar, FloatVector',
    );
    await expectFailure(
      create('c_varchar', { fields: [pk, { name: 'title', dataType: DataType.VarChar }] }),
      ErrorCode.InvalidArgument,
      'field "title": max_length must be an integer from 1 to 65535, got 0',
    );
    await expectFailure(
      create('c_dup', { fields: [pk, { name: 'pk', dataType: DataType.Double }] }),
      ErrorCode.InvalidArgument,
      'field "pk": field names must be unique; this one is given more than once',
    );
    await expectFailure(create('c_rowid', { fields: [pk, { name: 'RowID', dataType: DataType.Int64 }] }), ErrorCode.InvalidArgument, 'field "RowID": the name is reserved for a system column (RowID, Timestamp)');
    await expectFailure(create('c_shards', booksSchema, -1), ErrorCode.InvalidArgument, 'shardsNum must be 0 (the default) or more, got -1');
    await expectFailure(create('c_shards', booksSchema, 65), ErrorCode.InvalidArgument, 'shardsNum must be an integer from 1 to 64 (0: the default, 1), got 65');

    // Nothing was created or published.
    const names = (await client.call('showCollections', {})).collectionNames;
    expect(names).toEqual(['books', 'other']);
    expect(await publishedSince(offsets)).toEqual([]);
  });

  it('master-rpc - DropCollection rejects an empty name and an unknown collection', async () => {
    const offsets = await channelOffsets();
    await expectFailure(client.call('dropCollection', { collectionName: '' }), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(client.call('dropCollection', { collectionName: 'nope' }), ErrorCode.NotFound, 'collection "nope" not found');
    expect(await publishedSince(offsets)).toEqual([]);
    // Control: the same check sees a DDL that succeeds (on the DD channel and other's one pchannel).
    await client.call('createPartition', { collectionName: 'other', partitionName: 'ctl' });
    expect((await publishedSince(offsets)).map((m) => m.split(': ')[1])).toEqual(['CreatePartition', 'CreatePartition']);
    await client.call('dropPartition', { collectionName: 'other', partitionName: 'ctl' });
  });

  it('master-rpc - HasCollection rejects an empty name', async () => {
    await expectFailure(client.call('hasCollection', { collectionName: '' }), ErrorCode.InvalidArgument, 'collection name must not be empty');
    expect((await client.call('hasCollection', { collectionName: 'nope' })).value).toBe(false);
  });

  it('master-rpc - DescribeCollection rejects a request naming nothing, an unknown name or id, and a time before the collection', async () => {
    await expectFailure(client.call('describeCollection', {}), ErrorCode.InvalidArgument, 'give a collection name or a collection id');
    await expectFailure(client.call('describeCollection', { collectionName: 'nope' }), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(client.call('describeCollection', { collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    const created = (await client.call('describeCollection', { collectionName: 'books' })).createdTimestamp;
    await expectFailure(
      client.call('describeCollection', { collectionName: 'books', timeStamp: created - 1n }),
      ErrorCode.NotFound,
      `collection "books" not found as of timestamp ${created - 1n}`,
    );
  });

  it('master-rpc - ShowCollections (no bad input of its own) answers UNAVAILABLE on a follower and FAILED_PRECONDITION for a stale target', async () => {
    await expectFailure(follower.client.call('showCollections', {}), ErrorCode.Unavailable, notLeader());
    await expectFailure(client.call('showCollections', staleBase), ErrorCode.FailedPrecondition, staleTarget());
    // The same request to the right master (its id as target) is served.
    expect((await client.call('showCollections', { base: { targetId: leader.server.serverId } })).collectionNames).toContain('books');
  });

  // ---- partitions ----

  it('master-rpc - CreatePartition rejects empty and bad names, an unknown collection and duplicates', async () => {
    const offsets = await channelOffsets();
    const create = (collectionName: string, partitionName: string) => client.call('createPartition', { collectionName, partitionName });
    await expectFailure(create('', 'p2'), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(create('books', ''), ErrorCode.InvalidArgument, 'partition name must not be empty');
    await expectFailure(create('books', 'p-2'), ErrorCode.InvalidArgument, 'partition name "p-2" is invalid: use only letters, digits and underscores');
    await expectFailure(create('nope', 'p2'), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(create('books', 'p1'), ErrorCode.AlreadyExists, 'partition "p1" already exists in collection "books"');
    await expectFailure(create('books', '_default'), ErrorCode.AlreadyExists, 'partition "_default" already exists in collection "books"');
    expect((await client.call('showPartitions', { collectionName: 'books' })).partitionNames).toEqual(['_default', 'p1']);
    expect(await publishedSince(offsets)).toEqual([]);
  });

  it('master-rpc - DropPartition rejects the default partition, an unknown partition or collection and empty names', async () => {
    const offsets = await channelOffsets();
    const drop = (collectionName: string, partitionName: string) => client.call('dropPartition', { collectionName, partitionName });
    await expectFailure(drop('books', '_default'), ErrorCode.InvalidArgument, 'the default partition "_default" of collection "books" cannot be dropped');
    await expectFailure(drop('books', 'nope'), ErrorCode.NotFound, 'partition "nope" not found in collection "books"');
    await expectFailure(drop('nope', 'p1'), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(drop('books', ''), ErrorCode.InvalidArgument, 'partition name must not be empty');
    await expectFailure(drop('', 'p1'), ErrorCode.InvalidArgument, 'collection name must not be empty');
    expect((await client.call('showPartitions', { collectionName: 'books' })).partitionNames).toEqual(['_default', 'p1']);
    expect(await publishedSince(offsets)).toEqual([]);
  });

  it('master-rpc - HasPartition rejects empty names and an unknown collection', async () => {
    await expectFailure(client.call('hasPartition', { collectionName: '', partitionName: 'p1' }), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(client.call('hasPartition', { collectionName: 'books', partitionName: '' }), ErrorCode.InvalidArgument, 'partition name must not be empty');
    await expectFailure(client.call('hasPartition', { collectionName: 'nope', partitionName: 'p1' }), ErrorCode.NotFound, 'collection "nope" not found');
    expect((await client.call('hasPartition', { collectionName: 'books', partitionName: 'nope' })).value).toBe(false);
  });

  it('master-rpc - ShowPartitions rejects a request naming no collection and an unknown one', async () => {
    await expectFailure(client.call('showPartitions', {}), ErrorCode.InvalidArgument, 'give a collection name or a collection id');
    await expectFailure(client.call('showPartitions', { collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    await expectFailure(client.call('showPartitions', { collectionName: 'nope' }), ErrorCode.NotFound, 'collection "nope" not found');
  });

  // ---- segments ----

  it('master-rpc - DescribeSegment rejects a zero id, an unknown segment and a segment of another collection', async () => {
    await expectFailure(client.call('describeSegment', { segmentId: 0n }), ErrorCode.InvalidArgument, 'segment id must be positive, got 0');
    await expectFailure(client.call('describeSegment', { segmentId: -5n }), ErrorCode.InvalidArgument, 'segment id must be positive, got -5');
    await expectFailure(client.call('describeSegment', { segmentId: UNKNOWN_ID }), ErrorCode.NotFound, `segment ${UNKNOWN_ID} does not exist`);
    await expectFailure(
      client.call('describeSegment', { segmentId: books.segmentId, collectionId: other.id }),
      ErrorCode.NotFound,
      `segment ${books.segmentId} is not a segment of collection ${other.id}`,
    );
  });

  it('master-rpc - ShowSegments rejects a missing or unknown collection and an unknown partition', async () => {
    await expectFailure(client.call('showSegments', {}), ErrorCode.InvalidArgument, 'collectionId must be given');
    await expectFailure(client.call('showSegments', { collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    await expectFailure(
      client.call('showSegments', { collectionId: books.id, partitionId: UNKNOWN_ID }),
      ErrorCode.NotFound,
      `partition ${UNKNOWN_ID} not found in collection "books"`,
    );
  });

  // ---- indexes ----

  it('master-rpc - CreateIndex rejects empty names, unknown collections and fields, scalar fields, duplicate params and a second index on a field', async () => {
    const offsets = await channelOffsets();
    const create = (req: PartialRequest<'createIndex'>) => client.call('createIndex', req);
    await expectFailure(create({ collectionName: '', fieldName: 'vec' }), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(create({ collectionName: 'books', fieldName: '' }), ErrorCode.InvalidArgument, 'field name must not be empty');
    await expectFailure(create({ collectionName: 'nope', fieldName: 'vec' }), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(create({ collectionName: 'books', fieldName: 'nope' }), ErrorCode.NotFound, 'field "nope" not found in collection "books"');
    await expectFailure(
      create({ collectionName: 'books', fieldName: 'title' }),
      ErrorCode.InvalidArgument,
      'field "title" is VarChar: indexes can only be created on vector fields (FloatVector)',
    );
    await expectFailure(
      create({ collectionName: 'books', fieldName: 'vec', indexName: 'ix2', extraParams: [{ key: 'nlist', value: '1' }, { key: 'nlist', value: '2' }] }),
      ErrorCode.InvalidArgument,
      'index params: key "nlist" is given more than once',
    );
    await expectFailure(
      create({ collectionName: 'books', fieldName: 'vec', indexName: 'ix2' }),
      ErrorCode.AlreadyExists,
      'field "vec" of collection "books" already has index "vec_idx"',
    );
    expect((await client.call('describeIndex', { collectionName: 'books' })).indexDescriptions.map((d) => d.indexName)).toEqual(['vec_idx']);
    expect(await publishedSince(offsets)).toEqual([]);
  });

  it('master-rpc - DescribeIndex rejects an empty or unknown collection, an unknown field and an unknown index', async () => {
    await expectFailure(client.call('describeIndex', { collectionName: '' }), ErrorCode.InvalidArgument, 'collection name must not be empty');
    await expectFailure(client.call('describeIndex', { collectionName: 'nope' }), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(client.call('describeIndex', { collectionName: 'books', fieldName: 'nope' }), ErrorCode.NotFound, 'field "nope" not found in collection "books"');
    await expectFailure(client.call('describeIndex', { collectionName: 'books', indexName: 'nope' }), ErrorCode.NotFound, 'collection "books" has no index "nope"');
    await expectFailure(client.call('describeIndex', { collectionName: 'books', fieldName: 'title' }), ErrorCode.NotFound, 'collection "books" has no index on field "title"');
  });

  // ---- time and identity ----

  it('master-rpc - AllocTimestamp rejects count 0 and a count above 2^18', async () => {
    await expectFailure(client.call('allocTimestamp', { count: 0 }), ErrorCode.InvalidArgument, `count must be from 1 to ${MAX_LOGICAL}, got 0`);
    await expectFailure(client.call('allocTimestamp', { count: MAX_LOGICAL + 1 }), ErrorCode.InvalidArgument, `count must be from 1 to ${MAX_LOGICAL}, got ${MAX_LOGICAL + 1}`);
    expect((await client.call('allocTimestamp', { count: MAX_LOGICAL })).count).toBe(MAX_LOGICAL);
  });

  it('master-rpc - AllocID rejects count 0 and a count above 1,000,000', async () => {
    await expectFailure(client.call('allocId', { count: 0 }), ErrorCode.InvalidArgument, 'count must be from 1 to 1000000, got 0');
    await expectFailure(client.call('allocId', { count: 1_000_001 }), ErrorCode.InvalidArgument, 'count must be from 1 to 1000000, got 1000001');
  });

  it('master-rpc - AssignSegmentID rejects empty and oversized lists, bad counts, channels, collections and partitions, assigning nothing', async () => {
    const [v0, v1] = books.vchannels;
    const before = (await client.call('showSegments', { collectionId: books.id })).segments;
    const assign = (...segmentIdRequests: NonNullable<PartialRequest<'assignSegmentId'>['segmentIdRequests']>) => client.call('assignSegmentId', { segmentIdRequests });
    const ok = { collectionName: 'books', channelName: v1, count: 1 };

    await expectFailure(assign(), ErrorCode.InvalidArgument, 'segmentIdRequests must not be empty');
    await expectFailure(assign(...Array.from({ length: 1001 }, () => ok)), ErrorCode.InvalidArgument, 'at most 1000 segmentIdRequests per call, got 1001');
    await expectFailure(assign({ ...ok, count: 0 }), ErrorCode.InvalidArgument, 'segmentIdRequests[0]: count must be at least 1, got 0');
    // A bad second request fails the call: the good first one is not assigned either.
    await expectFailure(assign(ok, { ...ok, channelName: '' }), ErrorCode.InvalidArgument, 'segmentIdRequests[1]: channelName (the vchannel) must not be empty');
    await expectFailure(assign({ channelName: v0, count: 1 }), ErrorCode.InvalidArgument, 'segmentIdRequests[0]: collection name must not be empty');
    await expectFailure(assign({ ...ok, collectionName: 'nope' }), ErrorCode.NotFound, 'segmentIdRequests[0]: collection "nope" not found');
    await expectFailure(assign({ collectionId: UNKNOWN_ID, channelName: v0, count: 1 }), ErrorCode.NotFound, `segmentIdRequests[0]: collection ${UNKNOWN_ID} not found`);
    await expectFailure(
      assign({ ...ok, channelName: other.vchannels[0]! }),
      ErrorCode.InvalidArgument,
      `segmentIdRequests[0]: ${JSON.stringify(other.vchannels[0])} is not a vchannel of collection "books" (its vchannels: ${v0}, ${v1})`,
    );
    await expectFailure(assign({ ...ok, partitionName: 'nope' }), ErrorCode.NotFound, 'segmentIdRequests[0]: partition "nope" not found in collection "books"');
    await expectFailure(assign({ ...ok, partitionId: UNKNOWN_ID }), ErrorCode.NotFound, `segmentIdRequests[0]: partition ${UNKNOWN_ID} not found in collection "books"`);
    // Row size: 16 (RowID, Timestamp) + 8 (pk) + 64 (title) + 32 (vec) = 120 bytes; 1 MiB / 120 = 8738 rows.
    await expectFailure(
      assign({ ...ok, count: 8739 }),
      ErrorCode.InvalidArgument,
      `segmentIdRequests[0]: count 8739 is above one segment's capacity of 8738 rows (${MAX_SEGMENT_BYTES} bytes / 120 bytes per row); split the insert`,
    );

    const after = (await client.call('showSegments', { collectionId: books.id })).segments;
    expect(after).toEqual(before);
  });

  // ---- channels, flush, config ----

  it('master-rpc - GetDdChannel (no bad input of its own) answers UNAVAILABLE on a follower and FAILED_PRECONDITION for a stale target', async () => {
    await expectFailure(follower.client.call('getDdChannel', {}), ErrorCode.Unavailable, notLeader());
    await expectFailure(client.call('getDdChannel', staleBase), ErrorCode.FailedPrecondition, staleTarget());
    expect((await client.call('getDdChannel', {})).value).toBe(`${ns.channelPrefix}-dd`);
  });

  it('master-rpc - Flush rejects a request naming no collection and an unknown one', async () => {
    await expectFailure(client.call('flush', {}), ErrorCode.InvalidArgument, 'give a collection name or a collection id');
    await expectFailure(client.call('flush', { collectionName: 'nope' }), ErrorCode.NotFound, 'collection "nope" not found');
    await expectFailure(client.call('flush', { collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    // books' growing segment is untouched.
    expect((await client.call('describeSegment', { segmentId: books.segmentId })).segment!.state).toBe(SegmentState.Growing);
  });

  it('master-rpc - GetSysConfigs rejects an empty request, an empty key and an unknown key', async () => {
    await expectFailure(client.call('getSysConfigs', {}), ErrorCode.InvalidArgument, 'give at least one key or key prefix');
    await expectFailure(client.call('getSysConfigs', { keys: [''] }), ErrorCode.InvalidArgument, 'a config key must not be empty');
    await expectFailure(client.call('getSysConfigs', { keys: ['master.nope'] }), ErrorCode.NotFound, 'config key "master.nope" not found');
    // An unknown prefix is no error: it matches nothing.
    expect((await client.call('getSysConfigs', { keyPrefixes: ['nope.'] })).configs).toEqual([]);
    // Any master answers it, the follower too.
    expect((await follower.client.call('getSysConfigs', { keys: ['master.dmlChannelNum'] })).configs).toEqual([{ key: 'master.dmlChannelNum', value: '2' }]);
  });

  // ---- proxies ----

  it('master-rpc - RegisterProxy (no bad input of its own) answers UNAVAILABLE on a follower and FAILED_PRECONDITION for a stale target', async () => {
    await expectFailure(follower.client.call('registerProxy', { address: 'proxy-a' }), ErrorCode.Unavailable, notLeader());
    await expectFailure(client.call('registerProxy', { ...staleBase, address: 'proxy-a' }), ErrorCode.FailedPrecondition, staleTarget());
  });

  it('master-rpc - DeregisterProxy rejects an unknown proxy and a second deregistration', async () => {
    await expectFailure(client.call('deregisterProxy', { proxyId: 0n }), ErrorCode.InvalidArgument, 'proxyId must be the id RegisterProxy answered, got 0');
    await expectFailure(client.call('deregisterProxy', { proxyId: UNKNOWN_ID }), ErrorCode.NotFound, `proxy ${UNKNOWN_ID} is not registered (or its session lapsed)`);
    const { proxyId } = await client.call('registerProxy', { address: 'proxy-b' });
    await client.call('deregisterProxy', { proxyId });
    await expectFailure(client.call('deregisterProxy', { proxyId }), ErrorCode.NotFound, `proxy ${proxyId} is not registered (or its session lapsed)`);
  });

  it('master-rpc - ReportProxyTimeTick rejects a missing proxy id, mismatched lists, a zero tick and an unregistered proxy', async () => {
    const { proxyId, ttlMs } = await client.call('registerProxy', { address: 'proxy-c' });
    const ts = (await client.call('allocTimestamp', { count: 1 })).timestamp;
    const [v0, v1] = books.vchannels;
    await expectFailure(client.call('reportProxyTimeTick', { defaultTimestamp: ts }), ErrorCode.InvalidArgument, 'base.sourceId must be the proxy id from RegisterProxy');
    await expectFailure(
      client.call('reportProxyTimeTick', { base: { sourceId: proxyId }, channelNames: [v0, v1], timestamps: [ts], defaultTimestamp: ts }),
      ErrorCode.InvalidArgument,
      'channelNames and timestamps must have the same length, got 2 and 1',
    );
    await expectFailure(client.call('reportProxyTimeTick', { base: { sourceId: proxyId } }), ErrorCode.InvalidArgument, 'defaultTimestamp must be a TSO timestamp, got 0');
    await expectFailure(
      client.call('reportProxyTimeTick', { base: { sourceId: UNKNOWN_ID }, defaultTimestamp: ts }),
      ErrorCode.FailedPrecondition,
      `proxy ${UNKNOWN_ID} is not registered (never, deregistered, or silent for more than ${ttlMs} ms): register again`,
    );
    // The registered proxy's well-formed tick is taken.
    await client.call('reportProxyTimeTick', { base: { sourceId: proxyId }, channelNames: [v0], timestamps: [ts], defaultTimestamp: ts });
    await client.call('deregisterProxy', { proxyId });
  });

  // ---- DataNodes ----

  it('master-rpc - SaveBinlogPaths rejects bad segment ids, channels, collections and binlogs, and a sender that does not own the vchannel, storing nothing', async () => {
    const [v0, v1] = books.vchannels;
    const binlog = { logId: 1n, logPath: 'insert_log/x/y/z/1.arrow', entriesNum: 10n };
    const base = { base: { sourceId: 7n }, segmentId: books.segmentId, collectionId: books.id, partitionId: books.defaultPartition, channel: v0 };
    const save = (req: PartialRequest<'saveBinlogPaths'>) => client.call('saveBinlogPaths', req);

    await expectFailure(save({ ...base, segmentId: 0n }), ErrorCode.InvalidArgument, 'segmentId must be positive, got 0');
    await expectFailure(save({ ...base, channel: '' }), ErrorCode.InvalidArgument, 'channel (the vchannel) must not be empty');
    await expectFailure(save({ ...base, collectionId: 0n }), ErrorCode.InvalidArgument, 'a collection name or id is required');
    await expectFailure(save({ ...base, collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    await expectFailure(save({ ...base, channel: other.vchannels[0]! }), ErrorCode.InvalidArgument, `${JSON.stringify(other.vchannels[0])} is not a vchannel of collection "books"`);
    await expectFailure(save({ ...base, insertLogs: [{ ...binlog, logPath: '' }] }), ErrorCode.InvalidArgument, 'insertLogs[0]: logPath must not be empty');
    await expectFailure(save({ ...base, statsLogs: [{ ...binlog, logId: -1n }] }), ErrorCode.InvalidArgument, 'statsLogs[0]: logId must not be negative, got -1');
    await expectFailure(save({ ...base, segmentId: UNKNOWN_ID, insertLogs: [binlog] }), ErrorCode.NotFound, `segment ${UNKNOWN_ID} does not exist`);
    await expectFailure(
      save({ ...base, channel: v1, insertLogs: [binlog] }),
      ErrorCode.InvalidArgument,
      `segment ${books.segmentId} receives rows on ${JSON.stringify(v0)}, not ${JSON.stringify(v1)}`,
    );
    await expectFailure(
      save({ ...base, insertLogs: [binlog], channelCheckpoint: { channelName: '', msgId: 1n, timestamp: 1n } }),
      ErrorCode.InvalidArgument,
      'channelCheckpoint.channelName must not be empty',
    );

    // Well-formed, but only the DataNode the vchannel is assigned to may write it (none runs here).
    await expectFailure(
      save({ ...base, insertLogs: [binlog], flushed: true }),
      ErrorCode.FailedPrecondition,
      `vchannel ${JSON.stringify(v0)} is not assigned to any DataNode, so DataNode 7 may not write to it`,
    );

    const seg = (await client.call('describeSegment', { segmentId: books.segmentId })).segment!;
    expect({ state: seg.state, insertLogs: seg.insertLogs, statsLogs: seg.statsLogs, dmlPosition: seg.dmlPosition }).toEqual({
      state: SegmentState.Growing,
      insertLogs: [],
      statsLogs: [],
      dmlPosition: undefined,
    });
    const recovery = await client.call('getRecoveryInfo', { collectionId: books.id, vchannel: v0 });
    expect(recovery.channels[0]!.seekPosition).toEqual((await client.call('describeCollection', { collectionId: books.id })).startPositions[0]);
  });

  it('master-rpc - ReportTimeTick rejects a missing node id, no messages, an empty channel and a zero tick', async () => {
    const ts = (await client.call('allocTimestamp', { count: 1 })).timestamp;
    const [v0] = books.vchannels;
    await expectFailure(client.call('reportTimeTick', { msgs: [{ channelName: v0, timestamp: ts }] }), ErrorCode.InvalidArgument, 'base.sourceId must be the DataNode id');
    await expectFailure(client.call('reportTimeTick', { base: { sourceId: 7n }, msgs: [] }), ErrorCode.InvalidArgument, 'msgs must hold at least one DataNodeTtMsg');
    await expectFailure(
      client.call('reportTimeTick', { base: { sourceId: 7n }, msgs: [{ channelName: v0, timestamp: ts }, { channelName: '', timestamp: ts }] }),
      ErrorCode.InvalidArgument,
      'msgs[1]: channelName must not be empty',
    );
    await expectFailure(client.call('reportTimeTick', { base: { sourceId: 7n }, msgs: [{ channelName: v0, timestamp: 0n }] }), ErrorCode.InvalidArgument, 'msgs[0]: timestamp must be a TSO timestamp, got 0');
    await expectFailure(
      client.call('reportTimeTick', { base: { sourceId: 7n }, msgs: [{ channelName: v0, timestamp: ts }, { channelName: 'nope_1v0', timestamp: ts }] }),
      ErrorCode.NotFound,
      'msgs[1]: "nope_1v0" is not a vchannel of any collection',
    );
    // No DataNode runs here, so nobody owns the vchannel: the tick is ignored, and the caller told.
    await expectFailure(
      client.call('reportTimeTick', { base: { sourceId: 7n }, msgs: [{ channelName: v0, timestamp: ts }] }),
      ErrorCode.FailedPrecondition,
      `DataNode 7 does not own ${JSON.stringify(v0)} (not assigned): those ticks were ignored, the others applied`,
    );
    // Not kept either (nodeTs reads reports of unregistered nodes too).
    expect((await leader.server.leaderCore()).hardBarrier.nodeTs(7n)).toBeUndefined();
  });

  it('master-rpc - GetRecoveryInfo rejects a missing or unknown collection and a vchannel of another collection', async () => {
    await expectFailure(client.call('getRecoveryInfo', {}), ErrorCode.InvalidArgument, 'collectionId must be given');
    await expectFailure(client.call('getRecoveryInfo', { collectionId: UNKNOWN_ID }), ErrorCode.NotFound, `collection ${UNKNOWN_ID} not found`);
    await expectFailure(
      client.call('getRecoveryInfo', { collectionId: books.id, vchannel: other.vchannels[0]! }),
      ErrorCode.NotFound,
      `${JSON.stringify(other.vchannels[0])} is not a vchannel of collection "books"`,
    );
    const { partitionIds } = await client.call('showPartitions', { collectionName: 'books' });
    await expectFailure(
      client.call('getRecoveryInfo', { collectionId: books.id, partitionIds: [books.defaultPartition, UNKNOWN_ID] }),
      ErrorCode.NotFound,
      `partition ${UNKNOWN_ID} not found in collection "books" (its partitions: ${partitionIds.join(', ')})`,
    );
  });

  it('master-rpc - GetRecoveryInfo with partitionIds returns only those partitions\' segments', async () => {
    const [v0] = books.vchannels;
    const { partitionIds } = await client.call('showPartitions', { collectionName: 'books' });
    const p1 = partitionIds.find((id) => id !== books.defaultPartition)!;
    const segmentsOf = async (ids: bigint[]) => {
      const { channels } = await client.call('getRecoveryInfo', { collectionId: books.id, vchannel: v0, partitionIds: ids });
      expect(channels.map((c) => c.channelName)).toEqual([v0]);
      return { ids: channels[0]!.unflushedSegments.map((s) => s.segmentId), partitionIds: channels[0]!.partitionIds };
    };
    expect(await segmentsOf([books.defaultPartition])).toEqual({ ids: [books.segmentId], partitionIds: [books.defaultPartition] });
    expect(await segmentsOf([p1])).toEqual({ ids: [], partitionIds: [p1] });
    const all = await segmentsOf([]);
    expect(all.ids).toContain(books.segmentId);
    expect([...all.partitionIds].sort()).toEqual([...partitionIds].sort());
  });

  it('master-rpc - GetRecoveryInfo without partitionIds still lists the segments of a dropped partition', async () => {
    // A DataNode replaying the DropPartition needs them: to drop them, and to skip their rows.
    const [v0] = other.vchannels;
    await client.call('createPartition', { collectionName: 'other', partitionName: 'gone' });
    const [seg] = (await client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'other', partitionName: 'gone', channelName: v0!, count: 3 }] })).segIdAssignments;
    await client.call('dropPartition', { collectionName: 'other', partitionName: 'gone' });
    const { channels } = await client.call('getRecoveryInfo', { collectionId: other.id, vchannel: v0! });
    const listed = [...channels[0]!.unflushedSegments, ...channels[0]!.flushedSegments].map((s) => s.segmentId).concat(channels[0]!.droppedSegmentIds);
    expect(listed).toContain(seg!.segmentId);
    expect(channels[0]!.partitionIds).not.toContain(seg!.partitionId);
  });

  // ---- health and roles ----

  it('master-rpc - Ping (no input, no failure) tells the follower from the leader', async () => {
    expect(await follower.client.call('ping', {})).toMatchObject({ serverId: follower.server.serverId, leader: false });
    expect(await client.call('ping', {})).toMatchObject({ serverId: leader.server.serverId, leader: true });
  });

  it('master-rpc - a follower answers every leader RPC with UNAVAILABLE naming the leader', async () => {
    const calls = leaderCalls();
    const answers: Record<string, { code: ErrorCode; message: string }> = {};
    for (const [method, req] of Object.entries(calls)) {
      answers[method] = await failure(follower.client.call(method as MasterMethod, req as never));
    }
    const expected = Object.fromEntries(Object.keys(calls).map((m) => [m, { code: ErrorCode.Unavailable, message: notLeader() }]));
    expect(answers).toEqual(expected);
    // And the leader still has everything the follower refused to touch.
    expect((await client.call('showPartitions', { collectionName: 'books' })).partitionNames).toEqual(['_default', 'p1']);
  });

  it('master-rpc - every leader RPC refuses a request whose base.targetId names another master, and does nothing', async () => {
    const offsets = await channelOffsets();
    const answers: Record<string, { code: ErrorCode; message: string }> = {};
    for (const [method, req] of Object.entries(leaderCalls())) {
      const body = req as { base?: object };
      answers[method] = await failure(client.call(method as MasterMethod, { ...body, base: { ...body.base, targetId: UNKNOWN_ID } } as never));
    }
    expect(Object.keys(answers)).toHaveLength(24);
    expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((m) => [m, { code: ErrorCode.FailedPrecondition, message: staleTarget() }])));
    // Nothing was created, dropped, sealed or published.
    expect((await client.call('showCollections', {})).collectionNames).toEqual(['books', 'other']);
    expect((await client.call('showPartitions', { collectionName: 'books' })).partitionNames).toEqual(['_default', 'p1']);
    expect((await client.call('describeSegment', { segmentId: books.segmentId })).segment!.state).toBe(SegmentState.Growing);
    expect(await publishedSince(offsets)).toEqual([]);
  });
});
