/**
 * The master over gRPC, on real etcd and Kafka: a `MasterServer` in this process (and `tidal
 * master` processes for the TSO load and the failover), called through `MasterClient` as proxies
 * and DataNodes do. Concurrent TSO and ID allocation, collections and partitions, segment
 * assignment (capacity, expiry), Flush (seals, then waits for DataNodes), sys configs, and the
 * election: a second master answers UNAVAILABLE naming the leader, and takes over once the leader
 * PROCESS is killed with SIGKILL.
 */
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMs, parseTs } from '../../src/common/hybrid-ts.js';
import { MsgType } from '../../src/gen/common.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { DataType } from '../../src/gen/schema.js';
import { SegmentInfo, SegmentState } from '../../src/gen/segment.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream } from '../../src/mq/kafka/kafka-msg-stream.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { endpoints } from '../harness/endpoints.js';
import {
  cleanupNamespace,
  ErrorCode,
  failure,
  killAllMasterProcesses,
  masterNamespace,
  processExists,
  spawnMaster,
  startMaster,
  waitForLeader,
  type InProcessMaster,
  type MasterNamespace,
} from './helpers/master.js';

/** 1 MiB segments (the config's minimum), so a wide row gives a small capacity. */
const MAX_SEGMENT_BYTES = 1024 * 1024;
const ALLOCATION_EXPIRE_MS = 2_000;

const ns: MasterNamespace = masterNamespace('it-master-server');
const namespaces: MasterNamespace[] = [ns];
let master: InProcessMaster;
let client: MasterClient;
let stream: KafkaMsgStream;
let kv: EtcdKV;

beforeAll(async () => {
  // A 10 s session: no test on this master needs it to lose its lease quickly, and a busy event
  // loop must not cost it its leadership.
  master = await startMaster(ns, {
    overrides: { master: { sessionTtlMs: 10_000, segment: { maxSizeBytes: MAX_SEGMENT_BYTES, allocationExpireMs: ALLOCATION_EXPIRE_MS } } },
  });
  client = master.client;
  const ep = await endpoints();
  stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-master-server' });
  kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
});

afterAll(async () => {
  await killAllMasterProcesses();
  await master?.close();
  await stream?.close();
  await kv?.close();
  for (const n of namespaces) await cleanupNamespace(n);
});

/** pk Int64 + FloatVector(dim). */
const schema = (dim: number) => ({
  fields: [
    { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
    { name: 'vec', dataType: DataType.FloatVector, dim },
  ],
});

/** Runs `worker(i)` for i in [0, n) with at most `limit` running at once. */
async function bounded(n: number, limit: number, worker: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) {
      const i = next;
      next += 1;
      await worker(i);
    }
  });
  await Promise.all(lanes);
}

const now = async () => (await client.call('allocTimestamp', { count: 1 })).timestamp;

describe('master server (etcd + Kafka, over gRPC)', () => {
  it('master-server - 8 clients × 10,000 AllocTimestamp get unique timestamps, increasing in real-time order', async () => {
    const CLIENTS = 8;
    const PER_CLIENT = 10_000;
    const IN_FLIGHT = 16;
    // The master runs as its own process (`tidal master`), so it does not share this event loop
    // (or this CPU) with 128 client lanes.
    const nsTso = masterNamespace('it-master-tso');
    namespaces.push(nsTso);
    const proc = await spawnMaster(nsTso);
    const clients = Array.from({ length: CLIENTS }, () => new MasterClient(proc.address));
    // One logical clock for sends and receipts: JS runs callbacks one at a time, so `sent`/`recv`
    // order the calls exactly as they happened.
    let clock = 0;
    const records: { client: number; sent: number; recv: number; ts: bigint; count: number }[] = [];
    const wallBefore = Date.now();
    try {
      expect(await waitForLeader(clients[0]!)).toBe(proc.serverId);
      await Promise.all(
        clients.map((c, ci) =>
          bounded(PER_CLIENT, IN_FLIGHT, async () => {
            clock += 1;
            const sent = clock;
            const res = await c.call('allocTimestamp', { count: 1 });
            clock += 1;
            records.push({ client: ci, sent, recv: clock, ts: res.timestamp, count: res.count });
          }),
        ),
      );
    } finally {
      for (const c of clients) c.close();
      await proc.kill();
    }
    const wallAfter = Date.now();

    expect(records).toHaveLength(CLIENTS * PER_CLIENT);
    expect(records.every((r) => r.count === 1)).toBe(true);
    expect(new Set(records.map((r) => r.ts)).size).toBe(records.length);

    // Real-time order: a call sent after another's answer arrived gets a larger timestamp. Within
    // one client that is its sequence being strictly increasing; across clients, linearizability.
    const byRecv = [...records].sort((a, b) => a.recv - b.recv);
    const prefixMax: bigint[] = [];
    for (const r of byRecv) prefixMax.push(prefixMax.length === 0 || r.ts > prefixMax[prefixMax.length - 1]! ? r.ts : prefixMax[prefixMax.length - 1]!);
    const answeredBefore = (sent: number) => {
      let lo = 0;
      let hi = byRecv.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (byRecv[mid]!.recv < sent) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const violations = records.filter((r) => {
      const k = answeredBefore(r.sent);
      return k > 0 && r.ts <= prefixMax[k - 1]!;
    });
    expect(violations).toEqual([]);
    for (let ci = 0; ci < CLIENTS; ci += 1) {
      const mine = byRecv.filter((r) => r.client === ci);
      expect(mine).toHaveLength(PER_CLIENT);
    }

    // Hybrid timestamps carry wall-clock milliseconds (a fresh root: no saved window ahead of now).
    const physical = records.map((r) => parseTs(r.ts).physicalMs);
    expect(physical.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(wallBefore - 5_000);
    expect(physical.reduce((a, b) => Math.max(a, b))).toBeLessThanOrEqual(wallAfter + 5_000);
  }, 120_000);

  it('master-server - AllocID ranges from concurrent clients never overlap', async () => {
    const CLIENTS = 8;
    const PER_CLIENT = 250;
    const clients = Array.from({ length: CLIENTS }, () => new MasterClient(master.address));
    const ranges: { first: bigint; count: number; asked: number }[] = [];
    try {
      await Promise.all(
        clients.map((c, ci) =>
          bounded(PER_CLIENT, 16, async (i) => {
            const asked = 1 + ((ci * 7919 + i * 104_729) % 1000);
            const res = await c.call('allocId', { count: asked });
            ranges.push({ first: res.id, count: res.count, asked });
          }),
        ),
      );
    } finally {
      for (const c of clients) c.close();
    }
    expect(ranges).toHaveLength(CLIENTS * PER_CLIENT);
    expect(ranges.filter((r) => r.count !== r.asked)).toEqual([]);
    expect(ranges.every((r) => r.first > 0n)).toBe(true);
    const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    const overlaps = sorted.filter((r, i) => i > 0 && r.first < sorted[i - 1]!.first + BigInt(sorted[i - 1]!.count));
    expect(overlaps).toEqual([]);
  });

  it('master-server - CreateCollection, then DescribeCollection returns its vchannels, pchannels and start positions (on Kafka)', async () => {
    const before = await now();
    const created = await client.call('createCollection', { collectionName: 'described', schema: schema(8), shardsNum: 3 });
    expect(created.vchannels).toHaveLength(3);
    const byName = await client.call('describeCollection', { collectionName: 'described' });
    const byId = await client.call('describeCollection', { collectionId: created.collectionId });
    expect(byId).toEqual(byName);

    const id = created.collectionId;
    const pchannels = [`${ns.channelPrefix}-dml_0`, `${ns.channelPrefix}-dml_1`];
    expect(byName).toMatchObject({ collectionId: id, collectionName: 'described', shardsNum: 3, vchannels: created.vchannels });
    expect(byName.pchannels).toHaveLength(3);
    for (const [i, p] of byName.pchannels.entries()) {
      expect(pchannels).toContain(p);
      expect(byName.vchannels[i]).toBe(`${p}_${id}v${i}`);
    }
    // Shards are spread over both pchannels.
    expect(new Set(byName.pchannels).size).toBe(2);
    expect(byName.createdTimestamp).toBeGreaterThan(before);
    expect(byName.schema?.fields.map((f) => [f.name, f.fieldId, f.dataType, f.dim, f.isPrimaryKey])).toEqual([
      ['pk', 100n, DataType.Int64, 0, true],
      ['vec', 101n, DataType.FloatVector, 8, false],
    ]);

    // Each start position is the CreateCollection message of its vchannel on its pchannel.
    expect(byName.startPositions).toHaveLength(3);
    for (const [i, pos] of byName.startPositions.entries()) {
      expect(pos).toMatchObject({ channelName: byName.pchannels[i], timestamp: byName.createdTimestamp });
      const consumer = await stream.consume(pos.channelName, {
        kind: 'position',
        position: { channel: pos.channelName, msgId: pos.msgId, timestamp: pos.timestamp },
        inclusive: true,
      });
      try {
        const first = (await consumer[Symbol.asyncIterator]().next()).value as { position: { msgId: bigint }; payload: Buffer }[];
        expect(first[0]!.position.msgId).toBe(pos.msgId);
        const msg = StreamMsg.decode(first[0]!.payload);
        expect(msg).toMatchObject({ msgType: MsgType.CreateCollection, vchannel: byName.vchannels[i], collectionId: id });
      } finally {
        await consumer.close();
      }
    }

    // The DD channel is the one GetDdChannel names, and carries the DDL too.
    const dd = await client.call('getDdChannel', {});
    expect(dd.value).toBe(`${ns.channelPrefix}-dd`);
    const { latest } = await stream.offsets(dd.value);
    expect(latest).toBeGreaterThan(0n);
  });

  it('master-server - ShowCollections, partitions and drops round-trip', async () => {
    const alpha = await client.call('createCollection', { collectionName: 'alpha', schema: schema(4) });
    const beta = await client.call('createCollection', { collectionName: 'beta', schema: schema(4), shardsNum: 2 });
    const shown = await client.call('showCollections', {});
    expect(shown.collectionNames).toEqual([...shown.collectionNames].sort());
    expect(shown.collectionIds).toHaveLength(shown.collectionNames.length);
    expect(shown.createdTimestamps).toHaveLength(shown.collectionNames.length);
    for (const [name, id] of [
      ['alpha', alpha.collectionId],
      ['beta', beta.collectionId],
    ] as const) {
      const i = shown.collectionNames.indexOf(name);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(shown.collectionIds[i]).toBe(id);
      expect(shown.createdTimestamps[i]).toBe((await client.call('describeCollection', { collectionName: name })).createdTimestamp);
    }
    expect((await client.call('hasCollection', { collectionName: 'alpha' })).value).toBe(true);
    expect((await client.call('hasCollection', { collectionName: 'gamma' })).value).toBe(false);

    // Partitions: _default is there from the start; create, list by name and id, drop.
    await client.call('createPartition', { collectionName: 'alpha', partitionName: 'p2024' });
    const parts = await client.call('showPartitions', { collectionName: 'alpha' });
    expect(parts.partitionNames).toEqual(['_default', 'p2024']);
    expect(new Set(parts.partitionIds).size).toBe(2);
    expect(parts.createdTimestamps[1]!).toBeGreaterThan(parts.createdTimestamps[0]!);
    expect(await client.call('showPartitions', { collectionId: alpha.collectionId })).toEqual(parts);
    expect((await client.call('hasPartition', { collectionName: 'alpha', partitionName: 'p2024' })).value).toBe(true);
    await client.call('dropPartition', { collectionName: 'alpha', partitionName: 'p2024' });
    expect((await client.call('hasPartition', { collectionName: 'alpha', partitionName: 'p2024' })).value).toBe(false);
    const after = await client.call('showPartitions', { collectionName: 'alpha' });
    expect(after.partitionNames).toEqual(['_default']);
    expect(after.partitionIds).toEqual([parts.partitionIds[0]]);

    // Dropping beta: gone now, still there as of a timestamp taken before the drop.
    const beforeDrop = await now();
    await client.call('dropCollection', { collectionName: 'beta' });
    expect((await client.call('hasCollection', { collectionName: 'beta' })).value).toBe(false);
    expect((await client.call('hasCollection', { collectionName: 'beta', timeStamp: beforeDrop })).value).toBe(true);
    expect((await client.call('showCollections', {})).collectionNames).not.toContain('beta');
    expect((await client.call('showCollections', { timeStamp: beforeDrop })).collectionNames).toContain('beta');
    expect(await failure(client.call('describeCollection', { collectionId: beta.collectionId }))).toEqual({
      code: ErrorCode.NotFound,
      message: `collection ${beta.collectionId} ("beta") was dropped`,
    });
    // The name is free again: a new collection gets a new id.
    const beta2 = await client.call('createCollection', { collectionName: 'beta', schema: schema(4) });
    expect(beta2.collectionId).not.toBe(beta.collectionId);
  });

  it('master-server - AssignSegmentID fills a segment to its capacity, then opens another; allocations expire in TSO time', async () => {
    // 16 (RowID, Timestamp) + 8 (pk) + 4 × 8186 (vec) = 32,768 bytes a row: 1 MiB holds 32 rows.
    const CAPACITY = 32;
    const coll = await client.call('createCollection', { collectionName: 'wide', schema: schema(8186), shardsNum: 2 });
    const [v0, v1] = coll.vchannels as [string, string];
    const defaultPartition = (await client.call('showPartitions', { collectionName: 'wide' })).partitionIds[0]!;

    const t0 = await now();
    const first = await client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'wide', channelName: v0, count: 20 }] });
    const t1 = await now();
    expect(first.segIdAssignments).toHaveLength(1);
    const a = first.segIdAssignments[0]!;
    expect(a).toMatchObject({ count: 20, channelName: v0, collectionId: coll.collectionId, partitionId: defaultPartition, requestIndex: 0 });
    // Expiry: the TSO time of the call plus allocationExpireMs.
    expect(a.expireTime).toBeGreaterThan(addMs(t0, ALLOCATION_EXPIRE_MS));
    expect(a.expireTime).toBeLessThan(addMs(t1, ALLOCATION_EXPIRE_MS));
    const segA = (await client.call('describeSegment', { segmentId: a.segmentId })).segment!;
    expect(segA).toMatchObject({ state: SegmentState.Growing, maxRowNum: BigInt(CAPACITY), insertChannel: v0, collectionId: coll.collectionId });

    // 12 rows are left in A: 20 more fill it (sealed by capacity) and spill 8 into B.
    const second = await client.call('assignSegmentId', { segmentIdRequests: [{ collectionId: coll.collectionId, partitionId: defaultPartition, channelName: v0, count: 20 }] });
    expect(second.segIdAssignments.map((x) => [x.segmentId === a.segmentId, x.count, x.requestIndex])).toEqual([
      [true, 12, 0],
      [false, 8, 0],
    ]);
    const b = second.segIdAssignments[1]!;
    expect(b.expireTime).toBeGreaterThan(a.expireTime);
    const sealedA = (await client.call('describeSegment', { segmentId: a.segmentId, collectionId: coll.collectionId })).segment!;
    expect(sealedA).toMatchObject({ state: SegmentState.Sealed, lastExpireTime: b.expireTime });
    expect((await client.call('describeSegment', { segmentId: b.segmentId })).segment!.state).toBe(SegmentState.Growing);

    // One call, two vchannels: each request answered on its own channel and segment.
    const both = await client.call('assignSegmentId', {
      segmentIdRequests: [
        { collectionName: 'wide', channelName: v1, count: 5 },
        { collectionName: 'wide', channelName: v0, count: 4 },
      ],
    });
    expect(both.segIdAssignments.map((x) => [x.requestIndex, x.channelName, x.count])).toEqual([
      [0, v1, 5],
      [1, v0, 4],
    ]);
    expect(both.segIdAssignments[1]!.segmentId).toBe(b.segmentId);
    expect([a.segmentId, b.segmentId]).not.toContain(both.segIdAssignments[0]!.segmentId);

    // More than one whole segment at once is refused, and changes nothing.
    expect(await failure(client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'wide', channelName: v0, count: CAPACITY + 1 }] }))).toEqual({
      code: ErrorCode.InvalidArgument,
      message: `segmentIdRequests[0]: count ${CAPACITY + 1} is above one segment's capacity of ${CAPACITY} rows (${MAX_SEGMENT_BYTES} bytes / 32768 bytes per row); split the insert`,
    });
    const shown = await client.call('showSegments', { collectionId: coll.collectionId });
    expect(shown.segmentIds).toHaveLength(3);
    expect(shown.segments.map((s) => [s.segmentId, s.state])).toEqual(
      [
        [a.segmentId, SegmentState.Sealed],
        [b.segmentId, SegmentState.Growing],
        [both.segIdAssignments[0]!.segmentId, SegmentState.Growing],
      ].sort((x, y) => ((x[0] as bigint) < (y[0] as bigint) ? -1 : 1)),
    );
  });

  it('master-server - Flush seals the growing segments (ShowSegments and etcd say Sealed), then waits for DataNodes to flush them', async () => {
    const coll = await client.call('createCollection', { collectionName: 'flushed', schema: schema(8), shardsNum: 2 });
    const [v0, v1] = coll.vchannels as [string, string];
    const assigned = await client.call('assignSegmentId', {
      segmentIdRequests: [
        { collectionName: 'flushed', channelName: v0, count: 10 },
        { collectionName: 'flushed', channelName: v1, count: 10 },
      ],
    });
    const [s0, s1] = assigned.segIdAssignments.map((x) => x.segmentId) as [bigint, bigint];
    expect(s0).not.toBe(s1);
    const beforeFlush = (await client.call('showSegments', { collectionId: coll.collectionId })).segments;
    // ShowSegments lists by segment id.
    const byId = (state: SegmentState) => [s0, s1].sort((x, y) => (x < y ? -1 : 1)).map((id) => [id, state]);
    expect(beforeFlush.map((s) => [s.segmentId, s.state])).toEqual(byId(SegmentState.Growing));

    // Flush answers once DataNodes have flushed what it sealed. No DataNode runs here, so it seals,
    // waits until just before the caller's deadline, and answers TIMEOUT naming what is pending.
    const impatient = new MasterClient(master.address, { deadlineMs: 1_500 });
    try {
      const timedOut = await failure(impatient.call('flush', { collectionName: 'flushed' }));
      expect(timedOut.code).toBe(ErrorCode.Timeout);
      const m = /^segments not flushed within \d+ ms: (.*)$/.exec(timedOut.message);
      expect(m, timedOut.message).not.toBeNull();
      // The pending segments, in no particular order.
      expect(m![1]!.split(', ').sort()).toEqual([`${s0} (Sealed on ${JSON.stringify(v0)})`, `${s1} (Sealed on ${JSON.stringify(v1)})`].sort());
    } finally {
      impatient.close();
    }

    const afterFlush = await client.call('showSegments', { collectionId: coll.collectionId, includeBinlogs: true });
    expect(afterFlush.segments.map((s) => [s.segmentId, s.state])).toEqual(byId(SegmentState.Sealed));
    // The state is in etcd, where a restarted master finds it.
    for (const id of [s0, s1]) {
      const stored = await kv.get(`meta/segment/${coll.collectionId}/${id}`);
      expect(stored).toBeDefined();
      expect(SegmentInfo.decode(stored!.value).state).toBe(SegmentState.Sealed);
    }

    // A sealed segment takes no more rows: the next ones open a new segment.
    const next = await client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'flushed', channelName: v0, count: 1 }] });
    const s2 = next.segIdAssignments[0]!.segmentId;
    expect([s0, s1]).not.toContain(s2);
    expect((await client.call('describeSegment', { segmentId: s2 })).segment!.state).toBe(SegmentState.Growing);
  });

  it('master-server - GetSysConfigs answers by key and by prefix, from etcd, with secrets redacted', async () => {
    const byKey = await client.call('getSysConfigs', { keys: ['master.segment.maxSizeBytes', 'master.dmlChannelNum'] });
    expect(byKey.configs).toEqual([
      { key: 'master.dmlChannelNum', value: '2' },
      { key: 'master.segment.maxSizeBytes', value: String(MAX_SEGMENT_BYTES) },
    ]);
    const byPrefix = await client.call('getSysConfigs', { keyPrefixes: ['master.tso.'] });
    expect(byPrefix.configs).toEqual([
      { key: 'master.tso.tickMs', value: '50' },
      { key: 'master.tso.windowMs', value: '3000' },
    ]);
    const both = await client.call('getSysConfigs', { keys: ['etcd.rootPath', 'etcd.password'], keyPrefixes: ['master.tso.', 'etcd.root'] });
    expect(both.configs).toEqual([
      { key: 'etcd.password', value: '[redacted]' },
      { key: 'etcd.rootPath', value: ns.rootPath },
      { key: 'master.tso.tickMs', value: '50' },
      { key: 'master.tso.windowMs', value: '3000' },
    ]);
    expect((await kv.get('config/master.dmlChannelNum'))?.value.toString('utf8')).toBe('2');
  });

  it('master-server - a second master answers UNAVAILABLE naming the leader, and takes over once the leader process is killed', async () => {
    const ns2 = masterNamespace('it-master-failover');
    namespaces.push(ns2);
    const leader = await spawnMaster(ns2);
    const leaderClient = new MasterClient(leader.address, { deadlineMs: 5_000 });
    let follower: InProcessMaster | undefined;
    try {
      expect(await waitForLeader(leaderClient)).toBe(leader.serverId);
      const served = await leaderClient.call('allocTimestamp', { count: 100 });

      follower = await startMaster(ns2, { waitForLeader: false });
      const ping = await follower.client.call('ping', {});
      expect(ping).toMatchObject({ serverId: follower.server.serverId, leader: false });
      expect(ping.serverId).not.toBe(leader.serverId);
      const notLeader = `master ${follower.server.serverId} is not the leader; the leader is master ${leader.serverId} at ${hostname()}:${leader.port}`;
      expect(await failure(follower.client.call('allocTimestamp', { count: 1 }))).toEqual({ code: ErrorCode.Unavailable, message: notLeader });
      expect(await failure(follower.client.call('createCollection', { collectionName: 'x', schema: schema(4) }))).toEqual({ code: ErrorCode.Unavailable, message: notLeader });

      // SIGKILL: no resignation, the election key lapses with the dead master's lease (TTL 2 s).
      const killedAt = Date.now();
      await leader.kill();
      expect(processExists(leader.pid)).toBe(false);
      expect(await waitForLeader(follower.client, 20_000)).toBe(follower.server.serverId);
      // Generous: the lease TTL (2 s) plus a keepalive period and the new leader's start.
      expect(Date.now() - killedAt).toBeLessThan(15_000);

      const after = await follower.client.call('allocTimestamp', { count: 1 });
      expect(after.timestamp).toBeGreaterThan(served.timestamp + BigInt(served.count) - 1n);
    } finally {
      leaderClient.close();
      await leader.kill();
      await follower?.close();
    }
  });
});
