/**
 * The global ID allocator: contiguous int64 ID ranges that never overlap, across restarts too.
 *
 * Same scheme as the TSO without a logical limit: the end of the current block is persisted (a
 * guarded transaction) before any ID below it is handed out; a restarted allocator starts at the
 * saved end. A crash wastes at most one block of IDs, never reuses one.
 */
import { errors, ErrorCode, TidalError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { Compare, MetaKV } from '../../kv/meta-kv.js';

export interface IdAllocatorOptions {
  kv: MetaKV;
  /** Key of the saved block end, e.g. 'gid/idTimestamp'. */
  key: string;
  /** IDs reserved per save. Default 100,000. */
  blockSize?: number;
  /** Largest count one allocation may ask for. Default 1,000,000. */
  maxCount?: number;
  /** Compares every save must satisfy (the serving master's key). */
  guard?: () => Compare[];
  logger?: Logger;
}

/** A contiguous ID range: `first` .. `first + count - 1`. */
export interface IdRange {
  first: bigint;
  count: number;
}

/** The global ID allocator. `start()` before `alloc()`. IDs start at 1. */
export class IdAllocator {
  private readonly kv: MetaKV;
  private readonly key: string;
  private readonly blockSize: bigint;
  private readonly maxCount: number;
  private readonly guard: () => Compare[];
  private readonly log: Logger;
  private next = 0n;
  private end = 0n;
  private state: 'idle' | 'serving' | 'fenced' | 'closed' = 'idle';
  /** Allocations run one at a time, so a block save is never raced. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: IdAllocatorOptions) {
    this.kv = options.kv;
    this.key = options.key;
    this.blockSize = BigInt(options.blockSize ?? 100_000);
    this.maxCount = options.maxCount ?? 1_000_000;
    this.guard = options.guard ?? (() => []);
    this.log = (options.logger ?? silentLogger).child({ component: 'id-allocator', key: options.key });
  }

  /** Loads the saved block end; allocation resumes from there. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    const saved = await this.kv.get(this.key);
    const text = saved?.value.toString('utf8') ?? '1';
    if (!/^\d+$/.test(text)) throw errors.corrupted(`id allocator: saved block end at ${this.key} is not an integer`, undefined, { key: this.key });
    this.next = BigInt(text) < 1n ? 1n : BigInt(text);
    this.end = this.next;
    this.state = 'serving';
    this.log.info({ next: this.next.toString() }, 'id allocator serving');
  }

  /** Allocates `count` contiguous IDs (1 ≤ count ≤ maxCount). Throws INVALID_ARGUMENT or UNAVAILABLE. */
  alloc(count: number): Promise<IdRange> {
    if (!Number.isInteger(count) || count < 1 || count > this.maxCount) {
      return Promise.reject(errors.invalidArgument(`count must be an integer from 1 to ${this.maxCount}, got ${count}`, { count }));
    }
    const run = this.queue.then(() => this.allocNow(count));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Later allocations throw UNAVAILABLE. Safe to call twice. */
  async close(): Promise<void> {
    this.state = 'closed';
    await this.queue;
  }

  private async allocNow(count: number): Promise<IdRange> {
    if (this.state !== 'serving') throw errors.unavailable(`id allocator is not serving (state ${this.state})`);
    const want = this.next + BigInt(count);
    if (want > this.end) {
      const newEnd = want + this.blockSize;
      const res = await this.kv.txn({ compare: this.guard(), success: [{ type: 'put', key: this.key, value: newEnd.toString() }] });
      if (!res.succeeded) {
        this.state = 'fenced';
        throw new TidalError(ErrorCode.Unavailable, 'id allocator fenced: this master no longer holds the serving key', { retriable: true });
      }
      this.end = newEnd;
    }
    const first = this.next;
    this.next = want;
    return { first, count };
  }
}
