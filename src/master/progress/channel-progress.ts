/**
 * What DataNodes report back and recover from: binlog paths, segment and channel checkpoints
 * (SaveBinlogPaths) and the state a vchannel resumes from (GetRecoveryInfo).
 *
 * SaveBinlogPaths is idempotent (binlogs are keyed by logID, which the DataNode derives from the
 * segment and the start position, so a replay names the same objects) and commits the segments and
 * the channel checkpoint in ONE transaction. The channel checkpoint only moves forward.
 */
import { errors } from '../../common/errors.js';
import { MsgPosition } from '../../gen/common.js';
import type { SaveBinlogPathsRequest } from '../../gen/master.js';
import { SegmentState, type Binlog, type SegmentInfo, type VchannelInfo } from '../../gen/segment.js';
import type { MetaKV, Compare, TxnOp } from '../../kv/meta-kv.js';
import type { MetaTable } from '../meta/meta-table.js';
import { KeyedMutex } from '../segment/keyed-mutex.js';
import type { SegmentManager } from '../segment/segment-manager.js';

/** etcd key of a vchannel's checkpoint (a MsgPosition). */
export const checkpointKey = (vchannel: string) => `channel/checkpoint/${vchannel}`;

const q = (s: string) => JSON.stringify(s);

function mergeBinlogs(current: Binlog[], incoming: readonly Binlog[]): Binlog[] {
  const byId = new Map(current.map((b) => [b.logId, b]));
  for (const b of incoming) byId.set(b.logId, b);
  return [...byId.values()].sort((a, b) => (a.logId < b.logId ? -1 : a.logId > b.logId ? 1 : 0));
}

function checkBinlogs(kind: string, logs: readonly Binlog[]): void {
  for (const [i, b] of logs.entries()) {
    if (b.logPath === '') throw errors.invalidArgument(`${kind}[${i}]: logPath must not be empty`);
    // deriveLogId gives 0..2^63-1: offset 0 (the first message of a topic) is log id 0.
    if (b.logId < 0n) throw errors.invalidArgument(`${kind}[${i}]: logId must not be negative, got ${b.logId}`);
    if (b.entriesNum < 0n) throw errors.invalidArgument(`${kind}[${i}]: entriesNum must not be negative`);
  }
}

export interface ChannelProgressOptions {
  kv: MetaKV;
  meta: MetaTable;
  segments: SegmentManager;
  guard: () => Compare[];
  /**
   * Compares that hold only while DataNode `nodeId` (the request's base.sourceId) owns `vchannel`
   * (the channel scheduler's `ownershipCompares`); throws FAILED_PRECONDITION for anyone else. They
   * join the SaveBinlogPaths transaction, so an old owner cannot write once the channel moved.
   * Default: no ownership check.
   */
  owner?: (vchannel: string, nodeId: bigint) => Compare[];
}

/** Binlog paths, checkpoints and recovery info. */
export class ChannelProgress {
  private readonly locks = new KeyedMutex();

  constructor(private readonly options: ChannelProgressOptions) {}

  /** The stored checkpoint of a vchannel, or undefined. */
  async checkpoint(vchannel: string): Promise<MsgPosition | undefined> {
    const kv = await this.options.kv.get(checkpointKey(vchannel));
    return kv === undefined ? undefined : MsgPosition.decode(kv.value);
  }

  /**
   * Stores a DataNode's flush: binlogs of `segmentId`, the segment checkpoints, start positions and
   * the channel checkpoint, in one transaction. Throws INVALID_ARGUMENT / NOT_FOUND for a request
   * that names unknown or mismatched segments, FAILED_PRECONDITION when the sender does not own the
   * vchannel (see `owner`); nothing is stored then.
   */
  async saveBinlogPaths(req: SaveBinlogPathsRequest): Promise<void> {
    const { meta, segments, kv } = this.options;
    if (req.segmentId <= 0n) throw errors.invalidArgument(`segmentId must be positive, got ${req.segmentId}`);
    if (req.channel === '') throw errors.invalidArgument('channel (the vchannel) must not be empty');
    const coll = meta.getCollection({ id: req.collectionId });
    if (!coll.vchannels.includes(req.channel)) throw errors.invalidArgument(`${q(req.channel)} is not a vchannel of collection ${q(coll.name)}`);
    checkBinlogs('insertLogs', req.insertLogs);
    checkBinlogs('statsLogs', req.statsLogs);
    checkBinlogs('deltaLogs', req.deltaLogs);
    const named = new Set<bigint>([req.segmentId, ...req.checkpoints.map((c) => c.segmentId), ...req.startPositions.map((s) => s.segmentId)]);
    for (const id of named) {
      const seg = segments.describe(id);
      if (seg.collectionId !== coll.id) throw errors.invalidArgument(`segment ${id} belongs to collection ${seg.collectionId}, not ${coll.id}`);
      if (seg.insertChannel !== req.channel) throw errors.invalidArgument(`segment ${id} receives rows on ${q(seg.insertChannel)}, not ${q(req.channel)}`);
    }
    const cp = req.channelCheckpoint;
    if (cp !== undefined && cp.channelName === '') throw errors.invalidArgument('channelCheckpoint.channelName must not be empty');

    await this.locks.run(req.channel, async () => {
      const key = checkpointKey(req.channel);
      const current = await kv.get(key);
      const compares: Compare[] = [
        ...(this.options.owner?.(req.channel, req.base?.sourceId ?? 0n) ?? []),
        current === undefined
          ? { key, target: 'createRevision', op: '==', revision: 0 }
          : { key, target: 'modRevision', op: '==', revision: current.modRevision },
      ];
      const ops: TxnOp[] = [];
      const stored = current === undefined ? undefined : MsgPosition.decode(current.value);
      // Forward only: an older checkpoint (a replay) leaves the stored one as it is.
      if (cp !== undefined && (stored === undefined || cp.msgId > stored.msgId || (cp.msgId === stored.msgId && cp.timestamp > stored.timestamp))) {
        ops.push({ type: 'put', key, value: Buffer.from(MsgPosition.encode(cp).finish()) });
      }
      const checkpoints = new Map(req.checkpoints.map((c) => [c.segmentId, c]));
      const starts = new Map(req.startPositions.map((s) => [s.segmentId, s.startPosition]));
      await segments.update(
        [...named],
        (info: SegmentInfo) => {
          if (info.segmentId === req.segmentId) {
            info.insertLogs = mergeBinlogs(info.insertLogs, req.insertLogs);
            info.statsLogs = mergeBinlogs(info.statsLogs, req.statsLogs);
            info.deltaLogs = mergeBinlogs(info.deltaLogs, req.deltaLogs);
            if (req.dropped) info.state = SegmentState.Dropped;
            else if (req.flushed && info.state !== SegmentState.Dropped) info.state = SegmentState.Flushed;
          }
          const c = checkpoints.get(info.segmentId);
          if (c?.position !== undefined && (info.dmlPosition === undefined || c.position.msgId >= info.dmlPosition.msgId)) {
            info.dmlPosition = c.position;
            info.numRows = c.numRows;
          }
          const start = starts.get(info.segmentId);
          if (start !== undefined && info.startPosition === undefined) info.startPosition = start;
        },
        { compares, ops },
      );
    });
  }

  /**
   * How each vchannel of a collection (or just `vchannel`) resumes: seek position and segments,
   * those of `partitionIds` only when given (the seek position is the vchannel's either way;
   * without them, every segment, dropped partitions' included).
   * NOT_FOUND for an unknown collection, vchannel or partition.
   */
  async recoveryInfo(collectionId: bigint, vchannel = '', onlyPartitions: readonly bigint[] = []): Promise<VchannelInfo[]> {
    const { meta, segments } = this.options;
    const coll = meta.getCollection({ id: collectionId });
    if (vchannel !== '' && !coll.vchannels.includes(vchannel)) throw errors.notFound(`${q(vchannel)} is not a vchannel of collection ${q(coll.name)}`);
    const known = meta.listPartitions(coll.id).map((p) => p.id);
    for (const id of onlyPartitions) {
      if (!known.includes(id)) throw errors.notFound(`partition ${id} not found in collection ${q(coll.name)} (its partitions: ${known.join(', ')})`);
    }
    const partitionIds = onlyPartitions.length === 0 ? known : [...new Set(onlyPartitions)];
    // Without partitionIds every segment is listed, those of dropped partitions too: a DataNode
    // replaying a DropPartition must find the partition's segments to drop them, and must skip
    // their rows below each one's flushed position.
    const listed = segments.list(coll.id);
    const all = onlyPartitions.length === 0 ? listed : listed.filter((s) => partitionIds.includes(s.partitionId));
    const out: VchannelInfo[] = [];
    for (const [i, ch] of coll.vchannels.entries()) {
      if (vchannel !== '' && ch !== vchannel) continue;
      const mine = all.filter((s) => s.insertChannel === ch);
      out.push({
        collectionId: coll.id,
        channelName: ch,
        collectionName: coll.name,
        schema: coll.schema,
        seekPosition: (await this.checkpoint(ch)) ?? coll.startPositions[i],
        unflushedSegments: mine.filter((s) => s.state === SegmentState.Growing || s.state === SegmentState.Sealed || s.state === SegmentState.Flushing),
        flushedSegments: mine.filter((s) => s.state === SegmentState.Flushed),
        droppedSegmentIds: mine.filter((s) => s.state === SegmentState.Dropped).map((s) => s.segmentId),
        partitionIds,
      });
    }
    return out;
  }
}
