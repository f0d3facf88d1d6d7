import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { TimestampAllocator } from '../../../src/proxy/timestamp-allocator.js';

function counterFetch(start = 1000n) {
  let next = start;
  const calls: number[] = [];
  return {
    calls,
    fetch: async (count: number) => {
      calls.push(count);
      await new Promise((r) => setTimeout(r, 2));
      const first = next;
      next += BigInt(count);
      return { first, count };
    },
  };
}

describe('timestamp-allocator', () => {
  it('timestamp-allocator - merges concurrent callers into few RPCs with unique increasing timestamps', async () => {
    const f = counterFetch();
    const alloc = new TimestampAllocator({ fetch: f.fetch });
    const got = await Promise.all(Array.from({ length: 1000 }, () => alloc.get()));
    expect(new Set(got.map(String)).size).toBe(1000);
    // Callers are answered in arrival order.
    for (let i = 1; i < got.length; i++) expect(got[i]!).toBeGreaterThan(got[i - 1]!);
    expect(f.calls.length).toBeLessThanOrEqual(3);
    expect(f.calls.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('timestamp-allocator - merges closed-loop callers into one RPC per round', async () => {
    const f = counterFetch();
    const alloc = new TimestampAllocator({ fetch: f.fetch });
    let stop = false;
    setTimeout(() => (stop = true), 300);
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        let last = 0n;
        while (!stop) {
          const t = await alloc.get();
          expect(t).toBeGreaterThan(last);
          last = t;
        }
      }),
    );
    expect(f.calls.filter((c) => c !== 100).length).toBeLessThanOrEqual(2);
    expect(alloc.rpcs).toBe(f.calls.length);
  });

  it('timestamp-allocator - splits a batch at maxBatch', async () => {
    const f = counterFetch();
    const alloc = new TimestampAllocator({ fetch: f.fetch, maxBatch: 100 });
    await Promise.all(Array.from({ length: 250 }, () => alloc.get()));
    expect(Math.max(...f.calls)).toBeLessThanOrEqual(100);
  });

  it('timestamp-allocator - rejects a range that goes backwards', async () => {
    let first = 500n;
    const alloc = new TimestampAllocator({
      fetch: async (count) => {
        const r = { first, count };
        first -= 100n;
        return r;
      },
    });
    await alloc.get();
    await expect(alloc.get()).rejects.toMatchObject({ code: ErrorCode.Internal, message: expect.stringContaining('tso went backwards') });
  });

  it('timestamp-allocator - a failed RPC fails only its batch', async () => {
    let n = 0;
    const alloc = new TimestampAllocator({
      fetch: async (count) => {
        n += 1;
        if (n === 1) throw new Error('boom');
        return { first: 10n, count };
      },
    });
    await expect(alloc.get()).rejects.toThrow('boom');
    await expect(alloc.get()).resolves.toBe(10n);
  });

  it('timestamp-allocator - close rejects waiting callers with CLOSED', async () => {
    const alloc = new TimestampAllocator({ fetch: () => new Promise(() => undefined) });
    void alloc.get().catch(() => undefined);
    const waiting = alloc.get();
    alloc.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Closed });
    await expect(alloc.get()).rejects.toMatchObject({ code: ErrorCode.Closed });
  });

  it('timestamp-allocator - close rejects the callers whose RPC is in flight and drops its late answer', async () => {
    let answer: ((r: { first: bigint; count: number }) => void) | undefined;
    const alloc = new TimestampAllocator({ fetch: (count) => new Promise((resolve) => (answer = () => resolve({ first: 100n, count }))) });
    const inFlight = [alloc.get(), alloc.get()];
    const queued = alloc.get(); // arrives while the first RPC is in flight: waits for the next one
    await new Promise((r) => setImmediate(r));
    expect(alloc.rpcs).toBe(1);
    alloc.close();
    alloc.close();
    for (const p of [...inFlight, queued]) await expect(p).rejects.toMatchObject({ code: ErrorCode.Closed });
    answer!({ first: 100n, count: 2 });
    await new Promise((r) => setImmediate(r));
    expect(alloc.rpcs).toBe(1);
    await expect(alloc.getRange(3)).rejects.toMatchObject({ code: ErrorCode.Closed });
  });

  it('timestamp-allocator - a failed RPC rejects every caller of its batch with its error, and the next batch is served', async () => {
    const boom = new Error('tso unreachable');
    let n = 0;
    const alloc = new TimestampAllocator({
      fetch: async (count) => {
        await new Promise((r) => setTimeout(r, 1));
        if (++n === 2) throw boom;
        return { first: BigInt(n) * 1000n, count };
      },
    });
    // The first caller on an idle allocator is sent at once; the next 50 wait together behind it.
    const first = alloc.get();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => alloc.get()));
    await expect(first).resolves.toBe(1000n);
    expect(results.every((r) => r.status === 'rejected' && r.reason === boom)).toBe(true);
    const after = await Promise.all(Array.from({ length: 3 }, () => alloc.get()));
    expect(after).toEqual([3000n, 3001n, 3002n]);
  });

  it('timestamp-allocator - rejects an answer with the wrong count with INTERNAL', async () => {
    const alloc = new TimestampAllocator({ fetch: async (count) => ({ first: 10n, count: count + 1 }) });
    await expect(alloc.get()).rejects.toMatchObject({ code: ErrorCode.Internal, message: expect.stringContaining('asked for 1') });
    await expect(alloc.getRange(2)).rejects.toMatchObject({ code: ErrorCode.Internal, message: expect.stringContaining('asked for 2') });
  });

  it('timestamp-allocator - getRange rejects a count that is not an integer from 1 to maxBatch with INVALID_ARGUMENT', async () => {
    const f = counterFetch();
    const alloc = new TimestampAllocator({ fetch: f.fetch, maxBatch: 64 });
    for (const bad of [0, -1, 1.5, 65, Number.NaN]) {
      await expect(alloc.getRange(bad)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, message: expect.stringContaining('from 1 to 64') });
    }
    expect(f.calls).toEqual([]);
  });

  it('timestamp-allocator - ranges and single timestamps of one batch are contiguous, disjoint and in arrival order', async () => {
    const f = counterFetch(1n << 40n);
    const alloc = new TimestampAllocator({ fetch: f.fetch });
    const lone = alloc.get(); // sent at once: the others wait together for the next RPC
    const counts = [1, 7, 1, 1, 300, 2, 1];
    const firsts = await Promise.all(counts.map((c) => (c === 1 ? alloc.get() : alloc.getRange(c))));
    await expect(lone).resolves.toBe(1n << 40n);
    expect(f.calls).toEqual([1, counts.reduce((a, b) => a + b, 0)]);
    let expected = (1n << 40n) + 1n;
    for (let i = 0; i < counts.length; i++) {
      expect(firsts[i]).toBe(expected);
      expected += BigInt(counts[i]!);
    }
  });

  it('timestamp-allocator - closed-loop callers: each caller rises, and no timestamp is handed out twice', async () => {
    const f = counterFetch();
    const alloc = new TimestampAllocator({ fetch: f.fetch, maxBatch: 40 });
    const all: bigint[] = [];
    await Promise.all(
      Array.from({ length: 100 }, async (_, c) => {
        let last = 0n;
        for (let i = 0; i < 30; i++) {
          const t = c % 10 === 0 ? await alloc.getRange(3) : await alloc.get();
          expect(t).toBeGreaterThan(last);
          last = t + (c % 10 === 0 ? 2n : 0n);
          all.push(t);
        }
      }),
    );
    expect(new Set(all).size).toBe(3000);
    expect(Math.max(...f.calls)).toBeLessThanOrEqual(40);
  });
});
