/**
 * TimeTickProducer: every `intervalMs` publishes a TimeTick at T on every DML pchannel, meaning no
 * later message on that channel has a timestamp below T.
 *
 * Per round, under the {@link TsLock}: one TSO timestamp `now` and the lowest pending DDL ts `D`.
 * Per channel: T = min(now, soft barrier of the channel, D − 1). T stays strictly below a pending
 * DDL (so the DDL's own message, stamped D, is never behind a tick, whatever a consumer takes a
 * tick to mean: "nothing below T" or "nothing at or below T"). A channel's T is published only when
 * it is above the last T published there, so ticks strictly increase and a T is not published
 * twice; a channel whose previous publish is still in flight is skipped for the round.
 *
 * A failed publish is logged and tried again next round (with that round's T). Only if a failure
 * was ambiguous (the broker stored the record but the acknowledgement was lost) and T did not move
 * can the same T appear twice; consumers treat a tick at or below the last one as a no-op.
 *
 * Across a master restart ticks keep increasing: the new TSO starts above everything served before,
 * proxies register again with fresh timestamps, and a DDL still pending keeps T below it as it did
 * before the restart.
 *
 * Record format: the payload is a `msg.StreamMsg` with msgType TimeTick, no vchannel, collection
 * 0 and a `timeTick` body whose `base` has msgType TimeTick, timestamp T and sourceId the
 * master's id; the record's timestamp is T.
 */
import { EventEmitter } from 'node:events';
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { MsgType } from '../../gen/common.js';
import { StreamMsg } from '../../gen/msg.js';
import type { MsgStream, Position } from '../../mq/msg-stream.js';
import type { TimestampOracle } from '../tso/timestamp-oracle.js';
import type { SoftBarrier } from './soft-barrier.js';
import { TsLock } from './ts-lock.js';

/** Default interval between rounds, ms (`master.timeTickIntervalMs`). */
export const DEFAULT_TIME_TICK_INTERVAL_MS = 200;

/** Options of {@link TimeTickProducer}. */
export interface TimeTickProducerOptions {
  stream: MsgStream;
  /** The DML pchannels, or a function read each round (channels may be added later). */
  channels: readonly string[] | (() => readonly string[]);
  /** The TSO (only `alloc` is used). */
  tso: Pick<TimestampOracle, 'alloc'>;
  /** Proxies' soft barrier; none: ticks follow the TSO. */
  softBarrier?: Pick<SoftBarrier, 'barrier'>;
  /** The lowest ts of a DDL allocated but not yet published everywhere, or undefined. */
  pendingDdlTs?: () => bigint | undefined;
  /** Shared with the DDL scheduler (see TsLock). Default: a private lock. */
  tsLock?: TsLock;
  /** Interval between rounds, ms. Default 200. */
  intervalMs?: number;
  /** MsgBase.sourceId of the ticks (the master's server id). Default 0. */
  sourceId?: bigint;
  logger?: Logger;
}

/** Lifecycle of a TimeTickProducer. */
export type TimeTickProducerState = 'idle' | 'running' | 'closed';

/** Events of a TimeTickProducer. */
export interface TimeTickProducerEvents {
  /** A tick at `ts` was stored on `channel` at `position`. */
  tick: [channel: string, ts: bigint, position: Position];
  /** Publishing a tick failed; it is tried again next round. */
  publishFailed: [channel: string, ts: bigint, error: unknown];
}

/** The encoded StreamMsg of a TimeTick at `ts` from `sourceId`. */
export function encodeTimeTick(ts: bigint, sourceId = 0n): Uint8Array {
  return StreamMsg.encode({
    msgType: MsgType.TimeTick,
    vchannel: '',
    collectionId: 0n,
    body: { $case: 'timeTick', value: { base: { msgType: MsgType.TimeTick, msgId: 0n, timestamp: ts, sourceId, targetId: 0n } } },
  }).finish();
}

/** The tick of a record payload when it is a TimeTick StreamMsg, else undefined. Throws if the payload does not decode. */
export function decodeTimeTick(payload: Uint8Array): bigint | undefined {
  const m = StreamMsg.decode(payload);
  return m.body?.$case === 'timeTick' ? (m.body.value.base?.timestamp ?? 0n) : undefined;
}

/** Publishes time ticks on every DML channel. `start()` and `close()` are safe to call twice. */
export class TimeTickProducer extends EventEmitter<TimeTickProducerEvents> {
  private readonly stream: MsgStream;
  private readonly channels: () => readonly string[];
  private readonly tso: Pick<TimestampOracle, 'alloc'>;
  private readonly softBarrier: Pick<SoftBarrier, 'barrier'> | undefined;
  private readonly pendingDdlTs: () => bigint | undefined;
  private readonly tsLock: TsLock;
  private readonly intervalMs: number;
  private readonly sourceId: bigint;
  private readonly log: Logger;

  private stateValue: TimeTickProducerState = 'idle';
  private timer: NodeJS.Timeout | undefined;
  /** Rounds run one after another. */
  private roundTail: Promise<unknown> = Promise.resolve();
  private readonly last = new Map<string, bigint>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Consecutive failures per channel, to log a streak once rather than every round. */
  private readonly failures = new Map<string, number>();
  /** Consecutive rounds without a TSO timestamp. */
  private tsoFailures = 0;

  constructor(options: TimeTickProducerOptions) {
    super();
    const interval = options.intervalMs ?? DEFAULT_TIME_TICK_INTERVAL_MS;
    if (!Number.isSafeInteger(interval) || interval < 1) throw errors.invalidArgument(`time tick intervalMs must be a positive integer, got ${interval}`);
    this.stream = options.stream;
    const ch = options.channels;
    this.channels = typeof ch === 'function' ? ch : () => ch;
    this.tso = options.tso;
    this.softBarrier = options.softBarrier;
    this.pendingDdlTs = options.pendingDdlTs ?? (() => undefined);
    this.tsLock = options.tsLock ?? new TsLock();
    this.intervalMs = interval;
    this.sourceId = options.sourceId ?? 0n;
    this.log = (options.logger ?? silentLogger).child({ component: 'time-tick-producer' });
  }

  /** Current lifecycle state. */
  get state(): TimeTickProducerState {
    return this.stateValue;
  }

  /** The last tick published on `channel` by this producer, or undefined. */
  lastTick(channel: string): bigint | undefined {
    return this.last.get(channel);
  }

  /** Starts publishing every intervalMs (the first round right away). No-op when running; throws CLOSED after close(). */
  start(): void {
    if (this.stateValue === 'running') return;
    if (this.stateValue === 'closed') throw errors.closed('time tick producer');
    this.stateValue = 'running';
    this.log.info({ intervalMs: this.intervalMs }, 'time tick producer started');
    this.schedule(0);
  }

  /** Stops the rounds and waits for publishes in flight. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.roundTail.catch(() => undefined);
    await Promise.all(this.inFlight.values());
  }

  /**
   * Runs one round now (after any round in progress) and resolves once its publishes settled; for a
   * DDL that just committed, and for tests. Never rejects: failures are logged and reported as
   * `publishFailed` events.
   */
  async tickNow(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const publishes = await this.enqueueRound();
    await Promise.all(publishes);
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  private schedule(delayMs: number): void {
    if (this.stateValue !== 'running') return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = Date.now();
      // The loop waits only for the timestamp part of a round, never for a publish: one stuck
      // channel must not stop the others.
      void this.enqueueRound().then(() => this.schedule(Math.max(0, this.intervalMs - (Date.now() - started))));
    }, delayMs);
    this.timer.unref();
  }

  /** Queues a round; resolves (never rejects) with its publishes once they are dispatched. */
  private enqueueRound(): Promise<Promise<void>[]> {
    const run = this.roundTail.then(() =>
      this.round().catch((err: unknown) => {
        // A throwing callback (channels, barrier, pendingDdlTs) must not stop the loop.
        this.log.error({ err }, 'time tick round failed');
        return [];
      }),
    );
    this.roundTail = run;
    return run;
  }

  private async round(): Promise<Promise<void>[]> {
    if (this.stateValue === 'closed') return [];
    const channels = [...new Set(this.channels())];
    if (channels.length === 0) return [];
    let now: bigint;
    let ddl: bigint | undefined;
    try {
      ({ now, ddl } = await this.tsLock.run(async () => {
        const { first } = await this.tso.alloc(1);
        return { now: first, ddl: this.pendingDdlTs() };
      }));
    } catch (err) {
      this.tsoFailures += 1;
      if (this.tsoFailures === 1 || this.tsoFailures % 50 === 0) {
        this.log.warn({ err, failedRounds: this.tsoFailures }, 'time tick round skipped: no timestamp');
      }
      return [];
    }
    if (this.tsoFailures > 0) {
      this.log.info({ failedRounds: this.tsoFailures }, 'time tick rounds resumed');
      this.tsoFailures = 0;
    }
    if (this.isClosed()) return []; // closed while waiting for the timestamp
    const publishes: Promise<void>[] = [];
    for (const channel of channels) {
      if (this.inFlight.has(channel)) continue;
      const t = this.target(channel, now, ddl);
      const last = this.last.get(channel);
      if (t <= 0n || (last !== undefined && t <= last)) continue;
      const p = this.publish(channel, t).finally(() => this.inFlight.delete(channel));
      this.inFlight.set(channel, p);
      publishes.push(p);
    }
    return publishes;
  }

  /** T = min(now, soft barrier of the channel, pending DDL − 1). */
  private target(channel: string, now: bigint, ddl: bigint | undefined): bigint {
    let t = now;
    const soft = this.softBarrier?.barrier(channel);
    if (soft !== undefined && soft < t) t = soft;
    if (ddl !== undefined && ddl - 1n < t) t = ddl - 1n;
    return t;
  }

  /** Publishes one tick; never rejects. */
  private async publish(channel: string, ts: bigint): Promise<void> {
    try {
      const [position] = await this.stream.produce(channel, [{ payload: encodeTimeTick(ts, this.sourceId), timestamp: ts }]);
      const last = this.last.get(channel);
      if (last === undefined || ts > last) this.last.set(channel, ts);
      const failed = this.failures.get(channel);
      if (failed !== undefined) {
        this.failures.delete(channel);
        this.log.info({ channel, failedRounds: failed }, 'time tick publishing recovered');
      }
      if (position !== undefined) this.emit('tick', channel, ts, position);
    } catch (err) {
      const n = (this.failures.get(channel) ?? 0) + 1;
      this.failures.set(channel, n);
      // The first failure of a streak, then every 50th, so an outage does not flood the log.
      if (n === 1 || n % 50 === 0) this.log.warn({ err, channel, ts: ts.toString(), failedRounds: n }, 'time tick publish failed; retrying next round');
      this.emit('publishFailed', channel, ts, err);
    }
  }
}
