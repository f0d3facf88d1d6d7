/**
 * Client-side batching timestamp allocator (PD-style): callers that arrive while an AllocTimestamp
 * RPC is in flight wait together and are served by ONE next RPC whose range is split among them,
 * in arrival order. Every timestamp handed out is checked to be above every earlier one.
 */
import { errors, ErrorCode, TidalError } from '../common/errors.js';
import { MAX_LOGICAL } from '../common/hybrid-ts.js';

/** One AllocTimestamp call: `count` contiguous timestamps starting at `first`. */
export type FetchTimestamps = (count: number) => Promise<{ first: bigint; count: number }>;

interface Waiter {
  count: number;
  resolve: (first: bigint) => void;
  reject: (err: unknown) => void;
}

export interface TimestampAllocatorOptions {
  /** Performs one AllocTimestamp RPC. */
  fetch: FetchTimestamps;
  /** Most timestamps asked for in one RPC (the server's limit is 2^18). */
  maxBatch?: number;
}

/** Batches concurrent timestamp requests into few RPCs. */
export class TimestampAllocator {
  private readonly fetch: FetchTimestamps;
  private readonly maxBatch: number;
  private queue: Waiter[] = [];
  private inFlight = false;
  private last = 0n;
  private closed = false;
  /** RPCs sent (for benchmarks and tests). */
  rpcs = 0;

  constructor(options: TimestampAllocatorOptions) {
    this.fetch = options.fetch;
    this.maxBatch = options.maxBatch ?? MAX_LOGICAL;
  }

  /** One timestamp, above every timestamp this allocator returned before. */
  get(): Promise<bigint> {
    return this.getRange(1);
  }

  /** The first of `count` contiguous timestamps (1 ≤ count ≤ maxBatch). */
  getRange(count: number): Promise<bigint> {
    if (this.closed) return Promise.reject(errors.closed('timestamp allocator'));
    if (!Number.isInteger(count) || count < 1 || count > this.maxBatch) {
      return Promise.reject(errors.invalidArgument(`count must be an integer from 1 to ${this.maxBatch}, got ${count}`));
    }
    return new Promise<bigint>((resolve, reject) => {
      this.queue.push({ count, resolve, reject });
      if (!this.inFlight) void this.dispatch();
    });
  }

  /** Rejects waiting callers with CLOSED; later calls fail. Safe to call twice. */
  close(): void {
    this.closed = true;
    const waiting = this.queue;
    this.queue = [];
    for (const w of waiting) w.reject(errors.closed('timestamp allocator'));
  }

  /** Sends one RPC for as many waiting callers as fit, then again while callers wait. */
  private async dispatch(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.queue.length > 0) {
        let total = 0;
        let n = 0;
        while (n < this.queue.length && total + this.queue[n]!.count <= this.maxBatch) total += this.queue[n++]!.count;
        const batch = this.queue.splice(0, n);
        this.rpcs++;
        try {
          const range = await this.fetch(total);
          if (range.count !== total) throw new TidalError(ErrorCode.Internal, `tso answered ${range.count} timestamps, asked for ${total}`);
          if (range.first <= this.last) {
            throw new TidalError(ErrorCode.Internal, `tso went backwards: got ${range.first} after ${this.last}`, { retriable: true });
          }
          let next = range.first;
          for (const w of batch) {
            w.resolve(next);
            next += BigInt(w.count);
          }
          this.last = next - 1n;
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
        // The callers just served usually ask again at once, but from their continuations, which
        // run after this loop would have found the queue empty: the first of them would get an RPC
        // of its own and the rest wait for the next. Yield one macrotask turn (still in flight) so
        // they all join the next RPC.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.inFlight = false;
    }
  }
}
