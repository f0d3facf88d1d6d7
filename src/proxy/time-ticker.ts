/**
 * The proxy's time ticks: every `intervalMs`, the timestamp below which this proxy will publish
 * nothing more, reported to the master (ReportProxyTimeTick, base.sourceId = the proxy id), which
 * merges the ticks of live proxies into its soft barrier.
 *
 * Rule: take a fresh TSO timestamp F (through the same batching allocator the operations use);
 * the tick is the lowest start timestamp of the DML operations in flight, or F when none is lower
 * (see inflight-ops.ts for why an operation that asks later cannot get a timestamp below F). A
 * tick is reported only when it is above the last one reported; otherwise the previous one is
 * repeated so the proxy's session stays alive. One report goes to every channel (the request's
 * default timestamp).
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../common/log.js';
import type { InflightOps } from './inflight-ops.js';

/** Default interval between tick reports, ms. */
export const DEFAULT_TICK_INTERVAL_MS = 200;

/** Options of {@link TimeTicker}. */
export interface TimeTickerOptions {
  ops: InflightOps;
  /** A fresh TSO timestamp. */
  freshTs: () => Promise<bigint>;
  /** Sends one report. */
  report: (ts: bigint) => Promise<void>;
  /** Interval between rounds, ms. Default 200. */
  intervalMs?: number;
  logger?: Logger;
}

/** Events of a TimeTicker. */
export interface TimeTickerEvents {
  /** The master accepted a tick at `ts`. */
  tick: [ts: bigint];
  /** A round failed (it is tried again next round). */
  tickFailed: [error: unknown];
}

/** Lifecycle of a TimeTicker. */
export type TimeTickerState = 'idle' | 'running' | 'closed';

/** Reports the proxy's tick at an interval. */
export class TimeTicker extends EventEmitter<TimeTickerEvents> {
  private readonly options: TimeTickerOptions;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private stateValue: TimeTickerState = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private lastTs = 0n;

  constructor(options: TimeTickerOptions) {
    super();
    this.options = options;
    this.intervalMs = options.intervalMs ?? DEFAULT_TICK_INTERVAL_MS;
    this.log = (options.logger ?? silentLogger).child({ component: 'time-ticker' });
  }

  get state(): TimeTickerState {
    return this.stateValue;
  }

  /** The last tick the master accepted (0 before the first). */
  get lastTick(): bigint {
    return this.lastTs;
  }

  /** Starts the rounds. Safe to call twice. */
  start(): void {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'running';
    this.schedule();
  }

  /**
   * Runs one round now (after the one in progress) and resolves with the tick it reported, or
   * undefined when it reported none (an operation's timestamps were on their way). Throws what the
   * report threw.
   */
  async tickNow(): Promise<bigint | undefined> {
    while (this.round !== undefined) await this.round;
    const round = this.runRound();
    const settled = round.then(
      () => undefined,
      () => undefined,
    );
    this.round = settled;
    try {
      return await round;
    } finally {
      if (this.round === settled) this.round = undefined;
    }
  }

  /** Stops the rounds and waits for the one in progress. Safe to call twice. */
  async close(): Promise<void> {
    this.stateValue = 'closed';
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.round !== undefined) await this.round;
  }

  private schedule(): void {
    if (this.stateValue !== 'running') return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tickNow()
        .catch((err: unknown) => {
          this.log.warn({ err }, 'time tick report failed; retrying next round');
          this.emit('tickFailed', err);
        })
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async runRound(): Promise<bigint | undefined> {
    const { ops } = this.options;
    const seq = ops.nextSeq();
    const fresh = await this.options.freshTs();
    const floor = ops.floor(fresh, seq);
    if (floor === undefined) return undefined;
    const tick = floor > this.lastTs ? floor : this.lastTs;
    await this.options.report(tick);
    this.lastTs = tick;
    this.emit('tick', tick);
    return tick;
  }
}
