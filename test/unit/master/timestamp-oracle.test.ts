import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { MAX_LOGICAL, parseTs } from '../../../src/common/hybrid-ts.js';
import { MemoryKV } from '../../../src/kv/embedded/memory-kv.js';
import { IdAllocator } from '../../../src/master/idalloc/id-allocator.js';
import { TimestampOracle } from '../../../src/master/tso/timestamp-oracle.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function oracle(kv: MemoryKV, extra: Partial<ConstructorParameters<typeof TimestampOracle>[0]> = {}): TimestampOracle {
  const o = new TimestampOracle({ kv, key: 'tso/timestamp', windowMs: 3_000, tickMs: 50, ...extra });
  closers.push(() => o.close());
  return o;
}

describe('timestamp-oracle', () => {
  it('timestamp-oracle - answers UNAVAILABLE before start', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    await expect(oracle(kv).alloc(1)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('timestamp-oracle - persists the window before serving under it', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const o = oracle(kv);
    await o.start();
    const saved = Number((await kv.get('tso/timestamp'))!.value.toString());
    const { first } = await o.alloc(10);
    expect(parseTs(first).physicalMs).toBeLessThan(saved);
    expect(saved - Date.now()).toBeGreaterThan(2_000);
  });

  it('timestamp-oracle - ranges are contiguous and strictly increasing', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const o = oracle(kv);
    await o.start();
    let last = 0n;
    for (let i = 0; i < 2_000; i++) {
      const r = await o.alloc(1 + (i % 7));
      expect(r.first).toBeGreaterThan(last);
      last = r.first + BigInt(r.count) - 1n;
    }
  });

  it('timestamp-oracle - a logical overflow waits for the next millisecond', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const o = oracle(kv);
    await o.start();
    const a = await o.alloc(MAX_LOGICAL);
    const b = await o.alloc(MAX_LOGICAL);
    expect(parseTs(b.first).physicalMs).toBeGreaterThan(parseTs(a.first).physicalMs);
    expect(parseTs(b.first).logical).toBe(0);
  });

  it('timestamp-oracle - rejects a count of 0 or above 2^18 with the allowed range', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const o = oracle(kv);
    await o.start();
    await expect(o.alloc(0)).rejects.toThrow(`count must be an integer from 1 to ${MAX_LOGICAL}, got 0`);
    await expect(o.alloc(MAX_LOGICAL + 1)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });

  it('timestamp-oracle - a restart serves above everything served before, even with a clock that went back', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const first = oracle(kv);
    await first.start();
    const before = await first.alloc(100);
    // Simulate a crash: no close, just a new oracle on the same KV whose clock is 10 s behind.
    const second = oracle(kv, { now: () => Date.now() - 10_000 });
    await second.start();
    const after = await second.alloc(1);
    expect(after.first).toBeGreaterThan(before.first + 99n);
  });

  it('timestamp-oracle - stops serving when its guard fails', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    await kv.put('election/master', 'me');
    const o = oracle(kv, { windowMs: 200, tickMs: 10, guard: () => [{ key: 'election/master', target: 'value', op: '==', value: 'me' }] });
    await o.start();
    await o.alloc(1);
    const fenced = new Promise<TidalError>((resolve) => o.once('fenced', resolve));
    await kv.put('election/master', 'someone-else');
    const err = await fenced;
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    await expect(o.alloc(1)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });
});

describe('id-allocator', () => {
  it('id-allocator - ranges never overlap, across restarts too', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const seen: [bigint, bigint][] = [];
    for (let restart = 0; restart < 3; restart++) {
      const ids = new IdAllocator({ kv, key: 'gid/idTimestamp', blockSize: 50 });
      await ids.start();
      const ranges = await Promise.all(Array.from({ length: 40 }, (_, i) => ids.alloc(1 + (i % 9))));
      for (const r of ranges) seen.push([r.first, r.first + BigInt(r.count)]);
      // No close: a crash.
    }
    seen.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![1]);
    expect(seen[0]![0]).toBeGreaterThanOrEqual(1n);
  });

  it('id-allocator - rejects a bad count', async () => {
    const kv = new MemoryKV();
    closers.push(() => kv.close());
    const ids = new IdAllocator({ kv, key: 'gid/idTimestamp', maxCount: 1000 });
    await ids.start();
    await expect(ids.alloc(0)).rejects.toThrow('count must be an integer from 1 to 1000, got 0');
    await expect(ids.alloc(1001)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });
});
