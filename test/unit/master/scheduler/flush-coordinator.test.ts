import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import { SegmentInfo, SegmentState } from '../../../../src/gen/segment.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import { FlushCoordinator, flushWaitMs, type FlushOrder } from '../../../../src/master/scheduler/index.js';
import { SegmentManager } from '../../../../src/master/segment/index.js';
import { MapLookup, ROW_BYTES, startTime } from '../segment/fixtures.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const COLL = 10n;
const PART = 1n;
const VCH = 'tidal-dml_0_10v0';
const VCH2 = 'tidal-dml_1_10v1';
const OWNER = 7n;

interface Sent {
  nodeId: bigint;
  order: FlushOrder;
  resolve: () => void;
  reject: (err: Error) => void;
}

async function setup() {
  const kv = new MemoryKV();
  closers.push(() => kv.close());
  const { tso, ids } = await startTime(kv);
  closers.push(() => tso.close(), () => ids.close());
  const lookup = new MapLookup();
  lookup.add(COLL, [VCH, VCH2], [PART]);
  const segments = new SegmentManager({
    kv,
    tso,
    ids,
    collections: lookup,
    config: { maxSizeBytes: 1_000 * ROW_BYTES, allocationExpireMs: 2_000, maxLifetimeMs: 86_400_000, maxIdleMs: 600_000, minSizeToSealIdleBytes: 0 },
  });
  await segments.start();
  closers.push(() => segments.close());
  const sent: Sent[] = [];
  const owners = new Map([[VCH, { nodeId: OWNER }]]);
  const flushes = new FlushCoordinator({
    segments,
    owner: (v) => owners.get(v),
    // Each order stays in flight until the test answers it.
    send: (nodeId, order) => new Promise<void>((resolve, reject) => sent.push({ nodeId, order, resolve, reject })),
    resendAfterMs: 60_000,
    pollIntervalMs: 10,
  });
  closers.push(() => flushes.close());
  /** A sealed segment of VCH with 10 rows; resolves with its id and last expiry. */
  const sealedSegment = async (vchannel = VCH) => {
    const [a] = await segments.assign([{ collectionId: COLL, partitionId: PART, vchannel, count: 10 }]);
    await segments.flush(COLL, [a!.segmentId]);
    return { id: a!.segmentId, expireTs: a!.expireTs };
  };
  return { kv, segments, flushes, sent, sealedSegment };
}

describe('FlushCoordinator', () => {
  it('flush-coordinator - the owner tick past the last expiry orders the segment flushed and marks it Flushing in the KV', async () => {
    const { kv, segments, flushes, sent, sealedSegment } = await setup();
    const seg = await sealedSegment();

    await flushes.tick(OWNER, VCH, seg.expireTs - 1n);
    expect(sent).toEqual([]);
    expect(segments.describe(seg.id).state).toBe(SegmentState.Sealed);

    await flushes.tick(OWNER, VCH, seg.expireTs);
    expect(sent.map((s) => [s.nodeId, s.order])).toEqual([[OWNER, { collectionId: COLL, vchannel: VCH, segmentIds: [seg.id], flushTs: seg.expireTs }]]);
    const stored = SegmentInfo.decode((await kv.get(`meta/segment/${COLL}/${seg.id}`))!.value);
    expect(stored.state).toBe(SegmentState.Flushing);
  });

  it('flush-coordinator - ticks of a node that does not own the vchannel order nothing', async () => {
    const { segments, flushes, sent, sealedSegment } = await setup();
    const seg = await sealedSegment();
    await flushes.tick(OWNER + 1n, VCH, seg.expireTs);
    const other = await sealedSegment(VCH2); // VCH2 has no owner at all
    await flushes.tick(OWNER, VCH2, other.expireTs);
    expect(sent).toEqual([]);
    expect(segments.describe(seg.id).state).toBe(SegmentState.Sealed);
  });

  it('flush-coordinator - keeps one order per segment in flight, and orders again after a failed one', async () => {
    const { flushes, sent, sealedSegment } = await setup();
    const seg = await sealedSegment();
    await flushes.tick(OWNER, VCH, seg.expireTs);
    await flushes.tick(OWNER, VCH, seg.expireTs + 1n);
    expect(sent).toHaveLength(1);

    sent[0]!.reject(new Error('node unreachable'));
    await vi.waitFor(async () => {
      await flushes.tick(OWNER, VCH, seg.expireTs + 2n);
      expect(sent).toHaveLength(2);
    });
    expect(sent[1]!.order.segmentIds).toEqual([seg.id]);

    // Acknowledged: not ordered again before resendAfterMs.
    sent[1]!.resolve();
    await new Promise((r) => setTimeout(r, 10));
    await flushes.tick(OWNER, VCH, seg.expireTs + 3n);
    expect(sent).toHaveLength(2);
  });

  it('flush-coordinator - onTick runs in the background and reaches the same order', async () => {
    const { flushes, sent, sealedSegment } = await setup();
    const seg = await sealedSegment();
    flushes.onTick(OWNER, VCH, seg.expireTs);
    flushes.onTick(OWNER, VCH, seg.expireTs + 1n); // arrives while the first is handled
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]!.order.segmentIds).toEqual([seg.id]);
  });

  it('flush-coordinator - waitFlushed resolves once every segment is Flushed or Dropped', async () => {
    const { segments, flushes, sealedSegment } = await setup();
    const a = await sealedSegment();
    const b = await sealedSegment();
    let done = false;
    const wait = flushes.waitFlushed([a.id, b.id], { timeoutMs: 10_000 }).then(() => (done = true));
    await segments.markFlushed(a.id, 10n);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    await segments.update([b.id], (s) => (s.state = SegmentState.Dropped));
    await wait;
    expect(done).toBe(true);
  });

  it('flush-coordinator - waitFlushed rejects with TIMEOUT naming the segments still pending', async () => {
    const { segments, flushes, sealedSegment } = await setup();
    const a = await sealedSegment();
    const b = await sealedSegment();
    await segments.markFlushing([b.id]);
    await segments.markFlushed(a.id);
    await expect(flushes.waitFlushed([a.id, b.id], { timeoutMs: 100 })).rejects.toMatchObject({
      code: ErrorCode.Timeout,
      message: `segments not flushed within 100 ms: ${b.id} (Flushing on "${VCH}")`,
    });
  });

  it('flush-coordinator - flushWaitMs answers before the caller gives up, 60 s at most', () => {
    const now = 1_000_000;
    expect(flushWaitMs(Number.POSITIVE_INFINITY, 60_000, now)).toBe(60_000);
    expect(flushWaitMs(new Date(now + 10_000), 60_000, now)).toBe(9_750);
    expect(flushWaitMs(now + 120_000, 60_000, now)).toBe(60_000);
    expect(flushWaitMs(now - 5, 60_000, now)).toBe(0);
  });
});
