import { describe, expect, it } from 'vitest';
import { addMs } from '../../../src/common/hybrid-ts.js';
import type { MasterRpc } from '../../../src/proxy/master-rpc.js';
import { SegmentAssigner, type SegmentRequest } from '../../../src/proxy/segment-assigner.js';

const T0 = 470_000_000_000_000_000n;

/** A fake AssignSegmentID: segments of `capacity` rows, allocations expiring at `now() + 2 s`. */
function fakeMaster(capacity: number) {
  let now = T0;
  let nextSeg = 1000n;
  let left = 0;
  let seg = 0n;
  const requests: { count: number; channelName: string }[][] = [];
  const master = {
    call: async (method: string, req: { segmentIdRequests: { count: number; channelName: string; collectionId: bigint; partitionId: bigint }[] }) => {
      if (method !== 'assignSegmentId') throw new Error(`unexpected ${method}`);
      requests.push(req.segmentIdRequests.map((r) => ({ count: r.count, channelName: r.channelName })));
      const out = [];
      for (const [i, r] of req.segmentIdRequests.entries()) {
        if (r.count > capacity) throw new Error(`count ${r.count} above capacity ${capacity}`);
        let c = r.count;
        while (c > 0) {
          if (left === 0) {
            seg = nextSeg++;
            left = capacity;
          }
          const n = Math.min(c, left);
          out.push({ segmentId: seg, channelName: r.channelName, count: n, collectionId: r.collectionId, partitionId: r.partitionId, expireTime: addMs(now, 2000), requestIndex: i });
          left -= n;
          c -= n;
        }
      }
      return { segIdAssignments: out };
    },
  };
  return {
    master: master as unknown as MasterRpc,
    requests,
    advance(ms: number) {
      now = addMs(now, ms);
    },
    get now() {
      return now;
    },
  };
}

const req = (count: number, maxTs: bigint, vchannel = 'v0'): SegmentRequest => ({ collectionId: 1n, partitionId: 2n, vchannel, count, maxTs });

describe('segment-assigner', () => {
  it('segment-assigner - asks ahead of need and serves later inserts from the cache', async () => {
    const f = fakeMaster(1_000_000);
    const a = new SegmentAssigner({ master: f.master, sourceId: () => 9n, prefetchRows: 500 });
    const [s1] = await a.assign([req(100, f.now)]);
    expect(s1).toEqual([{ segmentId: 1000n, count: 100, expireTs: addMs(T0, 2000) }]);
    expect(f.requests).toEqual([[{ count: 600, channelName: 'v0' }]]);
    await a.assign([req(200, f.now)]);
    await a.assign([req(300, f.now)]);
    expect(f.requests.length).toBe(1);
    await a.assign([req(1, f.now)]);
    expect(f.requests.length).toBe(2);
  });

  it('segment-assigner - never uses an assignment at or past its expire time (TSO time)', async () => {
    const f = fakeMaster(1_000_000);
    const a = new SegmentAssigner({ master: f.master, sourceId: () => 9n, prefetchRows: 1_000 });
    const [first] = await a.assign([req(10, f.now)]);
    const expire = first![0]!.expireTs;
    // Rows stamped at the expiry cannot use that room: a new assignment is asked for.
    f.advance(2_500);
    const [late] = await a.assign([req(10, expire)]);
    expect(f.requests.length).toBe(2);
    for (const s of late!) expect(s.expireTs).toBeGreaterThan(expire);
    // The lapsed room was dropped: nothing cached expires at `expire` any more.
    const key = { collectionId: 1n, partitionId: 2n, vchannel: 'v0' };
    expect(a.cachedRows(key, expire - 1n)).toBe(a.cachedRows(key, expire));
    expect(a.cachedRows(key, expire)).toBe(1_000);
  });

  it('segment-assigner - places rows over several segments in order, and splits requests above one segment', async () => {
    const f = fakeMaster(250);
    const a = new SegmentAssigner({ master: f.master, sourceId: () => 9n, prefetchRows: 0 });
    const [slices] = await a.assign([{ ...req(600, f.now), maxRowsPerRequest: 250 }]);
    expect(f.requests[0]!.map((r) => r.count)).toEqual([250, 250, 100]);
    expect(slices!.map((s) => s.count)).toEqual([250, 250, 100]);
    expect(new Set(slices!.map((s) => s.segmentId)).size).toBe(3);
  });

  it('segment-assigner - concurrent inserts on one key never share room, one RPC for every short key of a call', async () => {
    const f = fakeMaster(1_000_000);
    const a = new SegmentAssigner({ master: f.master, sourceId: () => 9n, prefetchRows: 0 });
    const both = await a.assign([req(10, f.now, 'v0'), req(20, f.now, 'v1')]);
    expect(f.requests.length).toBe(1);
    expect(both.map((s) => s[0]!.count)).toEqual([10, 20]);
    const results = await Promise.all(Array.from({ length: 20 }, () => a.assign([req(7, f.now)])));
    const handed = results.reduce((n, [s]) => n + s!.reduce((m, x) => m + x.count, 0), 0);
    const asked = f.requests.slice(1).reduce((n, r) => n + r.reduce((m, x) => m + x.count, 0), 0);
    expect(handed).toBe(140);
    expect(asked).toBeGreaterThanOrEqual(handed);
  });
});
