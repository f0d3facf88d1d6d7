import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../../src/common/errors.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import { DdlScheduler, type TimestampSource } from '../../../../src/master/ddl/index.js';
import { TimestampOracle } from '../../../../src/master/tso/timestamp-oracle.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function realTso(): Promise<TimestampOracle> {
  const kv = new MemoryKV();
  const tso = new TimestampOracle({ kv, key: 'tso/timestamp' });
  await tso.start();
  closers.push(() => kv.close());
  closers.push(() => tso.close());
  return tso;
}

function scheduler(tso: TimestampSource, extra: Partial<ConstructorParameters<typeof DdlScheduler>[0]> = {}): DdlScheduler {
  const s = new DdlScheduler({ tso, ...extra });
  closers.push(() => s.close());
  return s;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ddl-scheduler', () => {
  it('ddl-scheduler - runs tasks one at a time in timestamp order, however they are enqueued', async () => {
    const s = scheduler(await realTso());
    const ran: bigint[] = [];
    let active = 0;
    let maxActive = 0;
    const tasks = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        s.enqueue('CreatePartition', async (ts) => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          await sleep((i * 7) % 3);
          ran.push(ts);
          active -= 1;
          return ts;
        }),
      ),
    );
    const results = await Promise.all(tasks.map((t) => t.wait()));
    expect(maxActive).toBe(1);
    expect(results).toEqual(tasks.map((t) => t.ts));
    const sorted = [...ran].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(ran).toEqual(sorted);
    expect(new Set(ran).size).toBe(30);
    // Enqueue order is timestamp order.
    expect(tasks.map((t) => t.ts)).toEqual(sorted);
  });

  it('ddl-scheduler - pendingMinTs is the smallest timestamp not yet finished, and the pending event follows it', async () => {
    const s = scheduler(await realTso());
    const seen: (bigint | undefined)[] = [];
    s.on('pending', (ts) => seen.push(ts));
    expect(s.pendingMinTs()).toBeUndefined();
    const gate1 = deferred();
    const gate2 = deferred();
    const t1 = await s.enqueue('CreateCollection', () => gate1.promise);
    const t2 = await s.enqueue('DropCollection', () => gate2.promise);
    expect(t1.ts).toBeLessThan(t2.ts);
    expect(s.pendingMinTs()).toBe(t1.ts);
    const idle = s.idle();
    gate1.resolve();
    await t1.wait();
    await sleep(0);
    expect(s.pendingMinTs()).toBe(t2.ts);
    gate2.resolve();
    await t2.wait();
    await idle;
    expect(s.pendingMinTs()).toBeUndefined();
    // While allocating the first ts the bound is the last allocated one (0n before any), then t1, t2, none.
    expect(seen).toEqual([0n, t1.ts, t2.ts, undefined]);
  });

  it('ddl-scheduler - while a timestamp is allocated, pendingMinTs never exceeds it', async () => {
    const inner = await realTso();
    const gate = deferred();
    let hold = false;
    const tso: TimestampSource = {
      alloc: async (n) => {
        const r = await inner.alloc(n);
        if (hold) await gate.promise;
        return r;
      },
    };
    const s = scheduler(tso);
    await (await s.enqueue('CreateIndex', async () => undefined)).wait();
    const last = s.pendingMinTs();
    expect(last).toBeUndefined();
    hold = true;
    const pending = s.enqueue('CreateIndex', async () => undefined);
    await sleep(5);
    const bound = s.pendingMinTs();
    expect(bound).toBeDefined();
    gate.resolve();
    const task = await pending;
    expect(bound!).toBeLessThanOrEqual(task.ts);
    await task.wait();
  });

  it('ddl-scheduler - holds the shared ts lock while it allocates and queues', async () => {
    const tso = await realTso();
    let held = 0;
    const tsLock = {
      run: async <T>(fn: () => Promise<T>): Promise<T> => {
        held += 1;
        try {
          return await fn();
        } finally {
          held -= 1;
        }
      },
    };
    const heldDuringAlloc: number[] = [];
    const s = scheduler({ alloc: (n) => (heldDuringAlloc.push(held), tso.alloc(n)) }, { tsLock });
    await (await s.enqueue('CreatePartition', async () => 1)).wait();
    expect(heldDuringAlloc).toEqual([1]);
  });

  it('ddl-scheduler - a failing task answers its error and does not stop the queue', async () => {
    const s = scheduler(await realTso());
    const bad = await s.enqueue('DropPartition', async () => {
      throw new TidalError(ErrorCode.NotFound, 'partition "p" not found in collection "c"');
    });
    const good = await s.enqueue('CreatePartition', async () => 'ok');
    await expect(bad.wait()).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'partition "p" not found in collection "c"' });
    await expect(good.wait()).resolves.toBe('ok');
  });

  it('ddl-scheduler - a TSO failure queues nothing', async () => {
    const s = scheduler({ alloc: async () => Promise.reject(new TidalError(ErrorCode.Unavailable, 'tso is not serving (state idle)')) });
    await expect(s.run('CreateCollection', async () => 1)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect(s.pendingMinTs()).toBeUndefined();
  });

  it('ddl-scheduler - close rejects queued tasks with CLOSED, lets the running one finish, refuses new ones', async () => {
    const s = scheduler(await realTso());
    const gate = deferred();
    const running = await s.enqueue('CreateCollection', async () => {
      await gate.promise;
      return 'done';
    });
    const queued = await s.enqueue('DropCollection', async () => 'never');
    const closing = s.close();
    await expect(queued.wait()).rejects.toMatchObject({ code: ErrorCode.Closed });
    gate.resolve();
    await closing;
    await expect(running.wait()).resolves.toBe('done');
    await expect(s.enqueue('CreateIndex', async () => 1)).rejects.toMatchObject({ code: ErrorCode.Closed, message: 'ddl scheduler is closed' });
    await s.close(); // twice is fine
  });
});
