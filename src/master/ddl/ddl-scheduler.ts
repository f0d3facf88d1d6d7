/**
 * DdlScheduler: runs DDL tasks one at a time, in timestamp order.
 *
 * Enqueueing a task allocates its timestamp from the TSO. Allocation and queueing happen in one
 * chain, so tasks enter the queue in the order of their timestamps, and the queue is run FIFO: a
 * task's messages reach every channel before those of any later task.
 *
 * {@link DdlScheduler.pendingMinTs} is what the time-tick producer must respect: the smallest
 * timestamp a DDL message may still be published with. While a timestamp is being allocated it is
 * not known yet, so the scheduler answers the last timestamp it allocated (a safe lower bound: the
 * TSO never goes back). A time tick T may be published only when pendingMinTs() is undefined or
 * T <= pendingMinTs(). The `pending` event fires whenever the value changes.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';

/** The kinds of DDL task. */
export type DdlType = 'CreateCollection' | 'DropCollection' | 'CreatePartition' | 'DropPartition' | 'CreateIndex';

/** Where task timestamps come from: the TSO (`TimestampOracle.alloc`) or anything with its shape. */
export interface TimestampSource {
  alloc(count: number): Promise<{ first: bigint; count: number }>;
}

/** A queued DDL task. */
export interface DdlTask<R> {
  readonly type: DdlType;
  /** The task's timestamp (from the TSO, at enqueue): MsgBase.timestamp of its messages. */
  readonly ts: bigint;
  /** Resolves with the task's result once it ran, or rejects with its error. */
  wait(): Promise<R>;
}

/** Events of a {@link DdlScheduler}. */
export interface DdlSchedulerEvents {
  /** pendingMinTs() changed; undefined: no DDL is pending. */
  pending: [minTs: bigint | undefined];
  /** A task finished; `error` when it failed. */
  finished: [type: DdlType, ts: bigint, error: unknown];
}

/** Lifecycle of a scheduler. */
export type DdlSchedulerState = 'running' | 'closed';

/** A mutex shared with the time-tick producer (timetick's `TsLock` fits). */
export interface TsLockLike {
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** Options of {@link DdlScheduler}. */
export interface DdlSchedulerOptions {
  tso: TimestampSource;
  /**
   * Held while a task's timestamp is allocated and queued; the time-tick producer holds it while it
   * reads the TSO and pendingMinTs(), so each sees the other's step whole. Default: none (then
   * pendingMinTs() answers the last allocated timestamp during an allocation).
   */
  tsLock?: TsLockLike;
  logger?: Logger;
}

class Task<R> implements DdlTask<R> {
  private readonly promise: Promise<R>;
  resolve!: (value: R) => void;
  reject!: (err: unknown) => void;

  constructor(
    readonly type: DdlType,
    readonly ts: bigint,
    readonly execute: (ts: bigint) => Promise<R>,
  ) {
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Marks the rejection handled for callers that never wait; wait() still rejects.
    this.promise.catch(() => undefined);
  }

  wait(): Promise<R> {
    return this.promise;
  }
}

/** Runs DDL tasks one at a time in timestamp order. close() rejects queued tasks with CLOSED. */
export class DdlScheduler extends EventEmitter<DdlSchedulerEvents> {
  private readonly tso: TimestampSource;
  private readonly tsLock: TsLockLike | undefined;
  private readonly log: Logger;
  private stateValue: DdlSchedulerState = 'running';
  /** Allocations are chained so tasks are queued in timestamp order. */
  private allocTail: Promise<unknown> = Promise.resolve();
  private allocating = 0;
  /** The largest timestamp allocated so far (0n before the first). */
  private lastTs = 0n;
  private readonly queue: Task<unknown>[] = [];
  private running: Task<unknown> | undefined;
  private runningDone: Promise<void> = Promise.resolve();
  private lastPending: bigint | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(options: DdlSchedulerOptions) {
    super();
    this.tso = options.tso;
    this.tsLock = options.tsLock;
    this.log = (options.logger ?? silentLogger).child({ component: 'ddl-scheduler' });
  }

  /** Current lifecycle state. */
  get state(): DdlSchedulerState {
    return this.stateValue;
  }

  /**
   * Allocates the task's timestamp and queues it. Resolves with the task once it is queued; throws
   * CLOSED after close() and the TSO's error (UNAVAILABLE) when no timestamp can be had, in which
   * case nothing is queued.
   */
  enqueue<R>(type: DdlType, execute: (ts: bigint) => Promise<R>): Promise<DdlTask<R>> {
    if (this.stateValue === 'closed') return Promise.reject(errors.closed('ddl scheduler'));
    this.allocating += 1;
    this.notifyPending();
    const allocate = async (): Promise<DdlTask<R>> => {
      if (this.stateValue === 'closed') throw errors.closed('ddl scheduler');
      const { first: ts } = await this.tso.alloc(1);
      if (ts <= this.lastTs) throw new TidalError(ErrorCode.Internal, `the TSO went back: got ${ts} after ${this.lastTs}`);
      this.lastTs = ts;
      const task = new Task<R>(type, ts, execute);
      this.queue.push(task as Task<unknown>);
      return task;
    };
    const queued = this.allocTail.then(async () => {
      try {
        return await (this.tsLock === undefined ? allocate() : this.tsLock.run(allocate));
      } finally {
        this.allocating -= 1;
        this.pump();
        this.notifyPending();
      }
    });
    this.allocTail = queued.catch(() => undefined);
    return queued;
  }

  /** Enqueues a task and waits for its result. */
  async run<R>(type: DdlType, execute: (ts: bigint) => Promise<R>): Promise<R> {
    const task = await this.enqueue(type, execute);
    return task.wait();
  }

  /**
   * The smallest timestamp a DDL message may still be published with, or undefined when no DDL is
   * pending. A time tick T is safe iff this is undefined or T <= it.
   */
  pendingMinTs(): bigint | undefined {
    // Queued timestamps are all <= lastTs. A timestamp being allocated is unknown yet, but at
    // least lastTs: the TSO never goes back.
    const queued = this.running?.ts ?? this.queue[0]?.ts;
    return queued ?? (this.allocating > 0 ? this.lastTs : undefined);
  }

  /** Resolves once no task is pending (immediately when none is). */
  idle(): Promise<void> {
    if (this.pendingMinTs() === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Rejects queued tasks with CLOSED and waits for the running one. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue !== 'closed') {
      this.stateValue = 'closed';
      for (const task of this.queue.splice(0)) task.reject(errors.closed('ddl scheduler'));
      this.notifyPending();
    }
    await this.allocTail;
    await this.runningDone;
  }

  private pump(): void {
    if (this.running !== undefined) return;
    const task = this.queue.shift();
    if (task === undefined) return;
    this.running = task;
    this.runningDone = this.runTask(task);
  }

  private async runTask(task: Task<unknown>): Promise<void> {
    const log = this.log.child({ ddl: task.type, ts: task.ts.toString() });
    let error: unknown;
    try {
      const result = await task.execute(task.ts);
      task.resolve(result);
      log.debug('ddl task done');
    } catch (err) {
      error = err;
      task.reject(err);
      log.info({ err }, 'ddl task failed');
    } finally {
      this.running = undefined;
    }
    this.emit('finished', task.type, task.ts, error);
    if (this.stateValue === 'running') this.pump();
    this.notifyPending();
  }

  private notifyPending(): void {
    const now = this.pendingMinTs();
    if (now === undefined) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    if (now === this.lastPending) return;
    this.lastPending = now;
    this.emit('pending', now);
  }
}
