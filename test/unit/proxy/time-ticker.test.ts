import { describe, expect, it } from 'vitest';
import { InflightOps } from '../../../src/proxy/inflight-ops.js';
import { TimeTicker } from '../../../src/proxy/time-ticker.js';
import { TimestampAllocator } from '../../../src/proxy/timestamp-allocator.js';

function tso(start = 1000n) {
  let next = start;
  return new TimestampAllocator({
    fetch: async (count) => {
      await new Promise((r) => setTimeout(r, 1));
      const first = next;
      next += BigInt(count);
      return { first, count };
    },
  });
}

describe('time-ticker', () => {
  it('time-ticker - idle: the tick is a fresh timestamp, and it only moves forward', async () => {
    const alloc = tso();
    const reported: bigint[] = [];
    const t = new TimeTicker({ ops: new InflightOps(), freshTs: () => alloc.get(), report: async (ts) => void reported.push(ts) });
    const a = await t.tickNow();
    const b = await t.tickNow();
    expect(b!).toBeGreaterThan(a!);
    expect(reported).toEqual([a, b]);
  });

  it('time-ticker - an operation in flight holds the tick at its start timestamp until it ends', async () => {
    const alloc = tso();
    const ops = new InflightOps();
    const reported: bigint[] = [];
    const t = new TimeTicker({ ops, freshTs: () => alloc.get(), report: async (ts) => void reported.push(ts) });
    const before = await t.tickNow();
    const op = ops.begin();
    const start = await op.allocate(() => alloc.getRange(10));
    expect(start).toBeGreaterThan(before!);
    expect(await t.tickNow()).toBe(start);
    expect(await t.tickNow()).toBe(start);
    op.end();
    expect(await t.tickNow()).toBeGreaterThan(start + 9n);
  });

  it('time-ticker - an operation that asked for timestamps in the same batch as the ticker is covered', async () => {
    const alloc = tso();
    const ops = new InflightOps();
    const t = new TimeTicker({ ops, freshTs: () => alloc.get(), report: async () => undefined });
    // Op asks first, the ticker right after: both are answered by one RPC, the op's range first.
    const op = ops.begin();
    const opTs = op.allocate(() => alloc.getRange(5));
    const tick = await t.tickNow();
    expect(tick).toBe(await opTs);
    op.end();
  });

  it('time-ticker - a round is skipped (no report) while an earlier request of an operation is unanswered', () => {
    const ops = new InflightOps();
    const op = ops.begin();
    void op.allocate(() => new Promise<bigint>(() => undefined));
    const seq = ops.nextSeq();
    expect(ops.floor(5000n, seq)).toBeUndefined();
    op.end();
    expect(ops.floor(5000n, seq)).toBe(5000n);
  });

  it('time-ticker - runs rounds on its interval until closed (twice is fine)', async () => {
    const alloc = tso();
    const reported: bigint[] = [];
    const t = new TimeTicker({ ops: new InflightOps(), freshTs: () => alloc.get(), report: async (ts) => void reported.push(ts), intervalMs: 5 });
    t.start();
    await new Promise((r) => setTimeout(r, 100));
    await t.close();
    await t.close();
    const n = reported.length;
    expect(n).toBeGreaterThan(3);
    await new Promise((r) => setTimeout(r, 30));
    expect(reported.length).toBe(n);
  });
});
