/**
 * The queue between two flowgraph stages: FIFO, bounded, with one producer and one consumer.
 * `put` waits while the queue is full, which is how a slow stage pauses the stages before it (and
 * in the end the input) instead of growing memory.
 */

/** Returned by {@link BoundedQueue.take} once the queue has ended and is empty. */
export const END_OF_QUEUE: unique symbol = Symbol('flowgraph.endOfQueue');

/** Default capacity of a queue between two nodes, in batches. */
export const DEFAULT_QUEUE_CAPACITY = 16;

interface Putter<T> {
  item: T;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

interface Taker<T> {
  resolve: (item: T | typeof END_OF_QUEUE) => void;
  reject: (reason: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A FIFO of at most `capacity` items. Waiting puts and takes are served in call order; an item put
 * while a taker waits goes straight to it. After {@link end}, takes drain what is left and then get
 * {@link END_OF_QUEUE}; after {@link cancel}, every waiting and later call rejects.
 */
export class BoundedQueue<T> {
  /** Most items the queue holds, in items (for the flowgraph: batches). */
  readonly capacity: number;
  private readonly items: T[] = [];
  private readonly putters: Putter<T>[] = [];
  private readonly takers: Taker<T>[] = [];
  private ended = false;
  private cancelReason: { reason: unknown } | undefined;
  private maxLengthValue = 0;

  /** Throws RangeError unless `capacity` is a positive safe integer. */
  constructor(capacity: number = DEFAULT_QUEUE_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Items in the queue now (not counting puts still waiting for space). */
  get length(): number {
    return this.items.length;
  }

  /** Largest {@link length} seen since the queue was made. */
  get maxLength(): number {
    return this.maxLengthValue;
  }

  /** Puts still waiting for space. */
  get waitingPuts(): number {
    return this.putters.length;
  }

  /**
   * Appends `item`, waiting while the queue is full. Rejects with the cancel reason once
   * {@link cancel} was called; throws Error if called after {@link end} (a bug in the producer).
   */
  put(item: T): Promise<void> {
    if (this.cancelReason) return Promise.reject(this.cancelReason.reason);
    if (this.ended) return Promise.reject(new Error('BoundedQueue.put after end()'));
    const taker = this.takers.shift();
    if (taker) {
      taker.resolve(item);
      return RESOLVED;
    }
    if (this.items.length < this.capacity) {
      this.push(item);
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => this.putters.push({ item, resolve, reject }));
  }

  /**
   * The oldest item, waiting while the queue is empty; {@link END_OF_QUEUE} once the queue has
   * ended and drained. Rejects with the cancel reason once {@link cancel} was called.
   */
  take(): Promise<T | typeof END_OF_QUEUE> {
    if (this.cancelReason) return Promise.reject(this.cancelReason.reason);
    if (this.items.length > 0) {
      const item = this.items.shift() as T;
      const putter = this.putters.shift();
      if (putter) {
        this.push(putter.item);
        putter.resolve();
      }
      return Promise.resolve(item);
    }
    if (this.ended) return Promise.resolve(END_OF_QUEUE);
    return new Promise((resolve, reject) => this.takers.push({ resolve, reject }));
  }

  /** Marks the end of the stream: no more puts; takes get {@link END_OF_QUEUE} after the last item. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    // Takers wait only on an empty queue, and the producer ends only after its last put resolved.
    for (const taker of this.takers.splice(0)) taker.resolve(END_OF_QUEUE);
  }

  /**
   * Drops everything and makes every waiting and later put/take reject with `reason`. Returns how
   * many items were dropped (queued ones and those of waiting puts). A second call drops nothing.
   */
  cancel(reason: unknown): number {
    if (this.cancelReason) return 0;
    this.cancelReason = { reason };
    const dropped = this.items.length + this.putters.length;
    this.items.length = 0;
    for (const putter of this.putters.splice(0)) putter.reject(reason);
    for (const taker of this.takers.splice(0)) taker.reject(reason);
    return dropped;
  }

  private push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.maxLengthValue) this.maxLengthValue = this.items.length;
  }
}
