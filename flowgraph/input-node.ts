/**
 * The first stage of a flowgraph: where batches come from. Two kinds: {@link IterableInput} pulls
 * from an async iterable of batches (a MsgStream Consumer), {@link PushInput} is fed by
 * `await push(batch)` (a dispatcher that reads one pchannel for several vchannels). Either way the
 * input waits for space in the first queue before taking the next batch, so a slow stage downstream
 * pauses the source instead of growing memory.
 */
import { FlowgraphError, FlowgraphErrorCode } from './errors.js';

/** What the graph gives its input when it starts. */
export interface InputContext<T> {
  /** The graph's name. */
  readonly graph: string;
  /**
   * Queues one batch for the first node and resolves once it is queued (waits while the queue is
   * full). Rejects when the graph aborts (failure, or close past its drain bound).
   */
  readonly emit: (batch: readonly T[]) => Promise<void>;
  /** Aborted when the graph stops taking input; `reason` is the error pending pushes get. */
  readonly signal: AbortSignal;
}

/** The first stage of a graph. Implement it for a source neither built-in input fits. */
export interface InputNode<T> {
  /** Unique within its graph; used in stats and error messages. */
  readonly name: string;
  /**
   * Emits batches in order until the source ends (then resolves) or `ctx.signal` aborts (then
   * resolves without taking another batch; a batch already taken is still emitted). Rejecting
   * fails the graph with an error naming this input. Called at most once.
   */
  run(ctx: InputContext<T>): Promise<void>;
  /** Called once when the graph stops, before the nodes close, whether or not `run` was called. */
  close?(): void | Promise<void>;
}

/** True when `value` is an {@link InputNode} rather than an iterable of batches. */
export function isInputNode(value: unknown): value is InputNode<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function';
}

const ABORTED: unique symbol = Symbol('flowgraph.aborted');

/** `promise`'s value, or ABORTED as soon as `signal` aborts (a later rejection is then swallowed). */
function untilAborted<V>(promise: PromiseLike<V> | V, signal: AbortSignal): Promise<V | typeof ABORTED> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Pulls batches from an async (or sync) iterable of batches, such as a MsgStream `Consumer`. Empty
 * batches are skipped. Pulling is the backpressure: the next batch is asked for only once the
 * previous one is queued. When the graph stops, the iteration is ended with the iterator's
 * `return()` — which closes a MsgStream Consumer, as leaving a `for await` loop would — without
 * waiting for a pull still pending on the source.
 */
export class IterableInput<T> implements InputNode<T> {
  readonly name: string;
  private readonly source: AsyncIterable<readonly T[]> | Iterable<readonly T[]>;
  private ran = false;

  constructor(source: AsyncIterable<readonly T[]> | Iterable<readonly T[]>, name = 'input') {
    this.source = source;
    this.name = name;
  }

  /** See {@link InputNode.run}. Rejects with what the source throws. */
  async run(ctx: InputContext<T>): Promise<void> {
    if (this.ran) throw new Error(`input "${this.name}" was already run`);
    this.ran = true;
    if (ctx.signal.aborted) return;
    const source = this.source;
    const iterator: AsyncIterator<readonly T[]> | Iterator<readonly T[]> =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    /** The iterator finished by itself (done, or threw): no `return()` owed. */
    let finished = false;
    /** A `next()` is still pending on the source: `return()` would queue behind it. */
    let pulling = false;
    try {
      while (!ctx.signal.aborted) {
        pulling = true;
        let result: IteratorResult<readonly T[]> | typeof ABORTED;
        try {
          result = await untilAborted(iterator.next(), ctx.signal);
        } catch (error) {
          finished = true;
          throw error;
        }
        if (result === ABORTED) return;
        pulling = false;
        if (result.done === true) {
          finished = true;
          return;
        }
        if (result.value.length > 0) await ctx.emit(result.value);
      }
    } finally {
      if (!finished) await this.endIteration(iterator, pulling);
    }
  }

  /** Calls the iterator's `return()`; waits for it unless a pull is pending (it would queue behind). */
  private async endIteration(iterator: AsyncIterator<readonly T[]> | Iterator<readonly T[]>, pulling: boolean): Promise<void> {
    if (iterator.return === undefined) return;
    let ended: Promise<unknown>;
    try {
      ended = Promise.resolve(iterator.return());
    } catch {
      // The source could not be ended cleanly; the graph is stopping anyway and reads nothing more.
      return;
    }
    // A failure to end the source has nobody left to report to: the graph is stopping.
    const settled = ended.then(
      () => undefined,
      () => undefined,
    );
    if (!pulling) await settled;
  }
}

interface PendingPush<T> {
  batch: readonly T[];
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/**
 * An input fed by its owner: `await input.push(batch)` resolves once the batch is in the first
 * queue, so a caller that awaits each push is paused by a slow stage. Pushes are queued in call
 * order; pushes made before the graph starts wait for it. After the graph stops taking input, a
 * push that was not yet queued rejects with CLOSED (or with the graph's failure); a batch already
 * being queued still goes through.
 */
export class PushInput<T> implements InputNode<T> {
  readonly name: string;
  private readonly waiting: PendingPush<T>[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private stopped: { reason: unknown } | undefined;
  private ran = false;
  private graph = '';

  constructor(name = 'input') {
    this.name = name;
  }

  /**
   * Hands `batch` to the graph; resolves once it is queued for the first node. An empty batch
   * resolves at once. Rejects with FlowgraphError CLOSED after the graph stopped taking input,
   * FAILED_PRECONDITION after {@link end}.
   */
  push(batch: readonly T[]): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped.reason);
    if (this.ended) {
      return Promise.reject(
        new FlowgraphError(FlowgraphErrorCode.FailedPrecondition, `flowgraph "${this.graph}": push to input "${this.name}" after end()`, {
          graph: this.graph,
          node: this.name,
        }),
      );
    }
    if (batch.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      this.wake?.();
    });
  }

  /** No more pushes: the graph drains what was pushed, then finishes by itself. Safe to call twice. */
  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** See {@link InputNode.run}. */
  async run(ctx: InputContext<T>): Promise<void> {
    if (this.ran) throw new Error(`input "${this.name}" was already run`);
    this.ran = true;
    this.graph = ctx.graph;
    const onStop = (): void => this.stop(ctx.signal.reason);
    if (ctx.signal.aborted) onStop();
    else ctx.signal.addEventListener('abort', onStop, { once: true });
    try {
      for (;;) {
        const next = this.waiting.shift();
        if (next !== undefined) {
          try {
            await ctx.emit(next.batch);
          } catch (error) {
            next.reject(error);
            throw error;
          }
          next.resolve();
          continue;
        }
        if (this.ended || this.stopped) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      ctx.signal.removeEventListener('abort', onStop);
    }
  }

  /** Refuses pushes still waiting (the graph stopped, or closed before it started). */
  close(): void {
    this.stop(
      new FlowgraphError(FlowgraphErrorCode.Closed, `flowgraph "${this.graph}": input "${this.name}" is closed`, {
        graph: this.graph,
        node: this.name,
      }),
    );
  }

  private stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = { reason };
    for (const pending of this.waiting.splice(0)) pending.reject(reason);
    this.wake?.();
  }
}
