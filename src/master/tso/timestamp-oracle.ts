/**
 * The timestamp oracle (TSO): hands out hybrid timestamps that never go back, across restarts and
 * leader changes included.
 *
 * The oracle serves from `physical` (wall-clock ms) and a logical counter. An upper bound, the
 * window, is persisted in the KV before any timestamp under it is served; a tick loop advances
 * `physical` to the wall clock and extends the window ahead of it. A restarted (or newly elected)
 * oracle starts above the saved window, so even after kill -9 it serves nothing it served before.
 * Every window save is a transaction guarded by the caller's compares (the leader key), so a
 * deposed oracle cannot extend its window; it stops serving instead.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { composeTs, MAX_LOGICAL } from '../../common/hybrid-ts.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { Compare, MetaKV } from '../../kv/meta-kv.js';

export interface TimestampOracleOptions {
  kv: MetaKV;
  /** Key of the saved window (physical ms), e.g. 'tso/timestamp'. */
  key: string;
  /** How far ahead of physical time the saved window reaches, in ms. Default 3,000. */
  windowMs?: number;
  /** Tick interval that advances physical time, in ms. Default 50. */
  tickMs?: number;
  /** Compares every window save must satisfy (the serving master's key). Default none. */
  guard?: () => Compare[];
  /** Longest an allocation waits for the next millisecond or a window save, in ms. Default 3,000. */
  maxWaitMs?: number;
  logger?: Logger;
  /** Wall clock in ms (tests inject a skewed one). */
  now?: () => number;
}

/** A contiguous range of timestamps: `first`, `first + 1`, ..., `first + count - 1`. */
export interface TimestampRange {
  first: bigint;
  count: number;
}

export type OracleState = 'idle' | 'starting' | 'serving' | 'fenced' | 'closed';

export interface OracleEvents {
  /** A window save failed its guard: another master owns the key. The oracle stops serving. */
  fenced: [error: TidalError];
}

/** The TSO. `start()` before `alloc()`; until then `alloc()` throws UNAVAILABLE. */
export class TimestampOracle extends EventEmitter<OracleEvents> {
  private readonly kv: MetaKV;
  private readonly key: string;
  private readonly windowMs: number;
  private readonly tickMs: number;
  private readonly guard: () => Compare[];
  private readonly maxWaitMs: number;
  private readonly log: Logger;
  private readonly now: () => number;

  private stateValue: OracleState = 'idle';
  private physical = 0;
  private logical = 0;
  /** Physical ms up to which (exclusive) timestamps may be served: persisted before use. */
  private savedWindow = 0;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private waiters: (() => void)[] = [];

  constructor(options: TimestampOracleOptions) {
    super();
    this.kv = options.kv;
    this.key = options.key;
    this.windowMs = options.windowMs ?? 3_000;
    this.tickMs = options.tickMs ?? 50;
    this.guard = options.guard ?? (() => []);
    this.maxWaitMs = options.maxWaitMs ?? 3_000;
    this.log = (options.logger ?? silentLogger).child({ component: 'tso', key: options.key });
    this.now = options.now ?? Date.now;
  }

  get state(): OracleState {
    return this.stateValue;
  }

  /** Loads the saved window, starts above it, persists a new window, and starts the tick loop. */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'starting';
    const saved = await this.kv.get(this.key);
    const savedMs = saved === undefined ? 0 : Number(saved.value.toString('utf8'));
    if (!Number.isSafeInteger(savedMs) || savedMs < 0) {
      this.stateValue = 'idle';
      throw errors.corrupted(`tso: saved window at ${this.key} is not a millisecond count`, undefined, { key: this.key });
    }
    // Strictly above anything the previous owner could have served (all of it was below savedMs).
    const start = Math.max(this.now(), savedMs + 1);
    this.physical = start;
    this.logical = 0;
    await this.save(start + this.windowMs);
    if (this.stateValue !== 'starting') return; // closed or fenced meanwhile
    this.stateValue = 'serving';
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    this.log.info({ physicalMs: start, savedMs }, 'tso serving');
  }

  /**
   * Allocates `count` contiguous timestamps (1 ≤ count ≤ 2^18). Throws INVALID_ARGUMENT for a bad
   * count and UNAVAILABLE when the oracle is not serving or cannot get a fresh millisecond in time.
   */
  async alloc(count: number): Promise<TimestampRange> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_LOGICAL) {
      throw errors.invalidArgument(`count must be an integer from 1 to ${MAX_LOGICAL}, got ${count}`, { count });
    }
    const deadline = this.now() + this.maxWaitMs;
    for (;;) {
      if (this.stateValue !== 'serving') throw errors.unavailable(`tso is not serving (state ${this.stateValue})`);
      if (this.logical + count <= MAX_LOGICAL) {
        const first = composeTs(this.physical, this.logical);
        this.logical += count;
        return { first, count };
      }
      // Logical overflow: wait for the next millisecond (within the saved window).
      if (this.now() > deadline) throw errors.unavailable('tso could not get a new millisecond in time (is the window save failing?)');
      await this.waitForAdvance();
    }
  }

  /** Stops the tick loop; later allocations throw UNAVAILABLE. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.wakeWaiters();
    await this.saving?.catch(() => undefined);
  }

  /** Advances physical time and extends the window when it runs short. */
  private async tick(): Promise<void> {
    if (this.stateValue !== 'serving') return;
    this.advance();
    if (this.savedWindow - this.physical <= this.windowMs / 3 && this.saving === undefined) {
      try {
        await this.save(Math.max(this.now(), this.physical) + this.windowMs);
      } catch (err) {
        if (err instanceof TidalError && err.code === ErrorCode.FailedPrecondition) return; // fenced, reported
        this.log.warn({ err }, 'tso window save failed; serving continues below the saved window');
      }
      this.advance();
    }
  }

  /** Moves physical up to the wall clock, never reaching the saved window. */
  private advance(): void {
    const next = Math.min(this.now(), this.savedWindow - 1);
    if (next > this.physical) {
      this.physical = next;
      this.logical = 0;
      this.wakeWaiters();
    }
  }

  private waitForAdvance(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // Do not wait for the next tick when the clock has already moved.
      setTimeout(() => {
        this.advance();
        resolve();
      }, 1).unref();
    });
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Persists `windowMs` (physical ms) with the guard; only then raises the served bound. */
  private save(window: number): Promise<void> {
    const run = async () => {
      const res = await this.kv.txn({
        compare: this.guard(),
        success: [{ type: 'put', key: this.key, value: String(window) }],
      });
      if (!res.succeeded) {
        const err = new TidalError(ErrorCode.FailedPrecondition, 'tso window save rejected: this master no longer holds the serving key', {
          context: { key: this.key },
        });
        this.stateValue = 'fenced';
        if (this.timer !== undefined) clearInterval(this.timer);
        this.wakeWaiters();
        this.log.error({ err }, 'tso fenced');
        this.emit('fenced', err);
        throw err;
      }
      this.savedWindow = Math.max(this.savedWindow, window);
    };
    const p = run().finally(() => {
      this.saving = undefined;
    });
    this.saving = p;
    return p;
  }
}
