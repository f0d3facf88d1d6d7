/**
 * The proxy's segment-assignment cache, per (collection, partition, vchannel): room for rows in
 * segments, handed out by the master's AssignSegmentID, each assignment good for rows whose
 * timestamps are below its `expire_time` (TSO time).
 *
 * Rules:
 * - An assignment is used only for rows whose largest timestamp is below its expire time; one
 *   whose expire time is at or below the timestamps being placed is dropped (timestamps only grow,
 *   so it will never be usable by a later insert either). The master's expire time comes from its
 *   TSO after our timestamps were allocated, so a fresh assignment always fits the rows it was
 *   asked for.
 * - Asking ahead: when a key is short, the request asks for the shortfall plus `prefetchRows` (at
 *   most one segment's capacity), so the next inserts are served from the cache. Room that expires
 *   unused is lost to its segment (the master counts it), which is why the prefetch is modest.
 * - One AssignSegmentID call covers every short key of an insert; no request asks for more than
 *   one segment's capacity (the master refuses that), see {@link SegmentRequest.maxRowsPerRequest}.
 * - Placing is synchronous once the cache holds enough, so concurrent inserts never hand out the
 *   same room twice; RPCs for missing room are made one at a time.
 */
import { errors, ErrorCode, TidalError } from '../common/errors.js';
import { MsgType } from '../gen/common.js';
import type { MasterRpc } from './master-rpc.js';

/** Default rows asked for beyond the shortfall of a key. */
export const DEFAULT_SEGMENT_PREFETCH_ROWS = 4_096;

/** Rows of one request to place: `count` rows of a key, the largest of their timestamps `maxTs`. */
export interface SegmentRequest {
  collectionId: bigint;
  partitionId: bigint;
  vchannel: string;
  count: number;
  maxTs: bigint;
  /**
   * The most rows one SegmentIDRequest may ask for (at most one segment's capacity: the master
   * refuses more), or undefined for no limit. A larger need is split over several requests.
   */
  maxRowsPerRequest?: number;
}

/** `count` consecutive rows (of one request, in order) go to `segmentId`. */
export interface SegmentSlice {
  segmentId: bigint;
  count: number;
  expireTs: bigint;
}

interface Room {
  segmentId: bigint;
  remaining: number;
  expireTs: bigint;
}

/** Options of {@link SegmentAssigner}. */
export interface SegmentAssignerOptions {
  master: MasterRpc;
  /** MsgBase.sourceId of the requests (the proxy id). */
  sourceId: () => bigint;
  /** Rows asked for beyond a key's shortfall. Default 4,096. */
  prefetchRows?: number;
}

const keyOf = (r: Pick<SegmentRequest, 'collectionId' | 'partitionId' | 'vchannel'>) => `${r.collectionId}/${r.partitionId}/${r.vchannel}`;

/** Places rows into segments, from cached assignments or new ones. */
export class SegmentAssigner {
  private readonly master: MasterRpc;
  private readonly sourceId: () => bigint;
  private readonly prefetchRows: number;
  private readonly rooms = new Map<string, Room[]>();
  private chain: Promise<unknown> = Promise.resolve();
  /** AssignSegmentID RPCs sent (for tests). */
  rpcs = 0;

  constructor(options: SegmentAssignerOptions) {
    const prefetch = options.prefetchRows ?? DEFAULT_SEGMENT_PREFETCH_ROWS;
    if (!Number.isSafeInteger(prefetch) || prefetch < 0) throw errors.invalidArgument(`segment prefetchRows must be a non-negative integer, got ${prefetch}`);
    this.master = options.master;
    this.sourceId = options.sourceId;
    this.prefetchRows = prefetch;
  }

  /**
   * Places every request's rows: for each request, slices (in order) whose counts add up to its
   * count, each in a segment whose assignment expires after the request's `maxTs`. Throws the
   * master's error (NOT_FOUND for a dropped collection or partition) with nothing placed.
   */
  async assign(requests: readonly SegmentRequest[]): Promise<SegmentSlice[][]> {
    for (const r of requests) {
      if (!Number.isSafeInteger(r.count) || r.count < 1) throw errors.invalidArgument(`segment request count must be a positive integer, got ${r.count}`);
    }
    if (this.shortfalls(requests).size === 0) return this.take(requests);
    const result = this.chain.then(async () => {
      for (;;) {
        const short = this.shortfalls(requests);
        if (short.size === 0) return this.take(requests);
        await this.fetch(requests, short);
      }
    });
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Drops every cached assignment of a collection (after it was dropped), or all of them. */
  invalidate(collectionId?: bigint): void {
    if (collectionId === undefined) this.rooms.clear();
    else for (const key of [...this.rooms.keys()]) if (key.startsWith(`${collectionId}/`)) this.rooms.delete(key);
  }

  /** Rows cached for a key and usable below `ts` (for tests). */
  cachedRows(key: Pick<SegmentRequest, 'collectionId' | 'partitionId' | 'vchannel'>, ts = 0n): number {
    return (this.rooms.get(keyOf(key)) ?? []).filter((r) => r.expireTs > ts).reduce((a, r) => a + r.remaining, 0);
  }

  /** Rows missing per key (after dropping rooms that expired for these requests). */
  private shortfalls(requests: readonly SegmentRequest[]): Map<string, number> {
    const need = new Map<string, { count: number; maxTs: bigint }>();
    for (const r of requests) {
      const k = keyOf(r);
      const cur = need.get(k);
      need.set(k, { count: (cur?.count ?? 0) + r.count, maxTs: cur === undefined || r.maxTs > cur.maxTs ? r.maxTs : cur.maxTs });
    }
    const short = new Map<string, number>();
    for (const [k, { count, maxTs }] of need) {
      const rooms = (this.rooms.get(k) ?? []).filter((room) => room.expireTs > maxTs && room.remaining > 0);
      this.rooms.set(k, rooms);
      const have = rooms.reduce((a, room) => a + room.remaining, 0);
      if (have < count) short.set(k, count - have);
    }
    return short;
  }

  /** Hands out room synchronously; every key must hold enough (checked by shortfalls just before). */
  private take(requests: readonly SegmentRequest[]): SegmentSlice[][] {
    return requests.map((r) => {
      const rooms = this.rooms.get(keyOf(r))!;
      const slices: SegmentSlice[] = [];
      let left = r.count;
      while (left > 0) {
        const room = rooms[0];
        if (room === undefined) throw new TidalError(ErrorCode.Internal, `segment room of ${keyOf(r)} ran out while placing rows`);
        const n = Math.min(left, room.remaining);
        const last = slices[slices.length - 1];
        if (last !== undefined && last.segmentId === room.segmentId && last.expireTs === room.expireTs) last.count += n;
        else slices.push({ segmentId: room.segmentId, count: n, expireTs: room.expireTs });
        room.remaining -= n;
        left -= n;
        if (room.remaining === 0) rooms.shift();
      }
      return slices;
    });
  }

  /** One AssignSegmentID call for the short keys (shortfall + prefetch, split under the per-request limit). */
  private async fetch(requests: readonly SegmentRequest[], short: ReadonlyMap<string, number>): Promise<void> {
    const byKey = new Map(requests.map((r) => [keyOf(r), r]));
    const segmentIdRequests: { count: number; channelName: string; collectionId: bigint; partitionId: bigint }[] = [];
    for (const [k, missing] of short) {
      const r = byKey.get(k)!;
      const limit = r.maxRowsPerRequest;
      // Never more than one segment's worth ahead: unused room still counts against its segment.
      let total = missing + (limit === undefined ? this.prefetchRows : Math.min(this.prefetchRows, limit));
      const per = limit === undefined ? total : Math.max(1, limit);
      while (total > 0) {
        const count = Math.min(per, total);
        segmentIdRequests.push({ count, channelName: r.vchannel, collectionId: r.collectionId, partitionId: r.partitionId });
        total -= count;
      }
    }
    this.rpcs++;
    const res = await this.master.call('assignSegmentId', {
      base: { msgType: MsgType.AssignSegmentID, sourceId: this.sourceId() },
      segmentIdRequests,
    });
    // Rooms in request order, so a key's rows fill its segments in the order the master gave them.
    const sorted = [...res.segIdAssignments].sort((a, b) => a.requestIndex - b.requestIndex);
    for (const a of sorted) {
      if (a.status !== undefined && a.status.code !== 0) {
        throw new TidalError(ErrorCode.Internal, `AssignSegmentID answered a failed assignment: ${a.status.reason}`);
      }
      const req = segmentIdRequests[a.requestIndex];
      if (req === undefined) throw new TidalError(ErrorCode.Internal, `AssignSegmentID answered request index ${a.requestIndex} of ${segmentIdRequests.length}`);
      const k = keyOf({ collectionId: req.collectionId, partitionId: req.partitionId, vchannel: req.channelName });
      let rooms = this.rooms.get(k);
      if (rooms === undefined) this.rooms.set(k, (rooms = []));
      rooms.push({ segmentId: a.segmentId, remaining: a.count, expireTs: a.expireTime });
    }
  }
}
