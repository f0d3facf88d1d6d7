import { describe, expect, it } from 'vitest';
import { BatchHandoff } from '../../../src/mq/kafka/batch-handoff.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('batch-handoff', () => {
  it('batch-handoff - an offer stays pending until the reader has taken every item', async () => {
    const h = new BatchHandoff<number>();
    let released = false;
    const offered = h.offer([1, 2]).then(() => (released = true));
    await tick();
    expect(released).toBe(false);
    expect(await h.take()).toBe(1);
    await tick();
    expect(released).toBe(false);
    expect(await h.take()).toBe(2);
    await offered;
    expect(released).toBe(true);
  });

  it('batch-handoff - a waiting reader gets the next offer in order', async () => {
    const h = new BatchHandoff<string>();
    const first = h.take();
    const second = h.take();
    await h.offer(['a', 'b']);
    expect(await first).toBe('a');
    expect(await second).toBe('b');
  });

  it('batch-handoff - after fail the queued items come first, then the error once, then the end', async () => {
    const h = new BatchHandoff<number>();
    const offered = h.offer([1, 2]);
    const boom = new Error('boom');
    h.fail(boom);
    await offered; // the source is released at once
    expect(await h.take()).toBe(1);
    expect(await h.take()).toBe(2);
    await expect(h.take()).rejects.toBe(boom);
    expect(await h.take()).toBeUndefined();
    expect(h.status).toBe('ended');
  });

  it('batch-handoff - fail reaches a reader already waiting', async () => {
    const h = new BatchHandoff<number>();
    const waiting = h.take();
    const boom = new Error('boom');
    h.fail(boom);
    await expect(waiting).rejects.toBe(boom);
  });

  it('batch-handoff - end drops queued items and releases both sides', async () => {
    const h = new BatchHandoff<number>();
    const offered = h.offer([1, 2, 3]);
    expect(await h.take()).toBe(1);
    h.end();
    await offered;
    expect(await h.take()).toBeUndefined();
    await h.offer([4]);
    expect(await h.take()).toBeUndefined();
  });
});
