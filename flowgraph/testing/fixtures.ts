/**
 * Test helpers for the flowgraph tests (not part of the public surface): a source shaped like a
 * MsgStream Consumer that counts what it produced, a gate to hold a node, and small nodes.
 */
import type { Node } from '../node.js';

/** A message shaped like a MsgStream ConsumedMessage (position and payload). */
export interface FakeMessage {
  position: { channel: string; msgId: bigint; timestamp: bigint };
  payload: Buffer;
}

/**
 * An async iterable of batches like a MsgStream Consumer: `close()` ends a pending iteration, the
 * iterator's `return()` closes it. Produces `batchSize` messages per batch with increasing msgIds,
 * `batches` batches in all (default: without end), and counts the batches handed out.
 */
export class FakeConsumer implements AsyncIterable<FakeMessage[]> {
  readonly channel: string;
  /** Batches handed out by `next()`. */
  produced = 0;
  closed = false;
  private nextId = 0n;
  private wakeClosed: (() => void) | undefined;

  constructor(
    private readonly options: { channel?: string; batchSize?: number; batches?: number; failAt?: number } = {},
  ) {
    this.channel = options.channel ?? 'by-dev-dml_0';
  }

  /** Ends the iteration; a pending `next()` resolves done. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeClosed?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<FakeMessage[]> {
    return {
      next: async () => {
        // Like a real consumer, yield to the event loop between fetches.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.closed) return { done: true, value: undefined };
        if (this.options.failAt !== undefined && this.produced === this.options.failAt) {
          throw new Error('offset 42 of by-dev-dml_0 was deleted by retention');
        }
        if (this.options.batches !== undefined && this.produced >= this.options.batches) {
          // Like a live topic at its end: wait for more (here: until closed).
          await new Promise<void>((resolve) => (this.wakeClosed = resolve));
          return { done: true, value: undefined };
        }
        this.produced++;
        const batch: FakeMessage[] = [];
        for (let i = 0; i < (this.options.batchSize ?? 1); i++) {
          const msgId = this.nextId++;
          batch.push({ position: { channel: this.channel, msgId, timestamp: msgId << 18n }, payload: Buffer.from(String(msgId)) });
        }
        return { done: false, value: batch };
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }
}

/** A promise that resolves when `open()` is called. */
export class Gate {
  private openGate: () => void = () => undefined;
  readonly opened = new Promise<void>((resolve) => (this.openGate = resolve));
  /** Lets every waiter through. */
  open(): void {
    this.openGate();
  }
}

/** `ms` milliseconds from now. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A node that passes batches on unchanged and records the lifecycle calls it gets into `log`. */
export function passNode<T>(name: string, log: string[] = []): Node<T, T> {
  return {
    name,
    operate: (msgs) => msgs,
    start: () => void log.push(`start:${name}`),
    close: () => void log.push(`close:${name}`),
  };
}

/** A last node that appends everything it gets to `into`. */
export function collectNode<T>(name: string, into: T[], log: string[] = []): Node<T, never> {
  return {
    name,
    operate: (msgs) => {
      into.push(...msgs);
      return [];
    },
    close: () => void log.push(`close:${name}`),
  };
}

/** Batches `0..count-1` in batches of `size`, as a plain array (a sync iterable of batches). */
export function numberBatches(count: number, size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < count; i += size) out.push(Array.from({ length: Math.min(size, count - i) }, (_, k) => i + k));
  return out;
}
