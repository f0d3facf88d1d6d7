/**
 * FlowGraph: a linear pipeline of nodes joined by bounded queues, fed by one input. The DataNode
 * runs one per vchannel: `graph.assemble(input, dd, insertBuffer, delete, timeTick)`.
 *
 * Each node runs in its own loop: take a batch from its queue, `operate`, put the output in the next
 * queue (waiting while it is full). Order is kept; memory is bounded by the queue capacities.
 *
 * Stopping, three ways, each ending with the nodes closed in pipeline order:
 * - the input ends: what was taken flows through, the graph closes itself, `done` resolves;
 * - `close()`: the input stops, queued batches flow through for at most `drainTimeoutMs`; past it,
 *   in-flight `operate` calls are aborted (their AbortSignal), queues dropped, `done` resolves;
 * - a node throws: everything is aborted at once, `error` fires, `done` rejects naming the node.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BoundedQueue, DEFAULT_QUEUE_CAPACITY, END_OF_QUEUE } from './bounded-queue.js';
import { FlowgraphError, FlowgraphErrorCode } from './errors.js';
import { IterableInput, isInputNode, PushInput, type InputNode } from './input-node.js';
import { StageCounters, type InputStats, type NodeStats } from './metrics.js';
import type { Node, OperateContext } from './node.js';

/** Default bound on draining at `close()`, ms. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
/** Default wait, after aborting, for aborted `operate` calls to return before nodes close, ms. */
export const DEFAULT_ABORT_GRACE_MS = 1_000;

/** Options of a {@link FlowGraph}. */
export interface FlowGraphOptions {
  /** Name in stats and errors (for a DataNode: the vchannel). Default `flowgraph`. */
  name?: string;
  /** Capacity of each queue between stages, in batches. Default 16. */
  queueCapacity?: number;
  /** Longest `close()` lets queued batches flow before aborting, ms. Default 5,000. */
  drainTimeoutMs?: number;
  /** After an abort, longest wait for aborted `operate` calls before closing nodes anyway, ms. Default 1,000. */
  abortGraceMs?: number;
}

/** What a graph reads from: an {@link InputNode}, or an async (or sync) iterable of batches. */
export type GraphInput<T> = InputNode<T> | AsyncIterable<readonly T[]> | Iterable<readonly T[]>;

/** Lifecycle of a FlowGraph. `closed` and `failed` are final. */
export type FlowGraphState = 'idle' | 'starting' | 'running' | 'closing' | 'closed' | 'failed';

/** Events of a FlowGraph. */
export interface FlowGraphEvents {
  /**
   * A node failed (or a node's close threw). Fires as soon as it happens, before the nodes are
   * closed; `done` rejects with the first such error once they are. Emitted only when a listener
   * is registered (an unheard `error` event would throw): `done` carries it either way.
   */
  error: [error: FlowgraphError];
  /** The state changed. */
  state: [state: FlowGraphState];
}

/** What {@link FlowGraph.stats} returns. */
export interface GraphStats {
  name: string;
  state: FlowGraphState;
  input: InputStats;
  /** In pipeline order. */
  nodes: NodeStats[];
}

/** What {@link FlowGraph.close} resolves to. */
export interface CloseReport {
  /** True when every batch the input took went through every node (no abort, no failure). */
  drained: boolean;
  /** Batches dropped from queues when the graph aborted. */
  droppedBatches: number;
  /** The graph's failure, if it failed (before or during close). */
  error: FlowgraphError | undefined;
}

const noop = (): void => undefined;

/** True if `promise` settles within `ms`; false past it. Never rejects. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function checkMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FlowgraphError(FlowgraphErrorCode.InvalidArgument, `flowgraph ${name} must be a non-negative integer (ms), got ${value}`, { graph: '' });
  }
  return value;
}

/**
 * A pipeline of nodes with bounded queues. `In` is the input's message type (it types
 * {@link push}). `start()` and `close()` are safe to call twice.
 */
export class FlowGraph<In = unknown> extends EventEmitter<FlowGraphEvents> {
  readonly name: string;
  /**
   * Settles once the graph has stopped and its nodes are closed: resolves after the input ended or
   * `close()`; rejects with a FlowgraphError NODE_FAILED naming the node when one failed. It never
   * counts as an unhandled rejection by itself.
   */
  readonly done: Promise<void>;

  private readonly queueCapacity: number;
  private readonly drainTimeoutMs: number;
  private readonly abortGraceMs: number;
  private stateValue: FlowGraphState = 'idle';
  private input: InputNode<unknown> | undefined;
  private nodes: Node<unknown, unknown>[] = [];
  private queues: BoundedQueue<readonly unknown[]>[] = [];
  private readonly inputCounters = new StageCounters();
  private counters: StageCounters[] = [];
  private readonly startedNodes: Node<unknown, unknown>[] = [];
  /** Aborted to stop taking input (close, failure). */
  private readonly stopController = new AbortController();
  /** Aborted to give up on in-flight work (drain bound passed, failure). */
  private readonly abortController = new AbortController();
  private workers: Promise<void> | undefined;
  private failure: FlowgraphError | undefined;
  private drained = false;
  private droppedBatches = 0;
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<CloseReport> | undefined;
  private teardownPromise: Promise<void> | undefined;
  private resolveDone: () => void = noop;
  private rejectDone: (error: FlowgraphError) => void = noop;
  private notifyFailed: () => void = noop;
  private readonly failed = new Promise<void>((resolve) => (this.notifyFailed = resolve));

  /** Throws FlowgraphError INVALID_ARGUMENT for a bad option. */
  constructor(options: FlowGraphOptions = {}) {
    super();
    this.name = options.name ?? 'flowgraph';
    const capacity = options.queueCapacity ?? DEFAULT_QUEUE_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new FlowgraphError(FlowgraphErrorCode.InvalidArgument, `flowgraph queueCapacity must be a positive integer (batches), got ${capacity}`, { graph: this.name });
    }
    this.queueCapacity = capacity;
    this.drainTimeoutMs = checkMs('drainTimeoutMs', options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    this.abortGraceMs = checkMs('abortGraceMs', options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The owner hears of a failure through `done` or `error`; an unobserved `done` must not crash the process.
    this.done.catch(noop);
  }

  /** Current lifecycle state. */
  get state(): FlowGraphState {
    return this.stateValue;
  }

  /**
   * Wires `input` to the nodes, in order; each node takes what the previous one returns. Returns
   * this graph, typed by its input. Throws FlowgraphError FAILED_PRECONDITION if already assembled,
   * INVALID_ARGUMENT without nodes or with a missing or repeated name.
   */
  assemble<A extends In, B>(input: GraphInput<A>, n1: Node<A, B>): FlowGraph<A>;
  assemble<A extends In, B, C>(input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>): FlowGraph<A>;
  assemble<A extends In, B, C, D>(input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>): FlowGraph<A>;
  assemble<A extends In, B, C, D, E>(input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>, n4: Node<D, E>): FlowGraph<A>;
  assemble<A extends In, B, C, D, E, F>(
    input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>, n4: Node<D, E>, n5: Node<E, F>,
  ): FlowGraph<A>;
  assemble<A extends In, B, C, D, E, F, G>(
    input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>, n4: Node<D, E>, n5: Node<E, F>, n6: Node<F, G>,
  ): FlowGraph<A>;
  assemble<A extends In, B, C, D, E, F, G, H>(
    input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>, n4: Node<D, E>, n5: Node<E, F>, n6: Node<F, G>, n7: Node<G, H>,
  ): FlowGraph<A>;
  assemble<A extends In, B, C, D, E, F, G, H, I>(
    input: GraphInput<A>, n1: Node<A, B>, n2: Node<B, C>, n3: Node<C, D>, n4: Node<D, E>, n5: Node<E, F>, n6: Node<F, G>, n7: Node<G, H>, n8: Node<H, I>,
  ): FlowGraph<A>;
  assemble(input: GraphInput<In>, ...nodes: Node<never, unknown>[]): FlowGraph<In> {
    const invalid = (message: string): FlowgraphError =>
      new FlowgraphError(FlowgraphErrorCode.InvalidArgument, `flowgraph "${this.name}": ${message}`, { graph: this.name });
    if (this.input !== undefined || this.stateValue !== 'idle') {
      throw new FlowgraphError(FlowgraphErrorCode.FailedPrecondition, `flowgraph "${this.name}": already assembled or closed`, { graph: this.name });
    }
    if (nodes.length === 0) throw invalid('assemble needs at least one node after the input');
    const stage = isInputNode(input) ? (input as InputNode<unknown>) : new IterableInput<unknown>(input as AsyncIterable<readonly unknown[]>);
    const names = new Set<string>();
    for (const s of [stage, ...nodes]) {
      if (typeof s.name !== 'string' || s.name === '') throw invalid('every node needs a non-empty name');
      if (names.has(s.name)) throw invalid(`node name "${s.name}" is used twice; names must be unique`);
      names.add(s.name);
    }
    for (const n of nodes) if (typeof n.operate !== 'function') throw invalid(`node "${n.name}" has no operate function`);
    this.input = stage;
    this.nodes = nodes as Node<unknown, unknown>[];
    this.queues = nodes.map(() => new BoundedQueue<readonly unknown[]>(this.queueCapacity));
    this.counters = nodes.map(() => new StageCounters());
    return this as FlowGraph<In>;
  }

  /**
   * Starts the nodes in order, then the input and the node loops. Safe to call twice (same
   * promise). Rejects with FlowgraphError FAILED_PRECONDITION before assemble, CLOSED after close,
   * NODE_FAILED if a node's start throws (the graph has then failed and closed its started nodes).
   */
  start(): Promise<void> {
    if (this.startPromise) return this.startPromise;
    if (this.input === undefined) {
      return Promise.reject(new FlowgraphError(FlowgraphErrorCode.FailedPrecondition, `flowgraph "${this.name}": start before assemble`, { graph: this.name }));
    }
    if (this.stateValue !== 'idle') return Promise.reject(this.closedError('is closed'));
    this.startPromise = this.doStart();
    return this.startPromise;
  }

  /**
   * Pushes one batch into a graph assembled with a {@link PushInput}; resolves once it is queued for
   * the first node (waits while the queue is full). Rejects with the graph's failure once it failed,
   * FlowgraphError CLOSED once it stopped taking input, FAILED_PRECONDITION for a pull input.
   */
  push(batch: readonly In[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!(this.input instanceof PushInput)) {
      return Promise.reject(
        new FlowgraphError(FlowgraphErrorCode.FailedPrecondition, `flowgraph "${this.name}": push needs a PushInput`, { graph: this.name }),
      );
    }
    return (this.input as PushInput<In>).push(batch);
  }

  /**
   * Stops taking input, lets queued batches flow through for at most `drainTimeoutMs`, aborts what
   * is still in flight past that, then closes the nodes in order. Safe to call twice (same promise);
   * never rejects: a failure is in the report and in `done`.
   */
  close(): Promise<CloseReport> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  /** Queue lengths, counts and operate latency of every stage, as of now. */
  stats(): GraphStats {
    const c = this.inputCounters;
    return {
      name: this.name,
      state: this.stateValue,
      input: { name: this.input?.name ?? 'input', batchesOut: c.batchesOut, messagesOut: c.messagesOut, blockedMs: c.blockedMs, stopped: c.stopped },
      nodes: this.nodes.map((n, i) => {
        const q = this.queues[i] as BoundedQueue<readonly unknown[]>;
        const s = this.counters[i] as StageCounters;
        return {
          name: n.name,
          queue: { length: q.length, maxLength: q.maxLength, capacity: q.capacity },
          batchesIn: s.batchesIn,
          messagesIn: s.messagesIn,
          batchesOut: s.batchesOut,
          messagesOut: s.messagesOut,
          operating: s.operating,
          operate: s.latency.snapshot(),
          blockedMs: s.blockedMs,
        };
      }),
    };
  }

  private async doStart(): Promise<void> {
    this.setState('starting');
    for (const n of this.nodes) {
      if (n.start !== undefined) {
        try {
          await n.start();
        } catch (cause) {
          const error = FlowgraphError.nodeFailed(this.name, n.name, 'start', cause);
          this.fail(error);
          await this.teardown();
          throw error;
        }
      }
      this.startedNodes.push(n);
    }
    this.setState('running');
    this.workers = Promise.all([this.runInput(), ...this.nodes.map((_, i) => this.runNode(i))]).then(noop);
    void this.workers.then(() => {
      // The input ended by itself and everything flowed through: stop as close() would.
      if (this.stateValue === 'running' && this.failure === undefined) {
        this.drained = true;
        void this.teardown();
      }
    });
  }

  private async runInput(): Promise<void> {
    const input = this.input as InputNode<unknown>;
    const first = this.queues[0] as BoundedQueue<readonly unknown[]>;
    const c = this.inputCounters;
    const emit = async (batch: readonly unknown[]): Promise<void> => {
      if (batch.length === 0) return;
      const t0 = performance.now();
      await first.put(batch);
      c.blockedMs += performance.now() - t0;
      c.batchesOut++;
      c.messagesOut += batch.length;
    };
    try {
      await input.run({ graph: this.name, emit, signal: this.stopController.signal });
    } catch (cause) {
      if (!this.abortController.signal.aborted) this.fail(FlowgraphError.nodeFailed(this.name, input.name, 'read', cause));
      return;
    } finally {
      c.stopped = true;
    }
    first.end();
  }

  private async runNode(i: number): Promise<void> {
    const n = this.nodes[i] as Node<unknown, unknown>;
    const inbox = this.queues[i] as BoundedQueue<readonly unknown[]>;
    const outbox = this.queues[i + 1];
    const c = this.counters[i] as StageCounters;
    const signal = this.abortController.signal;
    const ctx: OperateContext = { graph: this.name, node: n.name, signal };
    try {
      for (;;) {
        const batch = await inbox.take();
        if (batch === END_OF_QUEUE) break;
        c.batchesIn++;
        c.messagesIn += batch.length;
        c.operating = true;
        const t0 = performance.now();
        let out: readonly unknown[];
        try {
          out = await n.operate(batch, ctx);
        } catch (cause) {
          if (!signal.aborted) this.fail(FlowgraphError.nodeFailed(this.name, n.name, 'operate', cause));
          return;
        } finally {
          c.operating = false;
          c.latency.record(performance.now() - t0);
        }
        if (signal.aborted) return;
        if (!Array.isArray(out)) {
          this.fail(FlowgraphError.nodeFailed(this.name, n.name, 'operate', new TypeError(`operate returned ${typeof out}, not an array`)));
          return;
        }
        if (out.length === 0) continue;
        c.batchesOut++;
        c.messagesOut += out.length;
        if (outbox !== undefined) {
          const t1 = performance.now();
          await outbox.put(out);
          c.blockedMs += performance.now() - t1;
        }
      }
      outbox?.end();
    } catch {
      // Only a cancelled queue rejects take/put, and only when the graph aborts: nothing to report.
    }
  }

  private async doClose(): Promise<CloseReport> {
    if (this.stateValue === 'starting') await this.startPromise?.catch(noop);
    if (this.stateValue === 'idle') {
      this.drained = true;
      this.stopController.abort(this.closedError('is closed'));
    } else if (this.stateValue === 'running' && this.failure === undefined) {
      this.setState('closing');
      this.stopController.abort(this.closedError('is closing: it takes no more input'));
      const inTime = await settlesWithin(Promise.race([this.workers as Promise<void>, this.failed]), this.drainTimeoutMs);
      if (this.failure === undefined) {
        if (inTime) this.drained = true;
        else this.abortAll(this.closedError(`did not drain within ${this.drainTimeoutMs} ms; in-flight work aborted`));
      }
    }
    await this.teardown();
    return { drained: this.drained && this.failure === undefined, droppedBatches: this.droppedBatches, error: this.failure };
  }

  /** Records the first failure, aborts everything and starts the teardown. */
  private fail(error: FlowgraphError): void {
    if (this.failure !== undefined || this.stateValue === 'closed' || this.stateValue === 'failed') return;
    this.failure = error;
    this.abortAll(error);
    this.notifyFailed();
    this.emitError(error);
    void this.teardown();
  }

  private abortAll(reason: unknown): void {
    this.stopController.abort(reason);
    this.abortController.abort(reason);
    for (const q of this.queues) this.droppedBatches += q.cancel(reason);
  }

  /** Waits (bounded) for the loops to return, closes input and nodes in order, settles `done`. Runs once. */
  private teardown(): Promise<void> {
    this.teardownPromise ??= this.doTeardown();
    return this.teardownPromise;
  }

  private async doTeardown(): Promise<void> {
    if (this.workers !== undefined) await settlesWithin(this.workers, this.abortGraceMs);
    const closeErrors: FlowgraphError[] = [];
    const stages: { name: string; close?: () => void | Promise<void> }[] = [];
    if (this.input !== undefined) stages.push(this.input);
    stages.push(...this.startedNodes);
    for (const s of stages) {
      if (s.close === undefined) continue;
      try {
        await s.close();
      } catch (cause) {
        closeErrors.push(FlowgraphError.nodeFailed(this.name, s.name, 'close', cause));
      }
    }
    for (const e of closeErrors) this.emitError(e);
    this.failure ??= closeErrors[0];
    if (this.failure !== undefined) {
      this.setState('failed');
      this.rejectDone(this.failure);
    } else {
      this.setState('closed');
      this.resolveDone();
    }
  }

  private emitError(error: FlowgraphError): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error);
    } catch {
      // A throwing listener is the owner's bug; the failure still reaches it through `done`.
    }
  }

  private setState(state: FlowGraphState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    try {
      this.emit('state', state);
    } catch {
      // As in emitError: a throwing listener must not break the graph's own lifecycle.
    }
  }

  private closedError(what: string): FlowgraphError {
    return new FlowgraphError(FlowgraphErrorCode.Closed, `flowgraph "${this.name}" ${what}`, { graph: this.name });
  }
}
