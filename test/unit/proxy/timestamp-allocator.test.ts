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
});
