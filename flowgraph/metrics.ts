/**
 * Per-stage counters of a flowgraph: batches and messages in and out, operate latency (with a
 * small histogram), time spent blocked on a full downstream queue. Plain numbers, cheap enough to
 * update on every batch; {@link FlowGraph.stats} returns snapshots of them.
 */

/** Upper bounds of the latency histogram's buckets, in ms; one more bucket counts the rest. */
export const LATENCY_BUCKETS_MS: readonly number[] = [0.1, 0.5, 1, 5, 10, 50, 100, 500, 1_000, 5_000];

/** One bucket of a latency histogram. */
export interface LatencyBucket {
  /** Upper bound in ms (inclusive); `Infinity` for the last bucket. */
  leMs: number;
  /** Calls whose latency fell in this bucket (not cumulative). */
  count: number;
}

/** Latency of a node's `operate` calls, in ms. */
export interface LatencyStats {
  count: number;
  totalMs: number;
  /** 0 before the first call. */
  meanMs: number;
  maxMs: number;
  /** Latency of the latest call; 0 before the first. */
  lastMs: number;
  buckets: LatencyBucket[];
}

/** Records operate latencies. */
export class LatencyRecorder {
  private count = 0;
  private totalMs = 0;
  private maxMs = 0;
  private lastMs = 0;
  private readonly counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);

  /** Adds one call that took `ms` milliseconds. */
  record(ms: number): void {
    this.count++;
    this.totalMs += ms;
    this.lastMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
  }

  /** A copy of the current figures. */
  snapshot(): LatencyStats {
    return {
      count: this.count,
      totalMs: this.totalMs,
      meanMs: this.count === 0 ? 0 : this.totalMs / this.count,
      maxMs: this.maxMs,
      lastMs: this.lastMs,
      buckets: this.counts.map((count, i) => ({ leMs: LATENCY_BUCKETS_MS[i] ?? Infinity, count })),
    };
  }
}

/** A queue's fill, in batches. */
export interface QueueStats {
  length: number;
  maxLength: number;
  capacity: number;
}

/** Stats of the graph's input stage. */
export interface InputStats {
  name: string;
  /** Batches and messages the input handed to the first node's queue. */
  batchesOut: number;
  messagesOut: number;
  /** Total ms the input waited for space in the first queue (backpressure). */
  blockedMs: number;
  /** True once the input stopped taking batches (source ended, or the graph stopped). */
  stopped: boolean;
}

/** Stats of one node. */
export interface NodeStats {
  name: string;
  /** The queue in front of this node. */
  queue: QueueStats;
  batchesIn: number;
  messagesIn: number;
  /** Non-empty batches this node forwarded (for the last node: produced). */
  batchesOut: number;
  messagesOut: number;
  /** Whether an `operate` call is running now. */
  operating: boolean;
  operate: LatencyStats;
  /** Total ms this node waited for space in the next queue: large means a slower stage follows. */
  blockedMs: number;
}

/** Counters of one stage, updated by the graph. */
export class StageCounters {
  batchesIn = 0;
  messagesIn = 0;
  batchesOut = 0;
  messagesOut = 0;
  blockedMs = 0;
  operating = false;
  stopped = false;
  readonly latency = new LatencyRecorder();
}
