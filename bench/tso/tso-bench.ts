/**
 * bench/tso: how cheap a timestamp is.
 *
 *   1. Ping (the no-op unary RPC) and AllocTimestamp(count=1), each from 64 closed-loop workers
 *      spread over the same 2 HTTP/2 connections to the same master, alternated in 5 slices each so
 *      drifting background load hits both alike: ratio = tso_rps / noop_rps (target ≥ 0.8).
 *   2. The proxy's batching TimestampAllocator serving 1,000 closed-loop callers over one
 *      connection (as one proxy has): timestamps per second (target ≥ 1,000,000) and the p99 wait
 *      of one get() (target ≤ 5 ms). Every caller's timestamps must rise; all timestamps handed out
 *      (up to 16 M) must be distinct.
 *
 * The master runs in a child process by default, so on a 2-core machine server and load generator
 * each get a core, as a proxy and a master would; `--master in-process` puts both on one thread.
 * Two connections because one saturates before the client's core does (both RPCs alike). CPU of
 * client, master and everything else is read from /proc over each measured window, so a reader can
 * tell a slow run from a crowded machine.
 *
 * Prints a table and writes bench/results/tso.json. Run: npx tsx bench/tso/tso-bench.ts [--help]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MasterClient } from '../../src/proxy/master-client.js';
import { TimestampAllocator } from '../../src/proxy/timestamp-allocator.js';
import { calibrationMs, CpuMeter, type CpuUsage } from './cpu-meter.js';
import { LatencyHistogram, runClosedLoop, type ClosedLoopResult } from './load.js';
import { startBenchMaster, type BenchMaster, type MasterPlacement } from './master-process.js';

const TARGETS = { ratio: 0.8, batchedTsPerSec: 1_000_000, p99Ms: 5 } as const;
/**
 * Spellings of the same loopback target. grpc-js shares one HTTP/2 connection between clients whose
 * target string is equal (its global subchannel pool), so each channel of the RPC phases gets its
 * own spelling, hence its own connection, through the unmodified MasterClient.
 */
const CHANNEL_SCHEMES = ['', 'ipv4:', 'dns:///', 'ipv4:///'] as const;
/** Most timestamps kept for the global uniqueness check (8 bytes each). */
const MAX_RECORDED = 1 << 24;

const HELP = `Usage: npx tsx bench/tso/tso-bench.ts [options]
  --duration-ms N   measured time of each RPC (split over the rounds) and of the batched phase (5000)
  --warmup-ms N     unmeasured warm-up before each phase (1000)
  --rounds N        Ping/AllocTimestamp alternations sharing --duration-ms (5)
  --concurrency N   closed-loop workers of the RPC phases (64)
  --channels N      HTTP/2 connections (1-4) the RPC phases spread their workers over (2)
  --callers N       concurrent get() callers of the batched phase (1000)
  --sample-every N  time one get() in N per caller in the batched phase (16)
  --master child|in-process   where the master runs (child)
  --phase all|rpc|batched     run only one phase, e.g. under --cpu-prof (all); a partial run
                    does not write --out unless --out is given
  --out FILE        JSON results (bench/results/tso.json)
Backend: embedded KV; etcd under a unique root path when TIDAL_ETCD_ENDPOINTS is set.`;

interface Options {
  durationMs: number;
  warmupMs: number;
  rounds: number;
  concurrency: number;
  channels: number;
  callers: number;
  sampleEvery: number;
  master: MasterPlacement;
  phase: 'all' | 'rpc' | 'batched';
  /** Where to write the JSON; undefined: nowhere (a partial run without --out). */
  out: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'duration-ms': { type: 'string', default: '5000' },
      'warmup-ms': { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '64' },
      channels: { type: 'string', default: '2' },
      callers: { type: 'string', default: '1000' },
      'sample-every': { type: 'string', default: '16' },
      master: { type: 'string', default: 'child' },
      phase: { type: 'string', default: 'all' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = values[name] as string;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      const allowed = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new Error(`--${name} must be an integer ${allowed}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  if (values.master !== 'child' && values.master !== 'in-process') throw new Error(`--master must be child or in-process, got ${JSON.stringify(values.master)}`);
  if (values.phase !== 'all' && values.phase !== 'rpc' && values.phase !== 'batched') throw new Error(`--phase must be all, rpc or batched, got ${JSON.stringify(values.phase)}`);
  const defaultOut = resolve(dirname(fileURLToPath(import.meta.url)), '../results/tso.json');
  return {
    durationMs: int('duration-ms', 100),
    warmupMs: int('warmup-ms', 0),
    rounds: int('rounds', 1),
    concurrency: int('concurrency', 1),
    channels: int('channels', 1, CHANNEL_SCHEMES.length),
    callers: int('callers', 1),
    sampleEvery: int('sample-every', 1),
    master: values.master,
    phase: values.phase,
    out: values.out ?? (values.phase === 'all' ? defaultOut : undefined),
  };
}

/** Sums of one RPC's slices. */
interface RpcTotals {
  ops: number;
  elapsedMs: number;
  latency: LatencyHistogram;
}

function addSlice(into: RpcTotals, slice: ClosedLoopResult): void {
  into.ops += slice.ops;
  into.elapsedMs += slice.elapsedMs;
  into.latency.merge(slice.latency);
}

/** Phase 1: Ping vs AllocTimestamp(1) at `concurrency`, interleaved over `rounds`. */
async function rpcPhase(master: BenchMaster, opts: Options) {
  const clients = CHANNEL_SCHEMES.slice(0, opts.channels).map((scheme) => new MasterClient(`${scheme}127.0.0.1:${master.port}`));
  const lastByWorker: bigint[] = new Array<bigint>(opts.concurrency).fill(0n);
  const served: bigint[] = [];
  const ping = async (w: number) => {
    await clients[w % clients.length]!.call('ping', {});
  };
  const tso = async (w: number) => {
    const res = await clients[w % clients.length]!.call('allocTimestamp', { count: 1 });
    if (res.count !== 1) throw new Error(`AllocTimestamp(1) answered count ${res.count}`);
    if (res.timestamp <= lastByWorker[w]!) throw new Error(`worker ${w}: timestamp ${res.timestamp} after ${lastByWorker[w]}`);
    lastByWorker[w] = res.timestamp;
    served.push(res.timestamp);
  };
  try {
    const noopCpu = new CpuMeter(master.pid);
    const tsoCpu = new CpuMeter(master.pid);
    const loop = (op: (w: number) => Promise<void>, warmupMs: number, durationMs: number, cpu?: CpuMeter) =>
      runClosedLoop({ concurrency: opts.concurrency, warmupMs, durationMs, op, onWindowStart: () => cpu?.start(), onWindowEnd: () => cpu?.stop() });
    // Connect and warm both paths (JIT, HTTP/2 windows) before anything is measured.
    await loop(ping, opts.warmupMs / 2, 1);
    await loop(tso, opts.warmupMs / 2, 1);
    const noop: RpcTotals = { ops: 0, elapsedMs: 0, latency: new LatencyHistogram() };
    const alloc: RpcTotals = { ops: 0, elapsedMs: 0, latency: new LatencyHistogram() };
    const sliceMs = opts.durationMs / opts.rounds;
    // Each slice restarts its workers; a short settle keeps the ramp out of the window.
    const settleMs = Math.min(200, sliceMs / 4);
    for (let r = 0; r < opts.rounds; r++) {
      addSlice(noop, await loop(ping, settleMs, sliceMs, noopCpu));
      addSlice(alloc, await loop(tso, settleMs, sliceMs, tsoCpu));
    }
    const unique = new Set(served).size === served.length;
    if (!unique) throw new Error('AllocTimestamp served a timestamp twice');
    return { noop, alloc, tsoChecked: served.length, noopCpu: noopCpu.usage(), tsoCpu: tsoCpu.usage() };
  } finally {
    for (const c of clients) c.close();
  }
}

/** Phase 2: the batching allocator under `callers` closed-loop callers over one channel. */
async function batchedPhase(master: BenchMaster, opts: Options) {
  const client = new MasterClient(`127.0.0.1:${master.port}`);
  const cpu = new CpuMeter(master.pid);
  let rpcs = 0;
  let singleRpcs = 0;
  const allocator = new TimestampAllocator({
    fetch: async (count) => {
      rpcs++;
      if (count === 1) singleRpcs++;
      const r = await client.call('allocTimestamp', { count });
      return { first: r.timestamp, count: r.count };
    },
  });
  const lastByCaller: bigint[] = new Array<bigint>(opts.callers).fill(0n);
  // Every timestamp handed out, in the order callers received them (up to MAX_RECORDED).
  const recorded = new BigUint64Array(MAX_RECORDED);
  let n = 0;
  const window = { rpcs0: 0, single0: 0, rpcs: 0, single: 0 };
  // Time the client spends in garbage collection inside the window (per-get() allocations show here).
  let gcMs = 0;
  let gcOpen = false;
  const gcObserver = new PerformanceObserver((list) => {
    if (gcOpen) for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  try {
    const result = await runClosedLoop({
      concurrency: opts.callers,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      sampleEvery: opts.sampleEvery,
      onWindowStart: () => {
        window.rpcs0 = rpcs;
        window.single0 = singleRpcs;
        gcOpen = true;
        cpu.start();
      },
      onWindowEnd: () => {
        cpu.stop();
        gcOpen = false;
        window.rpcs = rpcs - window.rpcs0;
        window.single = singleRpcs - window.single0;
      },
      // A caller is the allocator's get() itself; its checks run synchronously on each result.
      op: () => allocator.get(),
      check: (c, result) => {
        const ts = result as bigint;
        if (ts <= lastByCaller[c]!) throw new Error(`caller ${c}: timestamp ${ts} after ${lastByCaller[c]}`);
        lastByCaller[c] = ts;
        if (n < MAX_RECORDED) recorded[n++] = ts;
      },
    });
    const gcPct = (100 * gcMs) / result.elapsedMs;
    return { result, rpcs: window.rpcs, singleRpcs: window.single, cpu: cpu.usage(), gcPct, ...checkDistinct(recorded.subarray(0, n)) };
  } finally {
    gcObserver.disconnect();
    allocator.close();
    client.close();
  }
}

/** Throws if any timestamp occurs twice. Cheap when they arrive in order (they should). */
function checkDistinct(ts: BigUint64Array): { checked: number; arrivedInOrder: boolean } {
  let inOrder = true;
  for (let i = 1; i < ts.length && inOrder; i++) inOrder = ts[i]! > ts[i - 1]!;
  if (!inOrder) {
    const sorted = ts.slice().sort();
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new Error(`timestamp ${sorted[i]} was handed out twice`);
  }
  return { checked: ts.length, arrivedInOrder: inOrder };
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const loadBefore = loadavg();
  const calibrationBefore = await calibrationMs();
  const master = await startBenchMaster(opts.master);
  let rpc: Awaited<ReturnType<typeof rpcPhase>> | undefined;
  let batched: Awaited<ReturnType<typeof batchedPhase>> | undefined;
  try {
    if (opts.phase !== 'batched') rpc = await rpcPhase(master, opts);
    if (opts.phase !== 'rpc') batched = await batchedPhase(master, opts);
  } finally {
    await master.close();
  }
  const loadAfter = loadavg();
  const calibrationAfter = await calibrationMs();

  const noopRps = rpc === undefined ? Number.NaN : (rpc.noop.ops * 1000) / rpc.noop.elapsedMs;
  const tsoRps = rpc === undefined ? Number.NaN : (rpc.alloc.ops * 1000) / rpc.alloc.elapsedMs;
  const ratio = tsoRps / noopRps;
  const b = batched?.result;
  const tsPerSec = b?.opsPerSec ?? Number.NaN;
  const p99 = b?.latency.quantileMs(0.99) ?? Number.NaN;
  // JSON has no NaN: a phase that did not run reports null.
  const num = (x: number, digits = 0) => (Number.isNaN(x) ? null : round(x, digits));
  /** CPU per operation, in `unit` (1e6: µs), from a percent of one core and operations per second. */
  const perOp = (pct: number | null | undefined, opsPerSec: number, unit: number) =>
    pct == null || !(opsPerSec > 0) ? null : round(((pct / 100) * unit) / opsPerSec, 1);
  const results = {
    noop_rps: num(noopRps),
    tso_rps: num(tsoRps),
    ratio: num(ratio, 3),
    batched_ts_per_s: num(tsPerSec),
    p99_ms: num(p99, 2),
    p50_ms: num(b?.latency.quantileMs(0.5) ?? Number.NaN, 2),
    max_ms: num(b?.latency.max ?? Number.NaN, 2),
    pass: { ratio: ratio >= TARGETS.ratio, batched_ts_per_s: tsPerSec >= TARGETS.batchedTsPerSec, p99_ms: p99 <= TARGETS.p99Ms },
    targets: { ratio: TARGETS.ratio, batched_ts_per_s: TARGETS.batchedTsPerSec, p99_ms: TARGETS.p99Ms },
    extras: {
      noop_p50_ms: num(rpc?.noop.latency.quantileMs(0.5) ?? Number.NaN, 2),
      noop_p99_ms: num(rpc?.noop.latency.quantileMs(0.99) ?? Number.NaN, 2),
      tso_p50_ms: num(rpc?.alloc.latency.quantileMs(0.5) ?? Number.NaN, 2),
      tso_p99_ms: num(rpc?.alloc.latency.quantileMs(0.99) ?? Number.NaN, 2),
      tso_timestamps_checked_unique: rpc?.tsoChecked ?? null,
      batched_rpcs: batched?.rpcs ?? null,
      batched_rpcs_per_s: b === undefined || batched === undefined ? null : round((batched.rpcs * 1000) / b.elapsedMs),
      batched_mean_batch: b === undefined || batched === undefined ? null : round(b.ops / Math.max(1, batched.rpcs), 1),
      batched_single_timestamp_rpcs: batched?.singleRpcs ?? null,
      // Percent of the window's wall time the client spent in GC pauses.
      batched_client_gc_pct: num(batched?.gcPct ?? Number.NaN, 1),
      batched_latency_samples: b?.latency.count ?? null,
      batched_timestamps_checked_unique: batched?.checked ?? null,
      batched_arrived_in_order: batched?.arrivedInOrder ?? null,
    },
    // Percent of one core during the measured windows; "other" is background load on the machine.
    cpu: { noop: rpc?.noopCpu ?? null, tso: rpc?.tsoCpu ?? null, batched: batched?.cpu ?? null },
    // CPU time per unit of work: comparable across runs even when background load steals cores.
    cpu_per_op: {
      noop_client_us: perOp(rpc?.noopCpu?.clientPct, noopRps, 1e6),
      noop_master_us: perOp(rpc?.noopCpu?.masterPct, noopRps, 1e6),
      tso_client_us: perOp(rpc?.tsoCpu?.clientPct, tsoRps, 1e6),
      tso_master_us: perOp(rpc?.tsoCpu?.masterPct, tsoRps, 1e6),
      batched_client_ns_per_ts: perOp(batched?.cpu?.clientPct, tsPerSec, 1e9),
      batched_master_us_per_rpc: perOp(batched?.cpu?.masterPct, b === undefined || batched === undefined ? Number.NaN : (batched.rpcs * 1000) / b.elapsedMs, 1e6),
    },
    setup: {
      phase: opts.phase,
      duration_ms: opts.durationMs,
      warmup_ms: opts.warmupMs,
      rounds: opts.rounds,
      concurrency: opts.concurrency,
      channels: opts.channels,
      callers: opts.callers,
      sample_every: opts.sampleEvery,
      master: opts.master,
      backend: master.backend,
      node: process.version,
      cpus: availableParallelism(),
      cpu_model: cpus()[0]?.model ?? 'unknown',
      loadavg_1m_before: round(loadBefore[0]!, 2),
      loadavg_1m_after: round(loadAfter[0]!, 2),
      // ms of a fixed promise/bigint workload (cpu-meter.ts) before and after: higher = slower CPU.
      calibration_ms_before: calibrationBefore,
      calibration_ms_after: calibrationAfter,
      date: new Date().toISOString(),
    },
  };

  const ok = (pass: boolean, ran: boolean) => (!ran ? 'not run' : pass ? 'ok' : 'MISSED');
  const fmt = (x: number | null, digits = 0) => (x === null ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  const e = results.extras;
  console.table([
    { metric: `noop_rps (Ping, c=${opts.concurrency})`, value: fmt(results.noop_rps), target: '', result: '' },
    { metric: `tso_rps (AllocTimestamp(1), c=${opts.concurrency})`, value: fmt(results.tso_rps), target: '', result: '' },
    { metric: 'ratio tso/noop', value: fmt(results.ratio, 3), target: `≥ ${TARGETS.ratio}`, result: ok(results.pass.ratio, rpc !== undefined) },
    { metric: 'Ping / AllocTimestamp p99 ms', value: `${fmt(e.noop_p99_ms, 2)} / ${fmt(e.tso_p99_ms, 2)}`, target: '', result: '' },
    { metric: `batched_ts_per_s (${opts.callers} callers)`, value: fmt(results.batched_ts_per_s), target: `≥ ${fmt(TARGETS.batchedTsPerSec)}`, result: ok(results.pass.batched_ts_per_s, b !== undefined) },
    { metric: 'p99_ms get() wait', value: fmt(results.p99_ms, 2), target: `≤ ${TARGETS.p99Ms}`, result: ok(results.pass.p99_ms, b !== undefined) },
    { metric: 'p50_ms get() wait', value: fmt(results.p50_ms, 2), target: '', result: '' },
    { metric: 'batched RPCs/s (mean batch)', value: `${fmt(e.batched_rpcs_per_s)} (${fmt(e.batched_mean_batch, 1)})`, target: '', result: '' },
    { metric: 'batched client GC % of wall time', value: fmt(e.batched_client_gc_pct, 1), target: '', result: '' },
  ]);
  const c = results.cpu_per_op;
  const cpuRow = (name: string, u: CpuUsage | null | undefined, perOpClient: number | null, perOpMaster: number | null, unit: string) =>
    u == null
      ? []
      : [
          {
            window: name,
            'client %': u.clientPct,
            'master %': u.masterPct ?? 'in client',
            'other %': u.otherPct,
            'machine %': u.machinePct,
            'client cpu/op': perOpClient === null ? '-' : `${perOpClient} ${unit}`,
            'master cpu/op': perOpMaster === null ? '-' : `${perOpMaster} µs${unit === 'ns/ts' ? '/rpc' : ''}`,
          },
        ];
  const cpuRows = [
    ...cpuRow('Ping', rpc?.noopCpu, c.noop_client_us, c.noop_master_us, 'µs'),
    ...cpuRow('AllocTimestamp', rpc?.tsoCpu, c.tso_client_us, c.tso_master_us, 'µs'),
    ...cpuRow('batched', batched?.cpu, c.batched_client_ns_per_ts, c.batched_master_us_per_rpc, 'ns/ts'),
  ];
  if (cpuRows.length > 0) console.table(cpuRows);
  console.log(
    `master ${opts.master}, ${master.backend}, ${opts.channels} channel(s), node ${process.version}, ${availableParallelism()} cpus, load ${results.setup.loadavg_1m_before} → ${results.setup.loadavg_1m_after}, calibration ${calibrationBefore} → ${calibrationAfter} ms`,
  );
  if (opts.out !== undefined) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`wrote ${opts.out}`);
  }
}

await main().catch((err: unknown) => {
  // A failed check or bad option: say what, without a stack trace, and fail the command.
  console.error(`bench/tso failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
