/**
 * The Master gRPC service: validates every request, answers a Status a person can act on, and
 * hands the work to the leader's components. A master that is not the serving leader answers
 * UNAVAILABLE naming the leader it knows (Ping and GetSysConfigs answer on any master).
 */
import { errors, TidalError } from '../common/errors.js';
import { successStatus } from '../common/grpc-status.js';
import type { Logger } from '../common/log.js';
import type { MsgBase, Status } from '../gen/common.js';
import * as m from '../gen/master.js';
import type { SegmentInfo } from '../gen/segment.js';
import type { MasterCore } from './master-core.js';
import { unary, unaryStatus } from '../common/grpc-unary.js';
import { MAX_LOGICAL } from '../common/hybrid-ts.js';
import { DDL_RECONCILE_WAIT_MS } from './scheduler/channel-scheduler.js';
import { flushWaitMs } from './scheduler/flush-coordinator.js';
import type { SysConfig } from './sysconfig/sys-config.js';
import type { MetaKV } from '../kv/meta-kv.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { showChannels, showNodes } from './cluster-view.js';

/** Largest count of one AllocID call. */
export const MAX_ID_COUNT = 1_000_000;
/** Most entries in one AssignSegmentID call. */
export const MAX_ASSIGN_REQUESTS = 1_000;

/** What the service reads of the server it runs in. */
export interface ServiceHost {
  readonly serverId: bigint;
  /** The leader's components, or throws UNAVAILABLE naming the leader. */
  leaderCore(): Promise<MasterCore>;
  isLeader(): boolean;
  readonly sysConfig: SysConfig;
  /** The KV (sessions, election key) and the message log (channel offsets) the master uses. */
  readonly kv: MetaKV;
  readonly stream: MsgStream;
  /** host:port other processes reach this master at. */
  readonly address: string;
}

const q = (s: string) => JSON.stringify(s);

function requireName(value: string, what: string): string {
  if (value === '') throw errors.invalidArgument(`${what} must not be empty`);
  return value;
}

function requireCount(count: number, max: number, what: string): number {
  if (!Number.isInteger(count) || count < 1 || count > max) throw errors.invalidArgument(`${what} must be from 1 to ${max}, got ${count}`, { count, max });
  return count;
}

/** Runs `fn`; a TidalError it throws comes back with `where: ` before its message (same code). */
function prefixErrors<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TidalError) throw new TidalError(err.code, `${where}: ${err.message}`, { retriable: err.retriable, cause: err, context: err.context });
    throw err;
  }
}

function withoutBinlogs(s: SegmentInfo): SegmentInfo {
  return { ...s, insertLogs: [], statsLogs: [], deltaLogs: [] };
}

/** Builds the handlers of the Master service. */
export function createMasterService(host: ServiceHost, log: Logger): m.MasterServer {
  /** The leader's components, after checking the request is meant for this master (base.targetId). */
  const core = (req: { base?: MsgBase | undefined }) => {
    const target = req.base?.targetId ?? 0n;
    if (target !== 0n && target !== host.serverId) {
      throw errors.failedPrecondition(`request for master ${target} reached master ${host.serverId}; refresh the master address`);
    }
    return host.leaderCore();
  };
  /** Resolves a collection by id (non-zero) or name; NOT_FOUND / INVALID_ARGUMENT otherwise. */
  const collectionOf = async (req: { base?: MsgBase | undefined }, name: string, id: bigint, ts?: bigint) => {
    const c = await core(req);
    if (id === 0n && name === '') throw errors.invalidArgument('give a collection name or a collection id');
    return c.meta.getCollection(id !== 0n ? { id } : { name }, ts === 0n ? undefined : ts);
  };

  return {
    // ---- collections ----
    createCollection: unary(log, 'CreateCollection', m.CreateCollectionResponse, async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      if (req.shardsNum < 0) throw errors.invalidArgument(`shardsNum must be 0 (the default) or more, got ${req.shardsNum}`);
      const info = await c.ddl.createCollection(req);
      // Answer once the vchannels are assigned and watched (failures are retried in the background).
      await c.channels.reconcile({ maxWaitMs: DDL_RECONCILE_WAIT_MS });
      return { status: successStatus(), collectionId: info.id, vchannels: info.vchannels };
    }),
    dropCollection: unaryStatus(log, 'DropCollection', async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      await c.ddl.dropCollection(req);
      await c.channels.reconcile({ maxWaitMs: DDL_RECONCILE_WAIT_MS }); // releases the vchannels
      return successStatus();
    }),
    hasCollection: unary(log, 'HasCollection', m.BoolResponse, async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      return { status: successStatus(), value: c.meta.hasCollection(req.collectionName, req.timeStamp === 0n ? undefined : req.timeStamp) };
    }),
    describeCollection: unary(log, 'DescribeCollection', m.DescribeCollectionResponse, async (req) => {
      const info = await collectionOf(req, req.collectionName, req.collectionId, req.timeStamp);
      return {
        status: successStatus(),
        schema: info.schema,
        collectionId: info.id,
        collectionName: info.name,
        shardsNum: info.shardsNum,
        vchannels: info.vchannels,
        pchannels: info.pchannels,
        startPositions: info.startPositions,
        createdTimestamp: info.createTs,
        properties: info.properties,
      };
    }),
    showCollections: unary(log, 'ShowCollections', m.ShowCollectionsResponse, async (req) => {
      const c = await core(req);
      const list = c.meta.listCollections(req.timeStamp === 0n ? undefined : req.timeStamp).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return {
        status: successStatus(),
        collectionNames: list.map((x) => x.name),
        collectionIds: list.map((x) => x.id),
        createdTimestamps: list.map((x) => x.createTs),
      };
    }),

    // ---- partitions ----
    createPartition: unaryStatus(log, 'CreatePartition', async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      requireName(req.partitionName, 'partition name');
      await c.ddl.createPartition(req);
      return successStatus();
    }),
    dropPartition: unaryStatus(log, 'DropPartition', async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      requireName(req.partitionName, 'partition name');
      await c.ddl.dropPartition(req);
      return successStatus();
    }),
    hasPartition: unary(log, 'HasPartition', m.BoolResponse, async (req) => {
      const c = await core(req);
      const info = await collectionOf(req, requireName(req.collectionName, 'collection name'), 0n);
      requireName(req.partitionName, 'partition name');
      return { status: successStatus(), value: c.meta.partitionByName(info.id, req.partitionName) !== undefined };
    }),
    showPartitions: unary(log, 'ShowPartitions', m.ShowPartitionsResponse, async (req) => {
      const info = await collectionOf(req, req.collectionName, req.collectionId);
      const c = await core(req);
      const parts = c.meta.listPartitions(info.id);
      return {
        status: successStatus(),
        partitionNames: parts.map((p) => p.name),
        partitionIds: parts.map((p) => p.id),
        createdTimestamps: parts.map((p) => p.createTs),
      };
    }),

    // ---- segments ----
    describeSegment: unary(log, 'DescribeSegment', m.DescribeSegmentResponse, async (req) => {
      const c = await core(req);
      if (req.segmentId <= 0n) throw errors.invalidArgument(`segment id must be positive, got ${req.segmentId}`);
      const seg = c.segments.describe(req.segmentId);
      if (req.collectionId !== 0n && seg.collectionId !== req.collectionId) {
        throw errors.notFound(`segment ${req.segmentId} is not a segment of collection ${req.collectionId}`);
      }
      return { status: successStatus(), segment: seg };
    }),
    showSegments: unary(log, 'ShowSegments', m.ShowSegmentsResponse, async (req) => {
      if (req.collectionId === 0n) throw errors.invalidArgument('collectionId must be given');
      const info = await collectionOf(req, '', req.collectionId);
      const c = await core(req);
      if (req.partitionId !== 0n && c.meta.partitionById(info.id, req.partitionId) === undefined) {
        throw errors.notFound(`partition ${req.partitionId} not found in collection ${q(info.name)}`);
      }
      const segs = c.segments.list(info.id, req.partitionId === 0n ? undefined : req.partitionId);
      return {
        status: successStatus(),
        segmentIds: segs.map((s) => s.segmentId),
        segments: req.includeBinlogs ? segs : segs.map(withoutBinlogs),
      };
    }),

    // ---- indexes ----
    createIndex: unaryStatus(log, 'CreateIndex', async (req) => {
      const c = await core(req);
      requireName(req.collectionName, 'collection name');
      requireName(req.fieldName, 'field name');
      await c.ddl.createIndex(req);
      return successStatus();
    }),
    describeIndex: unary(log, 'DescribeIndex', m.DescribeIndexResponse, async (req) => {
      await core(req);
      const info = await collectionOf(req, requireName(req.collectionName, 'collection name'), 0n);
      const fields = new Map((info.schema?.fields ?? []).map((f) => [f.fieldId, f.name]));
      if (req.fieldName !== '' && ![...fields.values()].includes(req.fieldName)) {
        throw errors.notFound(`field ${q(req.fieldName)} not found in collection ${q(info.name)}`);
      }
      const found = info.indexes.filter(
        (ix) => (req.fieldName === '' || fields.get(ix.fieldId) === req.fieldName) && (req.indexName === '' || ix.indexName === req.indexName),
      );
      if (found.length === 0) {
        const what = req.indexName !== '' ? `index ${q(req.indexName)}` : req.fieldName !== '' ? `index on field ${q(req.fieldName)}` : 'index';
        throw errors.notFound(`collection ${q(info.name)} has no ${what}`);
      }
      return {
        status: successStatus(),
        indexDescriptions: found.map((ix) => ({
          indexName: ix.indexName,
          indexId: ix.indexId,
          fieldName: fields.get(ix.fieldId) ?? '',
          fieldId: ix.fieldId,
          params: ix.params,
          createdTimestamp: ix.createTs,
        })),
      };
    }),

    // ---- time and identity ----
    allocTimestamp: unary(log, 'AllocTimestamp', m.AllocTimestampResponse, async (req) => {
      const c = await core(req);
      const r = await c.tso.alloc(requireCount(req.count, MAX_LOGICAL, 'count'));
      return { status: successStatus(), timestamp: r.first, count: r.count };
    }),
    allocId: unary(log, 'AllocID', m.AllocIDResponse, async (req) => {
      const c = await core(req);
      const r = await c.ids.alloc(requireCount(req.count, MAX_ID_COUNT, 'count'));
      return { status: successStatus(), id: r.first, count: r.count };
    }),
    assignSegmentId: unary(log, 'AssignSegmentID', m.AssignSegmentIDResponse, async (req) => {
      const c = await core(req);
      const reqs = req.segmentIdRequests;
      if (reqs.length === 0) throw errors.invalidArgument('segmentIdRequests must not be empty');
      if (reqs.length > MAX_ASSIGN_REQUESTS) throw errors.invalidArgument(`at most ${MAX_ASSIGN_REQUESTS} segmentIdRequests per call, got ${reqs.length}`);
      const resolved = reqs.map((r, i) =>
        prefixErrors(`segmentIdRequests[${i}]`, () => {
          if (r.count < 1) throw errors.invalidArgument(`count must be at least 1, got ${r.count}`);
          if (r.channelName === '') throw errors.invalidArgument('channelName (the vchannel) must not be empty');
          const coll = c.meta.getCollection(r.collectionId !== 0n ? { id: r.collectionId } : { name: requireName(r.collectionName, 'collection name') });
          if (!coll.vchannels.includes(r.channelName)) {
            throw errors.invalidArgument(`${q(r.channelName)} is not a vchannel of collection ${q(coll.name)} (its vchannels: ${coll.vchannels.join(', ')})`);
          }
          const part =
            r.partitionId !== 0n
              ? c.meta.partitionById(coll.id, r.partitionId)
              : c.meta.getPartition(coll, r.partitionName === '' ? '_default' : r.partitionName);
          if (part === undefined) throw errors.notFound(`partition ${r.partitionId} not found in collection ${q(coll.name)}`);
          return { collectionId: coll.id, partitionId: part.id, vchannel: r.channelName, count: r.count };
        }),
      );
      const assignments = await c.segments.assign(resolved);
      return {
        status: successStatus(),
        segIdAssignments: assignments.map((a) => ({
          segmentId: a.segmentId,
          channelName: a.vchannel,
          count: a.count,
          collectionId: a.collectionId,
          partitionId: a.partitionId,
          expireTime: a.expireTs,
          requestIndex: a.requestIndex,
          status: successStatus(),
        })),
      };
    }),

    // ---- channels, flush, config ----
    getDdChannel: unary(log, 'GetDdChannel', m.StringResponse, async (req) => {
      const c = await core(req);
      return { status: successStatus(), value: c.ddl.ddChannel };
    }),
    flush: unary(log, 'Flush', m.FlushResponse, async (req, call) => {
      const info = await collectionOf(req, req.collectionName, req.collectionId);
      const c = await core(req);
      const flushTs = (await c.tso.alloc(1)).first;
      const res = await c.segments.flush(info.id);
      // Returns once the segments are flushed: TIMEOUT naming those still pending otherwise.
      await c.flushes.waitFlushed([...res.sealedSegmentIds, ...res.pendingSegmentIds], { timeoutMs: flushWaitMs(call.getDeadline()) });
      return {
        status: successStatus(),
        collectionId: info.id,
        segmentIds: [...res.sealedSegmentIds, ...res.pendingSegmentIds],
        flushedSegmentIds: res.flushedSegmentIds,
        flushTs,
      };
    }),
    getSysConfigs: unary(log, 'GetSysConfigs', m.GetSysConfigsResponse, async (req) => {
      // Any master answers (configs are in the KV), but a request for another master is refused.
      const target = req.base?.targetId ?? 0n;
      if (target !== 0n && target !== host.serverId) {
        throw errors.failedPrecondition(`request for master ${target} reached master ${host.serverId}; refresh the master address`);
      }
      const configs = await host.sysConfig.get(req.keys, req.keyPrefixes);
      return { status: successStatus(), configs };
    }),

    // ---- operators ----
    showChannels: unary(log, 'ShowChannels', m.ShowChannelsResponse, async (req) => {
      const c = await core(req);
      const only = req.collectionId !== 0n || req.collectionName !== '' ? [await collectionOf(req, req.collectionName, req.collectionId)] : undefined;
      const deps = { core: c, kv: host.kv, stream: host.stream, self: { serverId: host.serverId, address: host.address, leader: true } };
      return { status: successStatus(), channels: await showChannels(deps, only) };
    }),
    showNodes: unary(log, 'ShowNodes', m.ShowNodesResponse, async (req) => {
      const c = await core(req);
      const deps = { core: c, kv: host.kv, stream: host.stream, self: { serverId: host.serverId, address: host.address, leader: true } };
      return { status: successStatus(), nodes: await showNodes(deps, req.role === '' ? undefined : req.role) };
    }),

    // ---- proxies ----
    registerProxy: unary(log, 'RegisterProxy', m.RegisterProxyResponse, async (req) => {
      const c = await core(req);
      const proxyId = (await c.ids.alloc(1)).first;
      const startTs = (await c.tso.alloc(1)).first;
      c.softBarrier.register(proxyId, startTs);
      log.info({ proxyId: proxyId.toString(), address: req.address }, 'proxy registered');
      return { status: successStatus(), proxyId, ttlMs: BigInt(c.softBarrierTtlMs) };
    }),
    deregisterProxy: unaryStatus(log, 'DeregisterProxy', async (req) => {
      const c = await core(req);
      if (req.proxyId <= 0n) throw errors.invalidArgument(`proxyId must be the id RegisterProxy answered, got ${req.proxyId}`);
      if (!c.softBarrier.deregister(req.proxyId)) throw errors.notFound(`proxy ${req.proxyId} is not registered (or its session lapsed)`);
      return successStatus();
    }),
    reportProxyTimeTick: unaryStatus(log, 'ReportProxyTimeTick', async (req) => {
      const c = await core(req);
      const proxyId = req.base?.sourceId ?? 0n;
      if (proxyId === 0n) throw errors.invalidArgument('base.sourceId must be the proxy id from RegisterProxy');
      if (req.channelNames.length !== req.timestamps.length) {
        throw errors.invalidArgument(`channelNames and timestamps must have the same length, got ${req.channelNames.length} and ${req.timestamps.length}`);
      }
      if (req.defaultTimestamp === 0n) throw errors.invalidArgument('defaultTimestamp must be a TSO timestamp, got 0');
      const channels = new Map(req.channelNames.map((ch, i) => [ch, req.timestamps[i]!]));
      c.softBarrier.report(proxyId, { defaultTs: req.defaultTimestamp, channels });
      return successStatus();
    }),

    // ---- DataNodes ----
    saveBinlogPaths: unaryStatus(log, 'SaveBinlogPaths', async (req): Promise<Status> => {
      const c = await core(req);
      await c.saveBinlogPaths(req);
      return successStatus();
    }),
    reportTimeTick: unaryStatus(log, 'ReportTimeTick', async (req) => {
      const c = await core(req);
      const nodeId = req.base?.sourceId ?? 0n;
      if (nodeId === 0n) throw errors.invalidArgument('base.sourceId must be the DataNode id');
      if (req.msgs.length === 0) throw errors.invalidArgument('msgs must hold at least one DataNodeTtMsg');
      const vchannels = new Set(c.meta.listCollections().flatMap((coll) => coll.vchannels));
      for (const [i, msg] of req.msgs.entries()) {
        if (msg.channelName === '') throw errors.invalidArgument(`msgs[${i}]: channelName must not be empty`);
        if (msg.timestamp === 0n) throw errors.invalidArgument(`msgs[${i}]: timestamp must be a TSO timestamp, got 0`);
        if (!vchannels.has(msg.channelName)) throw errors.notFound(`msgs[${i}]: ${q(msg.channelName)} is not a vchannel of any collection`);
      }
      // Only the vchannel's owner moves its tick and its segments' row counts: a node that lost the
      // vchannel (moved, released) may still report it once or twice before it stops consuming.
      const owned = req.msgs.filter((msg) => c.channels.owner(msg.channelName)?.nodeId === nodeId);
      for (const msg of owned) {
        c.hardBarrier.report(nodeId, msg.channelName, msg.timestamp);
        if (msg.segmentsStats.length > 0) c.segments.updateStats(msg.segmentsStats.map((s) => ({ segmentId: s.segmentId, numRows: s.numRows })));
      }
      for (const msg of owned) c.flushes.onTick(nodeId, msg.channelName, msg.timestamp);
      if (owned.length < req.msgs.length) {
        const foreign = req.msgs.filter((msg) => !owned.includes(msg)).map((msg) => {
          const owner = c.channels.owner(msg.channelName);
          return `${q(msg.channelName)} (${owner === undefined ? 'not assigned' : `owned by DataNode ${owner.nodeId}`})`;
        });
        throw errors.failedPrecondition(`DataNode ${nodeId} does not own ${foreign.join(', ')}: those ticks were ignored, the others applied`);
      }
      return successStatus();
    }),
    getRecoveryInfo: unary(log, 'GetRecoveryInfo', m.GetRecoveryInfoResponse, async (req) => {
      const c = await core(req);
      if (req.collectionId === 0n) throw errors.invalidArgument('collectionId must be given');
      return { status: successStatus(), channels: await c.recoveryInfo(req.collectionId, req.vchannel, req.partitionIds) };
    }),

    // ---- health ----
    // Ping answers on any master and ignores base.targetId: it is how a client finds out which
    // master it reached (serverId) and whether that one leads.
    ping: (_call, callback) => {
      callback(null, { status: successStatus(), serverId: host.serverId, leader: host.isLeader() });
    },
  };
}
