/**
 * ChannelInput: the first stage of a vchannel's flowgraph, fed by the pchannel's dispatcher.
 *
 * `await push(batch)` resolves once the batch is in the first queue, so a dispatcher that awaits
 * its pushes stops reading the pchannel while this vchannel's graph is full (backpressure). Unlike
 * the flowgraph's PushInput it can also fail the graph from outside ({@link fail}): the pchannel
 * read broke, or a background sync of this vchannel failed for good — the error then reaches the
 * graph's owner through `graph.done`, naming this input.
 */
import type { InputContext, InputNode } from '../../../flowgraph/index.js';
import { errors } from '../../common/errors.js';
import type { DispatchedMsg } from './messages.js';

const noop = (): void => undefined;

/** The input of one vchannel's flowgraph. One push at a time (the dispatcher awaits each). */
export class ChannelInput implements InputNode<DispatchedMsg> {
  readonly name = 'input';
  private readonly ready: Promise<InputContext<DispatchedMsg>>;
  private resolveReady: (ctx: InputContext<DispatchedMsg>) => void = noop;
  private rejectReady: (err: unknown) => void = noop;
  private outcome: { error?: unknown } | undefined;
  private settleRun: ((outcome: { error?: unknown }) => void) | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(readonly vchannel: string) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A graph closed before it ran leaves `ready` rejected with nobody waiting on it.
    this.ready.catch(noop);
  }

  /**
   * Queues `batch` for the graph's first node; resolves once queued (waits while the queue is
   * full, and until the graph runs). Rejects with CLOSED once the input ended or the graph stopped.
   */
  async push(batch: readonly DispatchedMsg[]): Promise<void> {
    if (batch.length === 0) return;
    if (this.outcome !== undefined) throw errors.closed(`flowgraph input of ${this.vchannel}`);
    const ctx = await this.ready;
    if (this.outcome !== undefined || ctx.signal.aborted) throw errors.closed(`flowgraph input of ${this.vchannel}`);
    const emitted = ctx.emit(batch);
    this.inFlight = emitted.catch(noop);
    await emitted;
  }

  /** Fails the graph with `error` (it names this input, phase `read`). First call wins. */
  fail(error: unknown): void {
    this.finish({ error });
  }

  /** No more input: the graph drains and stops by itself. */
  end(): void {
    this.finish({});
  }

  /** See InputNode.run: resolves on end() or when the graph stops taking input, rejects on fail(). */
  run(ctx: InputContext<DispatchedMsg>): Promise<void> {
    this.resolveReady(ctx);
    return new Promise<void>((resolve, reject) => {
      const settle = (outcome: { error?: unknown }): void => {
        ctx.signal.removeEventListener('abort', onAbort);
        // Let a batch being queued finish first: run() returning ends the first queue.
        void this.inFlight.then(() => ('error' in outcome ? reject(outcome.error) : resolve()));
      };
      const onAbort = (): void => settle({});
      this.settleRun = settle;
      if (this.outcome !== undefined) settle(this.outcome);
      else if (ctx.signal.aborted) settle({});
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Refuses later pushes (the graph stopped). */
  close(): void {
    this.rejectReady(errors.closed(`flowgraph input of ${this.vchannel}`));
    this.finish({});
  }

  private finish(outcome: { error?: unknown }): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    const settle = this.settleRun;
    this.settleRun = undefined;
    settle?.(outcome);
  }
}
