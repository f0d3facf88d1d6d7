/**
 * BatchHandoff: hands batches from a push source (kafkajs's eachBatch handler) to a pull reader
 * (an async iterator). `offer` resolves only once the reader has taken everything offered, so
 * while the reader does not pull, the source stays parked: that is the consumer's backpressure
 * and bounds read-ahead to one offer.
 */

type Waiter<T> = { resolve: (item: T | undefined) => void; reject: (err: unknown) => void };

/** Lifecycle of a handoff: open, failed (the error is still to be delivered), ended. */
export type HandoffState = 'open' | 'failed' | 'ended';

/** A one-producer, one-reader rendezvous with a bounded queue of items. */
export class BatchHandoff<T> {
  private queue: T[] = [];
  private readers: Waiter<T>[] = [];
  private drained: (() => void) | undefined;
  private error: unknown;
  private state: HandoffState = 'open';

  /** Current state. */
  get status(): HandoffState {
    return this.state;
  }

  /**
   * Queues items for the reader and resolves when all of them are taken, or at once when the
   * handoff failed or ended (then the items are dropped). One offer at a time.
   */
  offer(items: readonly T[]): Promise<void> {
    if (this.state !== 'open' || items.length === 0) return Promise.resolve();
    if (this.drained !== undefined) throw new Error('BatchHandoff.offer called while an offer is pending');
    for (const item of items) this.queue.push(item);
    this.serveReaders();
    if (this.queue.length === 0 || this.state !== 'open') return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  /**
   * The next item; undefined once ended. After fail(), the items already queued come first, then
   * the error is thrown once, then the handoff is ended.
   */
  take(): Promise<T | undefined> {
    if (this.queue.length > 0 && this.readers.length === 0) {
      const item = this.queue.shift() as T;
      this.releaseIfDrained();
      return Promise.resolve(item);
    }
    if (this.state === 'ended') return Promise.resolve(undefined);
    if (this.state === 'failed' && this.readers.length === 0) return Promise.reject(this.consumeError());
    return new Promise((resolve, reject) => {
      this.readers.push({ resolve, reject });
      this.serveReaders();
    });
  }

  /** Ends with an error: queued items are still delivered, then `take` throws `err` once. No-op unless open. */
  fail(err: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.error = err;
    // The source must not stay parked on a reader that will stop after the error.
    this.releaseSource();
    this.serveReaders();
  }

  /** Ends now: queued items are dropped, waiting readers get undefined, the source is released. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.queue = [];
    this.releaseSource();
    for (const r of this.readers.splice(0)) r.resolve(undefined);
  }

  private serveReaders(): void {
    while (this.readers.length > 0 && this.queue.length > 0) {
      (this.readers.shift() as Waiter<T>).resolve(this.queue.shift());
    }
    this.releaseIfDrained();
    if (this.state === 'failed' && this.queue.length === 0 && this.readers.length > 0) {
      const err = this.consumeError();
      for (const r of this.readers.splice(0)) r.reject(err);
    }
  }

  private consumeError(): unknown {
    const err = this.error;
    this.state = 'ended';
    this.error = undefined;
    return err;
  }

  private releaseIfDrained(): void {
    if (this.queue.length === 0) this.releaseSource();
  }

  private releaseSource(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }
}
