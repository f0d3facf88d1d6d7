/**
 * The DataNode gRPC service: what the master asks of a DataNode. Every request is checked in
 * full before anything is done (a bad request changes nothing and answers INVALID_ARGUMENT naming
 * the field), then handed to the {@link ChannelManager}. Failures travel in the response's
 * `Status` (code, reason, retriable), never as transport errors.
 *
 * - `base.targetId`, when set, must be this node's current server id (FAILED_PRECONDITION
 *   otherwise): a master that addresses a node's old session (the node re-registered under a new
 *   id) must not drive the new one.
 * - While the node is not serving (starting, re-registering its session, stopping) every call but
 *   GetStatus answers UNAVAILABLE.
 */
import type { handleUnaryCall } from '@grpc/grpc-js';
import { errors } from '../common/errors.js';
import { errorToStatus, successStatus } from '../common/grpc-status.js';
import { logRpcFailure, unaryStatus } from '../common/grpc-unary.js';
import type { Logger } from '../common/log.js';
import { StateCode, type MsgBase, type Status } from '../gen/common.js';
import { GetStatusResponse, type DataNodeServer as DataNodeHandlers, type DataPathCounters } from '../gen/datanode.js';
import type { VchannelInfo } from '../gen/segment.js';
import type { ChannelManager } from './channel-manager.js';
import type { DataPathMetrics } from './pipeline/metrics.js';

/** Most vchannels in one WatchDmChannels or ReleaseDmChannels call. */
export const MAX_CHANNELS_PER_CALL = 1_024;
/** Most segments in one FlushSegments call. */
export const MAX_SEGMENTS_PER_FLUSH = 10_000;


/** The fields of GetStatus's DataPathCounters, each with the data-path counter it reports. */
const STATUS_COUNTERS: Readonly<Record<keyof DataPathCounters, Exclude<keyof DataPathMetrics, 'snapshot'>>> = {
  consumedRecords: 'recordsRead',
  undecodableRecords: 'undecodableRecords',
  insertMessages: 'insertMessages',
  insertRows: 'insertRows',
  deleteRows: 'deleteRows',
  skippedRows: 'skippedRows',
  lateSkippedRows: 'lateSkippedRows',
  syncsCompleted: 'syncsCompleted',
  syncedRows: 'syncedRows',
  syncedBytes: 'syncedBytes',
  syncRetries: 'syncRetries',
  syncsFailed: 'syncsFailed',
  memoryWaits: 'memoryWaits',
  memoryWaitMs: 'memoryWaitMs',
  flowgraphFailures: 'flowgraphFailures',
};

/** GetStatus's counters from the channel manager's (0 when it keeps none). */
function statusCounters(channels: ChannelManager): DataPathCounters {
  const counters = channels.metrics?.().counters ?? {};
  const out = {} as DataPathCounters;
  for (const [field, name] of Object.entries(STATUS_COUNTERS) as [keyof DataPathCounters, string][]) {
    // memoryWaitMs sums fractional milliseconds.
    out[field] = BigInt(Math.trunc(counters[name] ?? 0));
  }
  return out;
}

/** What the service reads of the DataNode it runs in. */
export interface DataNodeServiceHost {
  /** The current server id (it changes when the session is registered again). */
  nodeId(): bigint;
  /** Healthy while serving; Initializing, Stopping or Abnormal otherwise. */
  stateCode(): StateCode;
  readonly channels: ChannelManager;
  /** Runs work that starts or stops flowgraphs one at a time (against session recovery). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

const q = (s: string) => JSON.stringify(s);

/** A unary handler answering a bare Status: success when `fn` resolves, the error's status when it throws. */
function statusCall<Req>(log: Logger, rpc: string, fn: (req: Req) => Promise<void>): handleUnaryCall<Req, Status> {
  return unaryStatus<Req>(log, rpc, async (req) => {
    await fn(req);
    return successStatus();
  });
}

/** Checks one vchannel of a WatchDmChannels request. */
function checkVchannel(info: VchannelInfo, i: number): void {
  const at = `vchannels[${i}]${info.channelName === '' ? '' : ` (${q(info.channelName)})`}`;
  if (info.channelName === '') throw errors.invalidArgument(`${at}: channelName (the vchannel) must not be empty`);
  if (info.collectionId <= 0n) throw errors.invalidArgument(`${at}: collectionId must be positive, got ${info.collectionId}`);
  if (info.schema === undefined) throw errors.invalidArgument(`${at}: schema is required (the collection's schema)`);
  if (info.schema.fields.length === 0) throw errors.invalidArgument(`${at}: schema has no fields`);
  if (info.schema.fields.filter((f) => f.isPrimaryKey).length !== 1) {
    throw errors.invalidArgument(`${at}: schema must have exactly one primary key field, has ${info.schema.fields.filter((f) => f.isPrimaryKey).length}`);
  }
  const seek = info.seekPosition;
  if (seek === undefined) {
    throw errors.invalidArgument(`${at}: seekPosition is required (the channel checkpoint, or the collection's start position on the channel)`);
  }
  if (seek.msgId < 0n) throw errors.invalidArgument(`${at}: seekPosition.msgId must not be negative, got ${seek.msgId}`);
  for (const s of [...info.unflushedSegments, ...info.flushedSegments]) {
    if (s.segmentId <= 0n) throw errors.invalidArgument(`${at}: segment ids must be positive, got ${s.segmentId}`);
    if (s.insertChannel !== '' && s.insertChannel !== info.channelName) {
      throw errors.invalidArgument(`${at}: segment ${s.segmentId} receives rows on ${q(s.insertChannel)}, not on this vchannel`);
    }
  }
}

function checkCount(n: number, max: number, what: string): void {
  if (n === 0) throw errors.invalidArgument(`${what} must not be empty`);
  if (n > max) throw errors.invalidArgument(`at most ${max} ${what} per call, got ${n}`);
}

/** Builds the handlers of the DataNode service. */
export function createDataNodeService(host: DataNodeServiceHost, log: Logger): DataNodeHandlers {
  const checkTarget = (base: MsgBase | undefined) => {
    const target = base?.targetId ?? 0n;
    const me = host.nodeId();
    if (target !== 0n && target !== me) {
      throw errors.failedPrecondition(`request for DataNode ${target} reached DataNode ${me}; the master must look up the node's current session`);
    }
  };
  const checkServing = () => {
    const state = host.stateCode();
    if (state !== StateCode.Healthy) throw errors.unavailable(`DataNode ${host.nodeId()} is not serving (state ${StateCode[state]}); try again shortly`);
  };

  return {
    watchDmChannels: statusCall(log, 'WatchDmChannels', async (req) => {
      checkTarget(req.base);
      checkCount(req.vchannels.length, MAX_CHANNELS_PER_CALL, 'vchannels');
      const seen = new Set<string>();
      req.vchannels.forEach((info, i) => {
        checkVchannel(info, i);
        if (seen.has(info.channelName)) throw errors.invalidArgument(`vchannels[${i}]: ${q(info.channelName)} is listed twice`);
        seen.add(info.channelName);
      });
      checkServing();
      // One at a time: a failure leaves the vchannels before it watched; watching is idempotent,
      // so the master simply sends the whole request again.
      await host.exclusive(async () => {
        // Checked again in turn: a session lost while this call waited must not start flowgraphs.
        checkTarget(req.base);
        checkServing();
        for (const info of req.vchannels) await host.channels.watch(info);
      });
      log.info({ vchannels: req.vchannels.map((v) => v.channelName) }, 'watching vchannels');
    }),

    releaseDmChannels: statusCall(log, 'ReleaseDmChannels', async (req) => {
      checkTarget(req.base);
      checkCount(req.channelNames.length, MAX_CHANNELS_PER_CALL, 'channelNames');
      req.channelNames.forEach((name, i) => {
        if (name === '') throw errors.invalidArgument(`channelNames[${i}] must not be empty`);
      });
      checkServing();
      await host.exclusive(async () => {
        for (const name of new Set(req.channelNames)) await host.channels.release(name);
      });
      log.info({ vchannels: req.channelNames }, 'released vchannels');
    }),

    flushSegments: statusCall(log, 'FlushSegments', async (req) => {
      checkTarget(req.base);
      if (req.collectionId <= 0n) throw errors.invalidArgument(`collectionId must be positive, got ${req.collectionId}`);
      if (req.channelName === '') throw errors.invalidArgument('channelName (the vchannel of the segments) must not be empty');
      checkCount(req.segmentIds.length, MAX_SEGMENTS_PER_FLUSH, 'segmentIds');
      req.segmentIds.forEach((id, i) => {
        if (id <= 0n) throw errors.invalidArgument(`segmentIds[${i}] must be positive, got ${id}`);
      });
      checkServing();
      const watched = host.channels.status();
      const channel = watched.find((c) => c.vchannel === req.channelName);
      if (channel === undefined) {
        const list = watched.length === 0 ? 'none' : watched.map((c) => c.vchannel).join(', ');
        throw errors.notFound(`DataNode ${host.nodeId()} does not watch vchannel ${q(req.channelName)} (it watches: ${list})`);
      }
      if (channel.collectionId !== req.collectionId) {
        throw errors.invalidArgument(`vchannel ${q(req.channelName)} belongs to collection ${channel.collectionId}, not ${req.collectionId}`);
      }
      await host.channels.flushSegments([...new Set(req.segmentIds)], req.flushTs === 0n ? undefined : req.flushTs);
    }),

    getStatus: (call, callback) => {
      try {
        checkTarget(call.request.base);
        const channels = host.channels.status().map((c) => ({
          channelName: c.vchannel,
          collectionId: c.collectionId,
          // The seam reports the checkpoint's offset only; its timestamp is the master's to tell.
          checkpoint: c.checkpointMsgId === undefined ? undefined : { channelName: c.vchannel, msgId: c.checkpointMsgId, timestamp: 0n },
          consumedTimestamp: c.consumedTs,
          bufferedRows: BigInt(c.bufferedRows),
          bufferedBytes: BigInt(c.bufferedBytes),
        }));
        const memoryUsedBytes = host.channels.memoryUsedBytes === undefined ? channels.reduce((sum, c) => sum + c.bufferedBytes, 0n) : BigInt(host.channels.memoryUsedBytes());
        callback(null, { status: successStatus(), nodeId: host.nodeId(), state: host.stateCode(), channels, memoryUsedBytes, counters: statusCounters(host.channels) });
      } catch (err) {
        logRpcFailure(log, 'GetStatus', err);
        callback(null, GetStatusResponse.fromPartial({ status: errorToStatus(err), nodeId: host.nodeId(), state: host.stateCode() }));
      }
    },
  };
}
