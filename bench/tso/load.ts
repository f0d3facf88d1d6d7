/**
 * Closed-loop load for benchmarks: N async workers, each awaiting one operation at a time in a
 * loop, counted only inside a measured window; and a fixed-bucket latency histogram that records
 * millions of samples without allocating.
 */

/** Latency histogram: 10 µs buckets up to 1 s, one overflow bucket above. */
export class LatencyHistogram {
  private static readonly BUCKET_MS = 0.01;
  private static readonly BUCKETS = 100_000;
  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS + 1);
  private maxMs = 0;
  /** Samples recorded. */
  count = 0;

  /** Records one latency, in ms. */
  record(ms: number): void {
    const i = Math.min(Math.floor(ms / LatencyHistogram.BUCKET_MS), LatencyHistogram.BUCKETS);
    this.counts[i]!++;
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Adds another histogram's samples to this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.maxMs = Math.max(this.maxMs, other.maxMs);
  }

  /** The q-quantile (0 < q ≤ 1), in ms: the upper edge of the bucket holding it (NaN when empty). */
  quantileMs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === LatencyHistogram.BUCKETS ? this.maxMs : Math.min((i + 1) * LatencyHistogram.BUCKET_MS, this.maxMs);
    }
    return this.maxMs;
  }

  /** Largest sample, in ms. */
  get max(): number {
    return this.maxMs;
  }
}

/** One closed-loop phase. */
export interface ClosedLoopOptions {
  /** Workers running at once. */
  concurrency: number;
  /** Run, not counted, before the measured window, ms. */
  warmupMs: number;
  /** Measured window, ms. */
  durationMs: number;
  /**
   * One operation of worker `worker` (0-based); throwing aborts the phase. A caller that checks
   * what the operation returned does it in `check`, so the loop awaits the operation's own promise
   * and adds no async frame of its own per call.
   */
  op: (worker: number) => Promise<unknown>;
  /** Checks one operation's result, synchronously; throwing aborts the phase. */
  check?: (worker: number, result: unknown) => void;
  /** Time one call in `sampleEvery` (per worker); 1 times every call. Default 1. */
  sampleEvery?: number;
  /** Called when the measured window opens (e.g. to snapshot counters). */
  onWindowStart?: () => void;
  /** Called when the measured window closes, before waiting for calls in flight. */
  onWindowEnd?: () => void;
}

/** What a phase measured inside its window. */
export interface ClosedLoopResult {
  /** Operations completed inside the measured window. */
  ops: number;
  /** Length of the measured window, ms. */
  elapsedMs: number;
  /** Operations per second. */
  opsPerSec: number;
  /** Latency of the sampled operations that completed inside the window. */
  latency: LatencyHistogram;
}

/**
 * Runs `concurrency` workers for warm-up plus the measured window, then waits for the calls in
 * flight to finish. Calls completing before the window opens or after it closes are not counted.
 * Rejects with the first error an operation throws.
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const sampleEvery = options.sampleEvery ?? 1;
  const latency = new LatencyHistogram();
  let measuring = false;
  let stopped = false;
  let ops = 0;
  let failure: unknown;

  const worker = async (w: number): Promise<void> => {
    // Spread the sampled calls across workers so they do not all time the same batch.
    let k = w % sampleEvery;
    while (!stopped) {
      const timed = k === 0;
      k = k + 1 === sampleEvery ? 0 : k + 1;
      const start = timed ? performance.now() : 0;
      const result = await options.op(w);
      options.check?.(w, result);
      if (measuring && !stopped) {
        ops++;
        if (timed) latency.record(performance.now() - start);
      }
    }
  };

  const workers = Array.from({ length: options.concurrency }, (_, w) =>
    worker(w).catch((err: unknown) => {
      failure ??= err;
      stopped = true;
    }),
  );
  await sleep(options.warmupMs);
  options.onWindowStart?.();
  measuring = true;
  const t0 = performance.now();
  await sleep(options.durationMs);
  stopped = true;
  const elapsedMs = performance.now() - t0;
  options.onWindowEnd?.();
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  return { ops, elapsedMs, opsPerSec: (ops * 1000) / elapsedMs, latency };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
