/**
 * bench/tso/allocator-cost: what one get() of the batching TimestampAllocator costs the client,
 * without gRPC and without the noise of a shared machine's scheduler.
 *
 * `--callers` closed-loop callers (each awaits get(), checks its timestamps rise, asks again) are
 * served over an in-process fetch that answers from a macrotask (setImmediate), as a socket read
 * would. Reported per timestamp:
 *   - bytes allocated: exact and repeatable. A child process (--expose-gc, 128 MB semi-spaces) runs
 *     a fixed amount of work between two young-generation collections and reads the new space.
 *   - CPU ns and GC share: median over `--rounds` fixed-work rounds in this process (default heap).
 *     These move with machine load; compare A/B runs made back to back (`--allocator`).
 * For instruction counts, which do not move with load, run the same harness under valgrind:
 *   valgrind --tool=cachegrind --cache-sim=no node --predictable --import tsx \
 *     bench/tso/allocator-cost.ts --phase cpu --rounds 1 --timestamps N
 * for two values of N up to 500,000 (e.g. 100,000 and 250,000) and divide the difference of
 * "I refs" by twice the difference of N (the JIT warm-up hands out N timestamps too). It takes a
 * few minutes; --predictable keeps V8's own threads out, which makes the count repeatable.
 *
 * Writes bench/results/tso-allocator.json. Run: npx tsx bench/tso/allocator-cost.ts [--help]
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import type { FetchTimestamps, TimestampAllocator } from '../../src/proxy/timestamp-allocator.js';

const HELP = `Usage: npx tsx bench/tso/allocator-cost.ts [options]
  --callers N       closed-loop get() callers (1000)
  --timestamps N    timestamps per CPU round (2000000)
  --rounds N        CPU rounds; the median is reported (5)
  --phase all|cpu|bytes   measure only one thing (all)
  --allocator FILE  a module exporting TimestampAllocator, to compare another version (A/B)
  --out FILE        JSON results (bench/results/tso-allocator.json; a partial run writes none)`;

const BYTES_FLAG = '--allocator-cost-bytes';

type AllocatorClass = new (options: { fetch: FetchTimestamps }) => Pick<TimestampAllocator, 'get' | 'close' | 'rpcs'>;

async function loadAllocator(file: string | undefined): Promise<AllocatorClass> {
  const url = file === undefined ? new URL('../../src/proxy/timestamp-allocator.js', import.meta.url).href : pathToFileURL(resolve(file)).href;
  const mod = (await import(url)) as { TimestampAllocator?: AllocatorClass };
  if (typeof mod.TimestampAllocator !== 'function') throw new Error(`${file ?? url} does not export TimestampAllocator`);
  return mod.TimestampAllocator;
}

/** A closed-loop load on one allocator; `run(n)` hands out about n timestamps and returns how many. */
function harness(Allocator: AllocatorClass, callers: number) {
  let next = 1n << 40n;
  const allocator = new Allocator({
    fetch: async (count) => {
      await new Promise((r) => setImmediate(r));
      const first = next;
      next += BigInt(count);
      return { first, count };
    },
  });
  const last: bigint[] = new Array<bigint>(callers).fill(0n);
  let done = 0;
  let target = 0;
  const worker = async (c: number): Promise<void> => {
    while (done < target) {
      const ts = await allocator.get();
      if (ts <= last[c]!) throw new Error(`caller ${c}: timestamp ${ts} after ${last[c]}`);
      last[c] = ts;
      done++;
    }
  };
  return {
    allocator,
    run: async (n: number): Promise<number> => {
      done = 0;
      target = n;
      await Promise.all(Array.from({ length: callers }, (_, c) => worker(c)));
      return done;
    },
  };
}

/** Child side: bytes allocated per timestamp, between two young-generation collections. */
async function bytesPerTimestamp(Allocator: AllocatorClass, callers: number): Promise<number[]> {
  const gc = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;
  if (gc === undefined) throw new Error('the bytes phase needs --expose-gc');
  const h = harness(Allocator, callers);
  for (let i = 0; i < 5; i++) await h.run(400_000); // JIT warm-up
  const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
  const out: number[] = [];
  for (let i = 0; i < 3; i++) {
    gc({ type: 'minor' });
    const before = newSpace();
    const n = await h.run(50_000);
    const after = newSpace();
    if (after < before) throw new Error('a scavenge ran during the measured run: raise the semi-space size');
    out.push(Math.round((after - before) / n));
  }
  h.allocator.close();
  return out;
}

async function cpuRounds(Allocator: AllocatorClass, callers: number, timestamps: number, rounds: number) {
  const h = harness(Allocator, callers);
  await h.run(Math.min(timestamps, 500_000)); // JIT warm-up
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  const perRound: { nsPerTs: number; gcPct: number; tsPerBatch: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    gcMs = 0;
    const rpcs0 = h.allocator.rpcs;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const n = await h.run(timestamps);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    await new Promise((r2) => setImmediate(r2)); // let the gc entries of this round arrive
    perRound.push({ nsPerTs: ((cpu.user + cpu.system) * 1000) / n, gcPct: (100 * gcMs) / wallMs, tsPerBatch: n / Math.max(1, h.allocator.rpcs - rpcs0) });
  }
  obs.disconnect();
  h.allocator.close();
  const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    ns_per_ts: Math.round(median(perRound.map((p) => p.nsPerTs))),
    ns_per_ts_rounds: perRound.map((p) => Math.round(p.nsPerTs)),
    gc_pct: Math.round(median(perRound.map((p) => p.gcPct)) * 10) / 10,
    mean_batch: Math.round(median(perRound.map((p) => p.tsPerBatch))),
  };
}

/** Runs the bytes phase in a child with the heap flags it needs. */
function bytesInChild(argv: string[]): Promise<number[]> {
  const child = fork(fileURLToPath(import.meta.url), [BYTES_FLAG, ...argv], {
    execArgv: [...process.execArgv, '--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolvePromise, reject) => {
    child.once('message', (m: { bytes?: number[]; error?: string }) => (m.bytes !== undefined ? resolvePromise(m.bytes) : reject(new Error(m.error))));
    child.once('exit', (code) => reject(new Error(`bytes phase exited with code ${code}`)));
  });
}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      callers: { type: 'string', default: '1000' },
      timestamps: { type: 'string', default: '2000000' },
      rounds: { type: 'string', default: '5' },
      phase: { type: 'string', default: 'all' },
      allocator: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: 'callers' | 'timestamps' | 'rounds', min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(values[name])}`);
    return n;
  };
  if (values.phase !== 'all' && values.phase !== 'cpu' && values.phase !== 'bytes') throw new Error(`--phase must be all, cpu or bytes, got ${JSON.stringify(values.phase)}`);
  const defaultOut = resolve(dirname(fileURLToPath(import.meta.url)), '../results/tso-allocator.json');
  return {
    callers: int('callers', 1),
    timestamps: int('timestamps', 1000),
    rounds: int('rounds', 1),
    phase: values.phase,
    allocator: values.allocator,
    out: values.out ?? (values.phase === 'all' ? defaultOut : undefined),
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === BYTES_FLAG) {
    const opts = parseOptions(process.argv.slice(3));
    try {
      process.send?.({ bytes: await bytesPerTimestamp(await loadAllocator(opts.allocator), opts.callers) });
    } catch (err) {
      process.send?.({ error: err instanceof Error ? err.message : String(err) });
    }
    process.disconnect?.();
    return;
  }
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  const Allocator = await loadAllocator(opts.allocator);
  const bytes = opts.phase === 'cpu' ? null : await bytesInChild(argv);
  const cpu = opts.phase === 'bytes' ? null : await cpuRounds(Allocator, opts.callers, opts.timestamps, opts.rounds);
  const results = {
    allocator: opts.allocator ?? 'src/proxy/timestamp-allocator.ts',
    callers: opts.callers,
    bytes_per_ts: bytes === null ? null : bytes[bytes.length - 1],
    bytes_per_ts_runs: bytes,
    ...(cpu ?? { ns_per_ts: null, ns_per_ts_rounds: null, gc_pct: null, mean_batch: null }),
    timestamps_per_round: opts.timestamps,
    node: process.version,
    date: new Date().toISOString(),
  };
  console.table([{ allocator: results.allocator, 'bytes/ts': results.bytes_per_ts ?? '-', 'cpu ns/ts (median)': results.ns_per_ts ?? '-', 'gc %': results.gc_pct ?? '-', 'mean batch': results.mean_batch ?? '-' }]);
  if (opts.out !== undefined) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`wrote ${opts.out}`);
  }
}

await main().catch((err: unknown) => {
  console.error(`bench/tso/allocator-cost failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
