import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { IdCache } from '../../../src/proxy/id-cache.js';

function allocator(start = 1n) {
  let next = start;
  const calls: number[] = [];
  let failNext = false;
  return {
    calls,
    failOnce() {
      failNext = true;
    },
    fetch: async (count: number) => {
      calls.push(count);
      await new Promise((r) => setTimeout(r, 1));
      if (failNext) {
        failNext = false;
        throw new TidalError(ErrorCode.Unavailable, 'master away');
      }
      const first = next;
      next += BigInt(count);
      return { first, count };
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('id-cache', () => {
  it('id-cache - hands out unique ids from batches, concurrent takes included', async () => {
    const a = allocator();
    const cache = new IdCache({ fetch: a.fetch, batchSize: 100 });
    const takes = await Promise.all(Array.from({ length: 50 }, (_, i) => cache.take(1 + (i % 7))));
    const all = takes.flatMap((t) => Array.from(t));
    expect(new Set(all.map(String)).size).toBe(all.length);
    expect(all.length).toBe(takes.reduce((n, t) => n + t.length, 0));
    // ~200 ids in batches of 100: a handful of RPCs, not one per take.
    expect(a.calls.length).toBeLessThanOrEqual(4);
  });

  it('id-cache - refills ahead: below half a batch, the next batch is fetched before it is needed', async () => {
    const a = allocator();
    const cache = new IdCache({ fetch: a.fetch, batchSize: 100 });
    await cache.take(60); // fetches 100, leaves 40 < 50: refill starts
    await settle();
    expect(a.calls).toEqual([100, 100]);
    expect(cache.cached).toBe(140);
    // Served from the two batches already fetched (ids 1..200), without waiting for an RPC.
    const ids = await cache.take(100);
    expect(ids[0]).toBe(61n);
    expect(ids[99]).toBe(160n);
  });

  it('id-cache - a take larger than a batch fetches what it needs in one call', async () => {
    const a = allocator();
    const cache = new IdCache({ fetch: a.fetch, batchSize: 10 });
    const ids = await cache.take(5_000);
    expect(ids.length).toBe(5_000);
    expect(a.calls[0]).toBe(5_000);
    expect(ids[4_999]! - ids[0]!).toBe(4_999n);
  });

  it('id-cache - a failed fetch fails that take only; the next take fetches again', async () => {
    const a = allocator();
    const cache = new IdCache({ fetch: a.fetch, batchSize: 10 });
    a.failOnce();
    await expect(cache.take(3)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect((await cache.take(3)).length).toBe(3);
  });

  it('id-cache - rejects bad counts and takes after close', async () => {
    const cache = new IdCache({ fetch: allocator().fetch });
    await expect(cache.take(0)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, message: 'id count must be a positive integer, got 0' });
    cache.close();
    cache.close();
    await expect(cache.take(1)).rejects.toMatchObject({ code: ErrorCode.Closed });
  });
});
