/**
 * DataNode processes and the master's channel scheduler, on real etcd and Kafka: two
 * `DataNodeServer`s and a `MasterServer` in this process, talking gRPC.
 *
 * The DataNodes run a RECORDING FAKE of the data path (`RecordingChannelManager` below) instead of
 * flowgraphs: what is under test here is the control plane — sessions, assignment, the records in
 * etcd, ownership, flush orders and the DataNode service's answers — not consumption. The fake
 * records what the master asked and, when told to flush, reports the segments flushed through the
 * node's real MasterLink, as the data path does after its sync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TidalConfig } from '../../src/common/config.js';
import { statusToError, serviceErrorToError } from '../../src/common/grpc-status.js';
import { silentLogger } from '../../src/common/log.js';
import type { ChannelManager, ChannelStatus } from '../../src/datanode/channel-manager.js';
import { DataNodeServer, type DataNodeDeps } from '../../src/datanode/server.js';
import { StateCode, type Status } from '../../src/gen/common.js';
import { DataNodeClient, FlushSegmentsRequest, GetStatusRequest, GetStatusResponse, ReleaseDmChannelsRequest, WatchDmChannelsRequest } from '../../src/gen/datanode.js';
import { DataType } from '../../src/gen/schema.js';
import { SegmentState, VchannelInfo } from '../../src/gen/segment.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { decodeAssignment, type ChannelAssignment } from '../../src/master/scheduler/index.js';
import { endpoints } from '../harness/endpoints.js';
import {
  cleanupNamespace,
  ErrorCode,
  failure,
  masterConfig,
  masterNamespace,
  startMaster,
  type InProcessMaster,
  type MasterNamespace,
} from './helpers/master.js';

type Call = { op: 'watch'; info: VchannelInfo } | { op: 'release'; vchannel: string } | { op: 'flush'; segmentIds: bigint[]; flushTs?: bigint } | { op: 'close' };

/**
 * A RECORDING FAKE ChannelManager: runs no flowgraph, keeps what it was asked to watch and records
 * every call. Acceptable only because the data path is not under test in this file.
 */
class RecordingChannelManager implements ChannelManager {
  readonly calls: Call[] = [];
  readonly watching = new Map<string, VchannelInfo>();

  constructor(private readonly deps: DataNodeDeps) {}

  async watch(info: VchannelInfo): Promise<void> {
    this.calls.push({ op: 'watch', info });
    this.watching.set(info.channelName, info);
  }

  async release(vchannel: string): Promise<void> {
    this.calls.push({ op: 'release', vchannel });
    this.watching.delete(vchannel);
  }

  /** "Flushes" by reporting each segment flushed to the master, as the data path does after its sync. */
  async flushSegments(segmentIds: readonly bigint[], flushTs?: bigint): Promise<void> {
    this.calls.push({ op: 'flush', segmentIds: [...segmentIds], flushTs });
    for (const segmentId of segmentIds) {
      const { segment } = await this.deps.master.call('describeSegment', { segmentId });
      if (segment === undefined || !this.watching.has(segment.insertChannel)) continue;
      await this.deps.master.saveBinlogPaths({ segmentId, collectionId: segment.collectionId, partitionId: segment.partitionId, channel: segment.insertChannel, flushed: true });
    }
  }

  status(): ChannelStatus[] {
    return [...this.watching.values()].map((i) => ({ vchannel: i.channelName, collectionId: i.collectionId, consumedTs: 0n, bufferedRows: 0, bufferedBytes: 0 }));
  }

  async close(): Promise<void> {
    this.calls.push({ op: 'close' });
    this.watching.clear();
  }

  /** Reports the node's tick `ts` on every vchannel it watches (what the time-tick node does). */
  async tick(ts: bigint): Promise<void> {
    const msgs = [...this.watching.keys()].map((channelName) => ({ channelName, timestamp: ts }));
    if (msgs.length > 0) await this.deps.master.reportTimeTick({ msgs });
  }

  watchCalls(vchannel: string): number {
    return this.calls.filter((c) => c.op === 'watch' && c.info.channelName === vchannel).length;
  }
}

interface Node {
  server: DataNodeServer;
  fake: RecordingChannelManager;
}

const ns: MasterNamespace = masterNamespace('it-dn-sched');
const storageDir = mkdtempSync(join(tmpdir(), 'tidal-it-dn-'));
let master: InProcessMaster;
let kv: EtcdKV;
let dnConfig: TidalConfig;
const nodes: Node[] = [];
const grpcClients: DataNodeClient[] = [];

async function startNode(): Promise<Node> {
  let fake!: RecordingChannelManager;
  const server = await DataNodeServer.start({
    config: dnConfig,
    logger: silentLogger,
    channels: (deps) => (fake = new RecordingChannelManager(deps)),
    grpcGraceMs: 1_000,
  });
  const node = { server, fake };
  nodes.push(node);
  return node;
}

async function leaderChannels() {
  return (await master.server.leaderCore()).channels;
}

async function assignments(): Promise<ChannelAssignment[]> {
  return (await kv.range('channel/watch/')).kvs.map((x) => decodeAssignment(x.key, x.value));
}

const schema = () => ({
  name: '',
  description: '',
  autoId: false,
  version: 0,
  fields: [
    { fieldId: 100n, name: 'pk', isPrimaryKey: true, description: '', dataType: DataType.Int64, dim: 0, maxLength: 0, autoId: false, nullable: false },
    { fieldId: 101n, name: 'vec', isPrimaryKey: false, description: '', dataType: DataType.FloatVector, dim: 4, maxLength: 0, autoId: false, nullable: false },
  ],
});

const REQUESTS = { watchDmChannels: WatchDmChannelsRequest, releaseDmChannels: ReleaseDmChannelsRequest, flushSegments: FlushSegmentsRequest, getStatus: GetStatusRequest };

/** Calls a DataNode RPC; resolves with the response or rejects with the TidalError its status (or the transport) reports. */
function dnCall<Res extends Status | GetStatusResponse>(address: string, method: keyof typeof REQUESTS, partial: object): Promise<Res> {
  const client = new DataNodeClient(address, credentials.createInsecure());
  grpcClients.push(client);
  const req = (REQUESTS[method].fromPartial as (o: object) => object)(partial);
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (r: object, m: Metadata, o: object, cb: (err: ServiceError | null, res: Res) => void) => void;
    fn.call(client, req, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (err, res) => {
      if (err) return reject(serviceErrorToError(err));
      const status = 'code' in res ? (res as Status) : (res as GetStatusResponse).status;
      const e = statusToError(status);
      if (e !== undefined) reject(e);
      else resolve(res);
    });
  });
}

const addr = (n: Node) => `127.0.0.1:${n.server.port}`;

beforeAll(async () => {
  master = await startMaster(ns, { overrides: { master: { sessionTtlMs: 10_000, segment: { allocationExpireMs: 300 } } } });
  kv = new EtcdKV({ endpoints: (await endpoints()).etcd, rootPath: ns.rootPath });
  dnConfig = await masterConfig(ns, {
    datanode: { host: '127.0.0.1', port: 0, sessionTtlMs: 2_000 },
    storage: { backend: 'local', localDir: storageDir },
  });
  await startNode();
  await startNode();
  await vi.waitFor(async () => expect((await leaderChannels()).dataNodes()).toHaveLength(2), { timeout: 10_000 });
});

afterAll(async () => {
  for (const c of grpcClients) c.close();
  for (const n of nodes) await n.server.close();
  await master?.close();
  await kv?.close();
  await cleanupNamespace(ns);
  rmSync(storageDir, { recursive: true, force: true });
});

describe('DataNodes and the channel scheduler', () => {
  it('datanode-scheduler - a 4-shard collection spreads its vchannels 2/2 over two DataNodes, recorded under channel/watch/', async () => {
    const created = await master.client.call('createCollection', { collectionName: 'spread', schema: { ...schema(), name: 'spread' }, shardsNum: 4 });
    const mine = (await assignments()).filter((a) => a.collectionId === created.collectionId);
    expect(mine.map((a) => a.vchannel).sort()).toEqual([...created.vchannels].sort());
    const ids = nodes.slice(0, 2).map((n) => n.server.serverId);
    expect(ids.map((id) => mine.filter((a) => a.nodeId === id).length)).toEqual([2, 2]);

    // Each node was told (by the time CreateCollection answered) exactly its vchannels, with the
    // schema and the collection's start position on the channel.
    const describe = await master.client.call('describeCollection', { collectionId: created.collectionId });
    for (const n of nodes.slice(0, 2)) {
      const expected = mine.filter((a) => a.nodeId === n.server.serverId).map((a) => a.vchannel).sort();
      const got = [...n.fake.watching.values()].filter((i) => i.collectionId === created.collectionId);
      expect(got.map((i) => i.channelName).sort()).toEqual(expected);
      for (const info of got) {
        expect(info.schema?.fields.map((f) => f.name)).toEqual(['pk', 'vec']);
        expect(info.seekPosition).toEqual(describe.startPositions[describe.vchannels.indexOf(info.channelName)]);
      }
    }
  });

  it('datanode-scheduler - dropping the collection releases its vchannels on their owners and deletes the keys', async () => {
    const created = await master.client.call('createCollection', { collectionName: 'dropped', schema: { ...schema(), name: 'dropped' }, shardsNum: 4 });
    const before = (await assignments()).filter((a) => a.collectionId === created.collectionId);
    expect(before).toHaveLength(4);
    await master.client.call('dropCollection', { collectionName: 'dropped' });

    expect((await assignments()).filter((a) => a.collectionId === created.collectionId)).toEqual([]);
    for (const n of nodes.slice(0, 2)) {
      const owned = before.filter((a) => a.nodeId === n.server.serverId).map((a) => a.vchannel).sort();
      const released = n.fake.calls.flatMap((c) => (c.op === 'release' ? [c.vchannel] : [])).filter((v) => created.vchannels.includes(v));
      expect(released.sort()).toEqual(owned);
      expect(created.vchannels.some((v) => n.fake.watching.has(v))).toBe(false);
    }
  });

  it('datanode-scheduler - SaveBinlogPaths from a DataNode that does not own the vchannel is FAILED_PRECONDITION; the owner’s is stored', async () => {
    const created = await master.client.call('createCollection', { collectionName: 'owned', schema: { ...schema(), name: 'owned' }, shardsNum: 2 });
    const v0 = created.vchannels[0]!;
    const owner = (await assignments()).find((a) => a.vchannel === v0)!.nodeId;
    const other = nodes.slice(0, 2).map((n) => n.server.serverId).find((id) => id !== owner)!;
    const [seg] = (await master.client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'owned', channelName: v0, count: 5 }] })).segIdAssignments;
    // Log id 0 is what a sync starting at offset 0 derives (deriveLogId), so it is a valid id.
    const binlog = { logId: 0n, logPath: 'files/insert_log/x/0.arrow', entriesNum: 5n };
    const req = (sourceId: bigint) => ({ base: { sourceId }, segmentId: seg!.segmentId, collectionId: created.collectionId, partitionId: seg!.partitionId, channel: v0, insertLogs: [binlog] });

    expect(await failure(master.client.call('saveBinlogPaths', req(other)))).toEqual({
      code: ErrorCode.FailedPrecondition,
      message: `vchannel ${JSON.stringify(v0)} is owned by DataNode ${owner}; DataNode ${other} may not write to it`,
    });
    expect(await failure(master.client.call('saveBinlogPaths', req(0n)))).toMatchObject({ code: ErrorCode.FailedPrecondition });
    let shown = await master.client.call('showSegments', { collectionId: created.collectionId, includeBinlogs: true });
    expect(shown.segments.find((s) => s.segmentId === seg!.segmentId)?.insertLogs).toEqual([]);

    // The owner, through its MasterLink (base.sourceId filled in with its id).
    const ownerNode = nodes.find((n) => n.server.serverId === owner)!;
    await ownerNode.server.master.saveBinlogPaths({ ...req(0n), base: undefined });
    shown = await master.client.call('showSegments', { collectionId: created.collectionId, includeBinlogs: true });
    expect(shown.segments.find((s) => s.segmentId === seg!.segmentId)?.insertLogs.map((b) => b.logPath)).toEqual([binlog.logPath]);

    // Ticks likewise: the other node's tick for v0 is ignored and it is told who owns v0.
    const ts = (await master.client.call('allocTimestamp', { count: 1 })).timestamp;
    expect(await failure(master.client.call('reportTimeTick', { base: { sourceId: other }, msgs: [{ channelName: v0, timestamp: ts }] }))).toEqual({
      code: ErrorCode.FailedPrecondition,
      message: `DataNode ${other} does not own ${JSON.stringify(v0)} (owned by DataNode ${owner}): those ticks were ignored, the others applied`,
    });
  });

  it('datanode-scheduler - Flush returns once the owners, driven by their ticks, have flushed the sealed segments', async () => {
    const created = await master.client.call('createCollection', { collectionName: 'flushes', schema: { ...schema(), name: 'flushes' }, shardsNum: 2 });
    const assigned = await master.client.call('assignSegmentId', {
      segmentIdRequests: created.vchannels.map((channelName) => ({ collectionName: 'flushes', channelName, count: 10 })),
    });
    const segIds = assigned.segIdAssignments.map((a) => a.segmentId).sort();
    let answered = false;
    const flushing = master.client.call('flush', { collectionName: 'flushes' }).finally(() => (answered = true));

    // Sealed, but nothing flushes before the DataNodes tick past the allocations' expiry.
    await vi.waitFor(async () => {
      const segs = (await master.client.call('showSegments', { collectionId: created.collectionId })).segments;
      expect(segs.map((s) => s.state)).toEqual([SegmentState.Sealed, SegmentState.Sealed]);
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(answered).toBe(false);
    const { timestamp } = await master.client.call('allocTimestamp', { count: 1 });
    for (const n of nodes.slice(0, 2)) await n.fake.tick(timestamp);

    const res = await flushing;
    expect([...res.segmentIds].sort()).toEqual(segIds);
    const segs = (await master.client.call('showSegments', { collectionId: created.collectionId })).segments;
    expect(segs.map((s) => [s.segmentId, s.state])).toEqual(segIds.map((id) => [id, SegmentState.Flushed]));
    // Each segment was ordered flushed on its vchannel's owner, with the tick as flush ts.
    const owners = new Map((await assignments()).map((a) => [a.vchannel, a.nodeId]));
    for (const a of assigned.segIdAssignments) {
      const owner = nodes.find((n) => n.server.serverId === owners.get(a.channelName))!;
      expect(owner.fake.calls).toContainEqual({ op: 'flush', segmentIds: [a.segmentId], flushTs: timestamp });
    }
  });

  it('datanode-scheduler - Flush answers TIMEOUT naming the segments still pending when no DataNode flushes them', async () => {
    const created = await master.client.call('createCollection', { collectionName: 'stuck', schema: { ...schema(), name: 'stuck' }, shardsNum: 1 });
    const [a] = (await master.client.call('assignSegmentId', { segmentIdRequests: [{ collectionName: 'stuck', channelName: created.vchannels[0]!, count: 1 }] })).segIdAssignments;
    const short = new (await import('../../src/proxy/master-client.js')).MasterClient(master.address, { deadlineMs: 1_500 });
    try {
      const err = await failure(short.call('flush', { collectionName: 'stuck' }));
      expect(err.code).toBe(ErrorCode.Timeout);
      expect(err.message).toMatch(new RegExp(`^segments not flushed within \\d+ ms: ${a!.segmentId} \\(Sealed on "${created.vchannels[0]}"\\)$`));
    } finally {
      short.close();
    }
  });

  it('datanode-scheduler - GetStatus reports the node id, Healthy and the watched vchannels', async () => {
    const n = nodes[0]!;
    const res = await dnCall<GetStatusResponse>(addr(n), 'getStatus', {});
    expect(res.nodeId).toBe(n.server.serverId);
    expect(res.state).toBe(StateCode.Healthy);
    expect(res.channels.map((c) => c.channelName).sort()).toEqual([...n.fake.watching.keys()].sort());
    expect(res.channels.length).toBeGreaterThan(0);
    expect(await failure(dnCall(addr(n), 'getStatus', { base: { targetId: n.server.serverId + 1000n } }))).toEqual({
      code: ErrorCode.FailedPrecondition,
      message: `request for DataNode ${n.server.serverId + 1000n} reached DataNode ${n.server.serverId}; the master must look up the node's current session`,
    });
  });

  it('datanode-scheduler - each DataNode RPC refuses bad input with INVALID_ARGUMENT (or NOT_FOUND) naming what is wrong, and changes nothing', async () => {
    const n = nodes[0]!;
    const callsBefore = n.fake.calls.length;
    const info = (over: Partial<VchannelInfo>) =>
      VchannelInfo.fromPartial({ collectionId: 5n, channelName: 'x-dml_0_5v0', schema: schema(), seekPosition: { channelName: 'x-dml_0', msgId: 0n, timestamp: 1n }, ...over });
    const bad = [
      [() => dnCall(addr(n), 'watchDmChannels', { vchannels: [] }), ErrorCode.InvalidArgument, 'vchannels must not be empty'],
      [() => dnCall(addr(n), 'watchDmChannels', { vchannels: [info({ channelName: '' })] }), ErrorCode.InvalidArgument, 'vchannels[0]: channelName (the vchannel) must not be empty'],
      [() => dnCall(addr(n), 'watchDmChannels', { vchannels: [info({ schema: undefined })] }), ErrorCode.InvalidArgument, 'vchannels[0] ("x-dml_0_5v0"): schema is required (the collection\'s schema)'],
      [
        () => dnCall(addr(n), 'watchDmChannels', { vchannels: [info({}), info({ channelName: 'x-dml_1_5v1', seekPosition: undefined })] }),
        ErrorCode.InvalidArgument,
        'vchannels[1] ("x-dml_1_5v1"): seekPosition is required (the channel checkpoint, or the collection\'s start position on the channel)',
      ],
      [() => dnCall(addr(n), 'watchDmChannels', { vchannels: [info({}), info({})] }), ErrorCode.InvalidArgument, 'vchannels[1]: "x-dml_0_5v0" is listed twice'],
      [() => dnCall(addr(n), 'releaseDmChannels', { channelNames: [] }), ErrorCode.InvalidArgument, 'channelNames must not be empty'],
      [() => dnCall(addr(n), 'releaseDmChannels', { channelNames: ['a', ''] }), ErrorCode.InvalidArgument, 'channelNames[1] must not be empty'],
      [() => dnCall(addr(n), 'flushSegments', { collectionId: 5n, channelName: 'x-dml_0_5v0', segmentIds: [] }), ErrorCode.InvalidArgument, 'segmentIds must not be empty'],
      [() => dnCall(addr(n), 'flushSegments', { collectionId: 0n, channelName: 'x-dml_0_5v0', segmentIds: [1n] }), ErrorCode.InvalidArgument, 'collectionId must be positive, got 0'],
      [() => dnCall(addr(n), 'flushSegments', { collectionId: 5n, channelName: 'x-dml_0_5v0', segmentIds: [3n, -1n] }), ErrorCode.InvalidArgument, 'segmentIds[1] must be positive, got -1'],
    ] as const;
    for (const [call, code, message] of bad) expect(await failure(call())).toEqual({ code, message });

    const notWatched = await failure(dnCall(addr(n), 'flushSegments', { collectionId: 5n, channelName: 'x-dml_0_5v0', segmentIds: [3n] }));
    expect(notWatched.code).toBe(ErrorCode.NotFound);
    expect(notWatched.message).toMatch(new RegExp(`^DataNode ${n.server.serverId} does not watch vchannel "x-dml_0_5v0" \\(it watches: .+\\)$`));
    const wrongTarget = await failure(dnCall(addr(n), 'watchDmChannels', { base: { targetId: 999_999n }, vchannels: [info({})] }));
    expect(wrongTarget.code).toBe(ErrorCode.FailedPrecondition);
    expect(n.fake.calls.length).toBe(callsBefore);
  });

  it('datanode-scheduler - a restarted master rebuilds from channel/watch/ and sends every watch again', async () => {
    const before = await assignments();
    expect(before.length).toBeGreaterThan(0);
    const counts = new Map(before.map((a) => [a.vchannel, nodes.find((n) => n.server.serverId === a.nodeId)!.fake.watchCalls(a.vchannel)]));
    await master.close();
    master = await startMaster(ns, { overrides: { master: { sessionTtlMs: 10_000, segment: { allocationExpireMs: 300 } } } });

    await vi.waitFor(
      () => {
        for (const a of before) expect(nodes.find((n) => n.server.serverId === a.nodeId)!.fake.watchCalls(a.vchannel)).toBe(counts.get(a.vchannel)! + 1);
      },
      { timeout: 15_000 },
    );
    expect(await assignments()).toEqual(before);
  });

  it('datanode-scheduler - a DataNode whose lease is lost stops its flowgraphs, registers a new session, and its vchannels move', async () => {
    const n = nodes[0]!;
    const oldId = n.server.serverId;
    const owned = (await assignments()).filter((a) => a.nodeId === oldId).map((a) => a.vchannel).sort();
    expect(owned.length).toBeGreaterThan(0);
    const lost = new Promise<bigint>((resolve) => n.server.once('sessionLost', (id) => resolve(id)));
    const registered = new Promise<bigint>((resolve) => n.server.once('registered', (id) => resolve(id)));

    // Revoke the session's lease behind the node's back, as etcd does when keepalives stop arriving.
    const session = await kv.get(`session/datanode/${oldId}`);
    const etcd = new Etcd3({ hosts: (await endpoints()).etcd });
    try {
      await etcd.leaseClient.leaseRevoke({ ID: session!.lease! });
    } finally {
      etcd.close();
    }
    expect(await lost).toBe(oldId);
    const newId = await registered;
    expect(newId).not.toBe(oldId);
    expect(n.server.serverId).toBe(newId);
    // It stopped every flowgraph it had.
    const releasedAfterLoss = n.fake.calls.flatMap((c) => (c.op === 'release' ? [c.vchannel] : []));
    for (const v of owned) expect(releasedAfterLoss).toContain(v);
    expect(JSON.parse((await kv.get(`session/datanode/${newId}`))!.value.toString())).toEqual({ serverId: newId.toString(), address: addr(n) });

    // The master moved the old session's vchannels to live nodes and told them.
    await vi.waitFor(
      async () => {
        const now = await assignments();
        expect(now.filter((a) => a.nodeId === oldId)).toEqual([]);
        for (const v of owned) {
          const a = now.find((x) => x.vchannel === v)!;
          expect([newId, nodes[1]!.server.serverId]).toContain(a.nodeId);
          expect(nodes.find((x) => x.server.serverId === a.nodeId)!.fake.watching.has(v)).toBe(true);
        }
      },
      { timeout: 15_000 },
    );
  });
});
