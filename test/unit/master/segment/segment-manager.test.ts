import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import { addMs, parseTs } from '../../../../src/common/hybrid-ts.js';
import { SegmentInfo, SegmentState } from '../../../../src/gen/segment.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import { SegmentManager, type SegmentManagerConfig, type SealReason } from '../../../../src/master/segment/index.js';
import type { TimestampOracle } from '../../../../src/master/tso/timestamp-oracle.js';
import type { IdAllocator } from '../../../../src/master/idalloc/id-allocator.js';
import { MapLookup, ROW_BYTES, TestClock, advanceTso, startTime } from './fixtures.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const CAPACITY = 100;
const BASE_CONFIG: SegmentManagerConfig = {
  maxSizeBytes: CAPACITY * ROW_BYTES,
  allocationExpireMs: 2_000,
  maxLifetimeMs: 86_400_000,
  maxIdleMs: 600_000,
  minSizeToSealIdleBytes: 0,
};
const COLL = 10n;
const PART = 1n;
const VCH = 'tidal-dml_0_10v0';
const VCH2 = 'tidal-dml_1_10v1';

interface Env {
  kv: MemoryKV;
  tso: TimestampOracle;
  ids: IdAllocator;
  clock: TestClock;
  lookup: MapLookup;
  manager: SegmentManager;
  sealed: Map<bigint, SealReason>;
}

async function setup(config: Partial<SegmentManagerConfig> = {}, kv = new MemoryKV(), clock = new TestClock(), lookup = new MapLookup()): Promise<Env> {
  closers.push(() => kv.close());
  const { tso, ids } = await startTime(kv, clock);
  closers.push(() => tso.close(), () => ids.close());
  if (!lookup.map.has(COLL)) lookup.add(COLL, [VCH, VCH2], [PART, 2n]);
  const manager = new SegmentManager({ kv, tso, ids, collections: lookup, config: { ...BASE_CONFIG, ...config } });
  const sealed = new Map<bigint, SealReason>();
  manager.on('sealed', (s, reason) => sealed.set(s.segmentId, reason));
  await manager.start();
  closers.push(() => manager.close());
  return { kv, tso, ids, clock, lookup, manager, sealed };
}

const req = (count: number, vchannel = VCH, partitionId = PART, collectionId = COLL) => ({ collectionId, partitionId, vchannel, count });

describe('segment-manager', () => {
  it('segment-manager - answers UNAVAILABLE before start', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const { tso, ids } = await startTime(kv);
    closers.push(() => tso.close(), () => ids.close());
    const m = new SegmentManager({ kv, tso, ids, collections: new MapLookup(), config: BASE_CONFIG });
    await expect(m.assign([req(1)])).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('segment-manager - fills a growing segment to capacity, then opens a new one', async () => {
    const { manager, sealed } = await setup();
    const [a] = await manager.assign([req(60)]);
    const [b] = await manager.assign([req(30)]);
    expect(b!.segmentId).toBe(a!.segmentId);

    // 10 rows are left in the first segment: the request is split, the full segment sealed.
    const split = await manager.assign([req(30)]);
    expect(split.map((x) => x.count)).toEqual([10, 20]);
    expect(split[0]!.segmentId).toBe(a!.segmentId);
    expect(split[1]!.segmentId).not.toBe(a!.segmentId);
    expect(split.every((x) => x.requestIndex === 0)).toBe(true);

    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Sealed);
    expect(manager.describe(a!.segmentId).maxRowNum).toBe(BigInt(CAPACITY));
    expect(manager.allocation(a!.segmentId).allocatedRows).toBe(CAPACITY);
    expect(sealed.get(a!.segmentId)).toBe('capacity');
    expect(manager.describe(split[1]!.segmentId).state).toBe(SegmentState.Growing);
    expect(manager.allocation(split[1]!.segmentId).allocatedRows).toBe(20);
  });

  it('segment-manager - a segment exactly filled is sealed at once', async () => {
    const { manager } = await setup();
    const [a] = await manager.assign([req(CAPACITY)]);
    expect(a!.count).toBe(CAPACITY);
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Sealed);
    const [b] = await manager.assign([req(1)]);
    expect(b!.segmentId).not.toBe(a!.segmentId);
  });

  it('segment-manager - keeps one growing segment per (collection, partition, vchannel)', async () => {
    const { manager } = await setup();
    const out = await manager.assign([req(5), req(5, VCH2), req(5, VCH, 2n), req(5)]);
    expect(out.map((x) => x.requestIndex)).toEqual([0, 1, 2, 3]);
    const [a, b, c, d] = out;
    expect(new Set([a!.segmentId, b!.segmentId, c!.segmentId]).size).toBe(3);
    expect(d!.segmentId).toBe(a!.segmentId);
    expect(manager.describe(b!.segmentId)).toMatchObject({ insertChannel: VCH2, partitionId: PART, collectionId: COLL });
    expect(manager.describe(c!.segmentId)).toMatchObject({ insertChannel: VCH, partitionId: 2n });
    expect(manager.list(COLL).map((s) => s.segmentId)).toHaveLength(3);
    expect(manager.list(COLL, 2n).map((s) => s.segmentId)).toEqual([c!.segmentId]);
  });

  it('segment-manager - rejects bad requests with a clear error and assigns nothing', async () => {
    const { manager } = await setup();
    const bad: [ReturnType<typeof req>, ErrorCode, RegExp][] = [
      [req(CAPACITY + 1), ErrorCode.InvalidArgument, /count 101 is above one segment's capacity of 100 rows \(3200 bytes \/ 32 bytes per row\); split the insert/],
      [req(0), ErrorCode.InvalidArgument, /count must be a positive integer, got 0/],
      [req(1.5), ErrorCode.InvalidArgument, /count must be a positive integer/],
      [req(1, VCH, PART, 99n), ErrorCode.NotFound, /collection 99 does not exist/],
      [req(1, VCH, 7n), ErrorCode.NotFound, /partition 7 does not exist in collection 10/],
      [req(1, 'other_v0'), ErrorCode.InvalidArgument, /vchannel "other_v0" is not a channel of collection 10; its channels are tidal-dml_0_10v0, tidal-dml_1_10v1/],
    ];
    for (const [r, code, message] of bad) {
      // The good request before the bad one must not be applied either.
      const err = await manager.assign([req(3), r]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toMatch(/^segmentIdRequests\[1\]/);
    }
    await expect(manager.assign([])).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(manager.list(COLL)).toEqual([]);
  });

  it('segment-manager - allocations expire allocationExpireMs after the TSO time, not the wall clock', async () => {
    const clock = new TestClock();
    clock.offsetMs = 3_600_000; // the TSO runs an hour ahead of this machine's clock
    const { manager, tso } = await setup({}, new MemoryKV(), clock);
    const before = (await tso.alloc(1)).first;
    const [a] = await manager.assign([req(10)]);
    const after = (await tso.alloc(1)).first;
    expect(a!.expireTs).toBeGreaterThan(addMs(before, 2_000));
    expect(a!.expireTs).toBeLessThan(addMs(after, 2_000));
    expect(parseTs(a!.expireTs).physicalMs).toBeGreaterThan(Date.now() + 3_600_000);
    expect(manager.allocation(a!.segmentId).lastExpireTs).toBe(a!.expireTs);
  });

  it('segment-manager - seals a segment whose lifetime passed (TSO time) and opens a new one', async () => {
    const { manager, tso, clock, sealed } = await setup({ maxLifetimeMs: 60_000 });
    const [a] = await manager.assign([req(10)]);
    await advanceTso(tso, clock, 30_000);
    const [b] = await manager.assign([req(10)]);
    expect(b!.segmentId).toBe(a!.segmentId);
    await advanceTso(tso, clock, 31_000);
    const [c] = await manager.assign([req(10)]);
    expect(c!.segmentId).not.toBe(a!.segmentId);
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Sealed);
    expect(sealed.get(a!.segmentId)).toBe('lifetime');
  });

  it('segment-manager - seals an idle segment only when it holds minSizeToSealIdleBytes', async () => {
    const { manager, tso, clock, sealed } = await setup({ maxIdleMs: 30_000, minSizeToSealIdleBytes: 50 * ROW_BYTES });
    const [big] = await manager.assign([req(60)]);
    const [small] = await manager.assign([req(10, VCH2)]);
    await advanceTso(tso, clock, 20_000);
    expect(await manager.applySealPolicies()).toEqual([]);
    await advanceTso(tso, clock, 11_000);
    expect(await manager.applySealPolicies()).toEqual([big!.segmentId]);
    expect(sealed.get(big!.segmentId)).toBe('idle');
    expect(manager.describe(small!.segmentId).state).toBe(SegmentState.Growing);
  });

  it('segment-manager - an assignment resets the idle clock', async () => {
    const { manager, tso, clock } = await setup({ maxIdleMs: 30_000 });
    const [a] = await manager.assign([req(10)]);
    await advanceTso(tso, clock, 20_000);
    await manager.assign([req(10)]);
    await advanceTso(tso, clock, 20_000);
    expect(await manager.applySealPolicies()).toEqual([]);
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Growing);
  });

  it('segment-manager - flush seals the collection growing segments and returns their ids', async () => {
    const { manager, lookup } = await setup();
    lookup.add(20n, ['tidal-dml_0_20v0'], [PART]);
    const [full] = await manager.assign([req(CAPACITY)]);
    const [g1, g2, other] = await manager.assign([req(10), req(10, VCH2), req(10, 'tidal-dml_0_20v0', PART, 20n)]);

    const res = await manager.flush(COLL);
    expect(new Set(res.sealedSegmentIds)).toEqual(new Set([g1!.segmentId, g2!.segmentId]));
    expect(res.pendingSegmentIds).toEqual([full!.segmentId]);
    expect(res.flushedSegmentIds).toEqual([]);
    for (const id of res.sealedSegmentIds) expect(manager.describe(id).state).toBe(SegmentState.Sealed);
    expect(manager.describe(other!.segmentId).state).toBe(SegmentState.Growing);

    // New rows go to a new segment; a second flush seals only that one.
    const [next] = await manager.assign([req(5)]);
    expect([g1!.segmentId, g2!.segmentId]).not.toContain(next!.segmentId);
    expect((await manager.flush(COLL)).sealedSegmentIds).toEqual([next!.segmentId]);
    expect((await manager.flush(COLL)).sealedSegmentIds).toEqual([]);
  });

  it('segment-manager - flush of listed segments seals only those; an unknown one seals nothing', async () => {
    const { manager } = await setup();
    const [a, b] = await manager.assign([req(10), req(10, VCH2)]);
    await expect(manager.flush(COLL, [a!.segmentId, 999_999n])).rejects.toMatchObject({
      code: ErrorCode.NotFound,
      message: expect.stringMatching(/segment 999999 is not a segment of collection 10/),
    });
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Growing);
    const res = await manager.flush(COLL, [a!.segmentId]);
    expect(res.sealedSegmentIds).toEqual([a!.segmentId]);
    expect(manager.describe(b!.segmentId).state).toBe(SegmentState.Growing);
  });

  it('segment-manager - a sealed segment is flushable only once its allocations expired behind the DataNode tick', async () => {
    const { manager, tso } = await setup();
    const [a] = await manager.assign([req(10)]);
    const [b] = await manager.assign([req(10)]); // a later allocation in the same segment
    expect(b!.segmentId).toBe(a!.segmentId);
    const [g] = await manager.assign([req(10, VCH2)]);
    await manager.flush(COLL, [a!.segmentId]);

    expect(await manager.flushableSegments(VCH, a!.expireTs)).toEqual([]);
    expect(await manager.flushableSegments(VCH, b!.expireTs - 1n)).toEqual([]);
    const ready = await manager.flushableSegments(VCH, b!.expireTs);
    expect(ready.map((s) => s.segmentId)).toEqual([a!.segmentId]);
    expect(ready[0]!.lastExpireTime).toBe(b!.expireTs);
    // A growing segment is never flushable, however far the tick.
    expect(await manager.flushableSegments(VCH2, g!.expireTs + 1_000n)).toEqual([]);
    // Flushing stays flushable (a repeated order is harmless); Flushed does not.
    await manager.markFlushing([a!.segmentId]);
    expect((await manager.flushableSegments(VCH, b!.expireTs)).map((s) => s.segmentId)).toEqual([a!.segmentId]);
    await manager.markFlushed(a!.segmentId, 20n);
    expect(await manager.flushableSegments(VCH, (await tso.alloc(1)).first)).toEqual([]);
    expect(manager.describe(a!.segmentId)).toMatchObject({ state: SegmentState.Flushed, numRows: 20n });
  });

  it('segment-manager - persists every change at meta/segment/{coll}/{seg} as SegmentInfo', async () => {
    const { manager, kv } = await setup();
    const [a] = await manager.assign([req(10)]);
    const key = `meta/segment/${COLL}/${a!.segmentId}`;
    const stored = () => kv.get(key).then((x) => SegmentInfo.decode(x!.value));
    expect(await stored()).toMatchObject({ state: SegmentState.Growing, maxRowNum: BigInt(CAPACITY), insertChannel: VCH, partitionId: PART });
    await manager.flush(COLL);
    expect(await stored()).toMatchObject({ state: SegmentState.Sealed, lastExpireTime: a!.expireTs });
    await manager.markFlushed(a!.segmentId, 10n);
    expect(await stored()).toMatchObject({ state: SegmentState.Flushed, numRows: 10n });
  });

  it('segment-manager - a restarted manager rebuilds from the KV, seals growing segments and never reuses an id', async () => {
    const kv = new MemoryKV();
    const lookup = new MapLookup();
    const first = await setup({}, kv, new TestClock(), lookup);
    const [growing] = await first.manager.assign([req(10)]);
    const [full] = await first.manager.assign([req(CAPACITY, VCH2)]);
    const [flushed] = await first.manager.assign([req(10, VCH, 2n)]);
    await first.manager.flush(COLL, [flushed!.segmentId]);
    await first.manager.markFlushed(flushed!.segmentId, 10n);
    await first.manager.close();
    await first.tso.close();
    await first.ids.close();

    // A new master on the same KV: fresh TSO, ID allocator and segment manager.
    const { tso, ids } = await startTime(kv);
    closers.push(() => tso.close(), () => ids.close());
    const manager = new SegmentManager({ kv, tso, ids, collections: lookup, config: BASE_CONFIG });
    const reasons = new Map<bigint, SealReason>();
    manager.on('sealed', (s, r) => reasons.set(s.segmentId, r));
    await manager.start();
    closers.push(() => manager.close());
    const afterStart = (await tso.alloc(1)).first;

    const states = new Map(manager.list(COLL).map((s) => [s.segmentId, s]));
    expect(states.get(growing!.segmentId)!.state).toBe(SegmentState.Sealed);
    expect(reasons.get(growing!.segmentId)).toBe('restart');
    // Its last expiry covers anything the old master may have handed out.
    expect(states.get(growing!.segmentId)!.lastExpireTime).toBeGreaterThan(growing!.expireTs);
    expect(states.get(growing!.segmentId)!.lastExpireTime).toBeLessThanOrEqual(addMs(afterStart, BASE_CONFIG.allocationExpireMs));
    expect(states.get(full!.segmentId)!.state).toBe(SegmentState.Sealed);
    expect(states.get(flushed!.segmentId)).toMatchObject({ state: SegmentState.Flushed, numRows: 10n });

    const [fresh] = await manager.assign([req(10)]);
    expect([growing!.segmentId, full!.segmentId, flushed!.segmentId]).not.toContain(fresh!.segmentId);
    expect(fresh!.segmentId).toBeGreaterThan(flushed!.segmentId);
    const stored = SegmentInfo.decode((await kv.get(`meta/segment/${COLL}/${growing!.segmentId}`))!.value);
    expect(stored.state).toBe(SegmentState.Sealed);
  });

  it('segment-manager - concurrent assignments never overfill a segment nor lose rows', async () => {
    const { manager } = await setup();
    const calls = Array.from({ length: 50 }, (_, i) => manager.assign([req(7, i % 2 === 0 ? VCH : VCH2)]));
    const out = (await Promise.all(calls)).flat();
    expect(out.reduce((n, x) => n + x.count, 0)).toBe(350);
    const perSegment = new Map<bigint, number>();
    for (const x of out) perSegment.set(x.segmentId, (perSegment.get(x.segmentId) ?? 0) + x.count);
    for (const [id, rows] of perSegment) {
      expect(rows).toBeLessThanOrEqual(CAPACITY);
      expect(manager.allocation(id).allocatedRows).toBe(rows);
      if (manager.describe(id).state === SegmentState.Sealed) expect(rows).toBe(CAPACITY);
    }
    // 175 rows per vchannel: one full segment and one growing with 75 rows each.
    expect(manager.list(COLL).map((s) => s.state).sort()).toEqual([SegmentState.Growing, SegmentState.Growing, SegmentState.Sealed, SegmentState.Sealed]);
  });

  it('segment-manager - update moves state only forward and commits extra writes in the same transaction', async () => {
    const { manager, kv } = await setup();
    const [a] = await manager.assign([req(10)]);
    await expect(manager.markFlushed(a!.segmentId)).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    await expect(manager.update([a!.segmentId], (s) => (s.collectionId = 11n))).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    await expect(manager.update([404n], () => undefined)).rejects.toMatchObject({ code: ErrorCode.NotFound });

    await manager.update([a!.segmentId], (s) => (s.state = SegmentState.Sealed), { ops: [{ type: 'put', key: 'channel/checkpoint/x', value: 'cp1' }] });
    expect((await kv.get('channel/checkpoint/x'))!.value.toString()).toBe('cp1');
    expect(manager.describe(a!.segmentId).lastExpireTime).toBe(a!.expireTs);
    // The segment left Growing: new rows go elsewhere.
    const [b] = await manager.assign([req(1)]);
    expect(b!.segmentId).not.toBe(a!.segmentId);

    // A failing compare applies nothing.
    await expect(
      manager.update([a!.segmentId], (s) => (s.state = SegmentState.Flushed), {
        compares: [{ key: 'channel/checkpoint/x', target: 'value', op: '==', value: 'other' }],
        ops: [{ type: 'put', key: 'channel/checkpoint/x', value: 'cp2' }],
      }),
    ).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Sealed);
    expect((await kv.get('channel/checkpoint/x'))!.value.toString()).toBe('cp1');

    await manager.markFlushed(a!.segmentId);
    await expect(manager.update([a!.segmentId], (s) => (s.state = SegmentState.Sealed))).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
      message: expect.stringMatching(/state cannot go from Flushed to Sealed/),
    });
  });

  it('segment-manager - shows the row count DataNodes report', async () => {
    const { manager } = await setup();
    const [a] = await manager.assign([req(10)]);
    expect(manager.describe(a!.segmentId).numRows).toBe(0n);
    manager.updateStats([{ segmentId: a!.segmentId, numRows: 7n }, { segmentId: 12345n, numRows: 1n }]);
    expect(manager.describe(a!.segmentId).numRows).toBe(7n);
    expect(manager.list(COLL)[0]!.numRows).toBe(7n);
  });

  it('segment-manager - a guard that fails rejects the change and leaves memory unchanged', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const { tso, ids } = await startTime(kv);
    closers.push(() => tso.close(), () => ids.close());
    const lookup = new MapLookup();
    lookup.add(COLL, [VCH], [PART]);
    await kv.put('election/master', 'me');
    const manager = new SegmentManager({
      kv,
      tso,
      ids,
      collections: lookup,
      config: BASE_CONFIG,
      guard: () => [{ key: 'election/master', target: 'value', op: '==', value: 'me' }],
    });
    await manager.start();
    closers.push(() => manager.close());
    const [a] = await manager.assign([req(10)]);
    await kv.put('election/master', 'someone-else');
    await expect(manager.flush(COLL)).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Growing);
    await expect(manager.assign([req(CAPACITY, VCH, PART)])).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
  });
});
