/**
 * Turns one insert or delete call into the records to produce: everything an operation does before
 * the log (steps 1-6 of tidal-client.ts). Checks the input, allocates timestamps (one range per
 * call, so rows get increasing timestamps in input order) and ids, routes each row or key to its
 * shard by the primary-key hash, places rows in segments, and encodes size-bounded records per
 * pchannel. Nothing here writes to the log, so a failure leaves nothing behind but allocations.
 */
import { errors } from '../common/errors.js';
import { MAX_LOGICAL } from '../common/hybrid-ts.js';
import type { Position } from '../mq/msg-stream.js';
import type { CollectionCache, CollectionMeta } from './collection-cache.js';
import { encodeDeleteMessages, planDeleteMessages, type DeleteKeys } from './delete-messages.js';
import { buildDeleteKeys, buildInsertRows, withAutoIds, type DeleteKeysInput, type InsertRequest } from './dml-input.js';
import type { IdCache } from './id-cache.js';
import type { InflightOp } from './inflight-ops.js';
import { encodeInsertMessages, insertRowBytesEstimate, type EncodedMessage, type InsertRows } from './insert-messages.js';
import { groupByShard, shardsOfPkColumn } from './pk-hash.js';
import type { SegmentAssigner } from './segment-assigner.js';
import { segmentCapacityRows } from './segment-capacity.js';
import type { TimestampAllocator } from './timestamp-allocator.js';

/** What an insert did. */
export interface InsertResult {
  /** Rows inserted. */
  insertCount: number;
  /** Row id of each row, in input order. */
  rowIds: BigInt64Array;
  /** The generated primary keys, in input order (auto_id collections only; equal to the row ids). */
  primaryKeys?: BigInt64Array;
  /** The largest timestamp of the rows: a read as of this timestamp sees all of them. */
  timestamp: bigint;
  /** Where each record landed (pchannel offsets), grouped by pchannel. */
  positions: Position[];
}

/** What a delete did. */
export interface DeleteResult {
  deleteCount: number;
  /** The largest delete timestamp of the keys. */
  timestamp: bigint;
  positions: Position[];
}

/** Options of a delete. */
export interface DeleteOptions {
  /** Delete only in this partition; default: every partition. */
  partition?: string;
}

/** An operation ready for the log: its records per pchannel, and its result but for the positions. */
export interface Prepared<R> {
  byChannel: Map<string, EncodedMessage[]>;
  result: R;
}

/** What the planner uses of the client. */
export interface DmlPlannerDeps {
  tso: TimestampAllocator;
  ids: IdCache;
  collections: CollectionCache;
  segments: SegmentAssigner;
  /** The proxy id (MsgBase.sourceId). */
  sourceId: () => bigint;
  /** Largest record payload, bytes. */
  messageLimit: () => number;
  /** The master's max segment size, bytes, or undefined when unknown. */
  maxSegmentBytes: () => number | undefined;
}

const q = (s: string) => JSON.stringify(s);

/** Plans inserts and deletes. */
export class DmlPlanner {
  private readonly tso: TimestampAllocator;
  private readonly ids: IdCache;
  private readonly collections: CollectionCache;
  private readonly segments: SegmentAssigner;

  constructor(private readonly deps: DmlPlannerDeps) {
    this.tso = deps.tso;
    this.ids = deps.ids;
    this.collections = deps.collections;
    this.segments = deps.segments;
  }

  /** The records of an insert. Throws INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED or an RPC's error. */
  async prepareInsert(meta: CollectionMeta, request: InsertRequest, op: InflightOp): Promise<Prepared<InsertResult>> {
    const partitionName = typeof request === 'object' && request !== null ? request.partition : undefined;
    const built = buildInsertRows(meta, request);
    const part = await this.collections.partitionId(meta, partitionName);
    meta = part.meta;
    const n = built.numRows;
    const timestamps = await this.allocTimestamps(op, n);
    const rowIds = await this.ids.take(n);
    const batch = meta.pkField.autoId ? withAutoIds(meta, built, rowIds) : built;
    const groups = groupByShard(shardsOfPkColumn(batch.data.children[meta.pkIndex]!, meta.vchannels.length), meta.vchannels.length);
    const used = groups.flatMap((rows, shard) => (rows.length > 0 ? [{ rows, shard }] : []));
    const segmentBytes = this.deps.maxSegmentBytes();
    const maxRowsPerRequest = segmentBytes === undefined ? undefined : segmentCapacityRows(meta.schema, segmentBytes);
    const slices = await this.segments.assign(
      used.map(({ rows, shard }) => ({
        collectionId: meta.id,
        partitionId: part.partitionId,
        vchannel: meta.vchannels[shard]!,
        count: rows.length,
        maxTs: timestamps[rows[rows.length - 1]!]!,
        maxRowsPerRequest,
      })),
    );
    const src: InsertRows = { meta, partitionId: part.partitionId, partitionName: part.partitionName, batch, timestamps, rowIds, sourceId: this.deps.sourceId() };
    const limit = this.deps.messageLimit();
    const rowBytes = insertRowBytesEstimate(batch);
    const byChannel = new Map<string, EncodedMessage[]>();
    used.forEach(({ rows, shard }, i) => {
      const vchannel = meta.vchannels[shard]!;
      const pchannel = meta.pchannels[shard]!;
      let start = 0;
      for (const slice of slices[i]!) {
        const placement = { vchannel, segmentId: slice.segmentId, rows: rows.subarray(start, start + slice.count) };
        start += slice.count;
        const list = byChannel.get(pchannel) ?? [];
        list.push(...encodeInsertMessages(src, placement, limit, rowBytes));
        byChannel.set(pchannel, list);
      }
    });
    const result: InsertResult = {
      insertCount: n,
      rowIds,
      timestamp: timestamps[n - 1]!,
      positions: [],
      ...(meta.pkField.autoId ? { primaryKeys: rowIds } : {}),
    };
    return { byChannel, result };
  }

  /** The records of a delete. Throws as {@link DmlPlanner.prepareInsert} does. */
  async prepareDelete(meta: CollectionMeta, pks: DeleteKeysInput, options: DeleteOptions, op: InflightOp): Promise<Prepared<DeleteResult>> {
    const keys = buildDeleteKeys(meta, pks);
    let partitionId = 0n;
    let partitionName = '';
    if (options.partition !== undefined) {
      if (typeof options.partition !== 'string' || options.partition === '') {
        throw errors.invalidArgument(`delete from collection ${q(meta.name)}: partition must be a non-empty string (or left out for every partition)`);
      }
      const part = await this.collections.partitionId(meta, options.partition);
      partitionId = part.partitionId;
      partitionName = part.partitionName;
    }
    const n = keys.values.length;
    const timestamps = await this.allocTimestamps(op, n);
    const groups = groupByShard(shardsOfPkColumn(keys.column, meta.vchannels.length), meta.vchannels.length);
    const limit = this.deps.messageLimit();
    const planned: { pchannel: string; src: DeleteKeys; ranges: { start: number; end: number }[] }[] = [];
    groups.forEach((rows, shard) => {
      if (rows.length === 0) return;
      const src: DeleteKeys = {
        meta,
        vchannel: meta.vchannels[shard]!,
        partitionId,
        partitionName,
        keys: Array.from(rows, (r) => keys.values[r]!) as bigint[] | string[],
        timestamps: Array.from(rows, (r) => timestamps[r]!),
        sourceId: this.deps.sourceId(),
      };
      planned.push({ pchannel: meta.pchannels[shard]!, src, ranges: planDeleteMessages(src, limit) });
    });
    const msgIds = await this.ids.take(planned.reduce((a, p) => a + p.ranges.length, 0));
    const byChannel = new Map<string, EncodedMessage[]>();
    let next = 0;
    for (const p of planned) {
      const list = byChannel.get(p.pchannel) ?? [];
      list.push(...encodeDeleteMessages(p.src, p.ranges, msgIds.subarray(next, next + p.ranges.length)));
      next += p.ranges.length;
      byChannel.set(p.pchannel, list);
    }
    const result: DeleteResult = { deleteCount: n, timestamp: timestamps[n - 1]!, positions: [] };
    return { byChannel, result };
  }

  /** `n` increasing timestamps for one operation: one range (several above 2^18 rows). */
  private async allocTimestamps(op: InflightOp, n: number): Promise<BigUint64Array> {
    const out = new BigUint64Array(n);
    let filled = 0;
    let first = await op.allocate(() => this.tso.getRange(Math.min(n, MAX_LOGICAL)));
    for (;;) {
      const k = Math.min(n - filled, MAX_LOGICAL);
      for (let i = 0; i < k; i++) out[filled + i] = first + BigInt(i);
      filled += k;
      if (filled === n) return out;
      first = await this.tso.getRange(Math.min(n - filled, MAX_LOGICAL));
    }
  }

}
