import { describe, expect, it } from 'vitest';
import { BoundedQueue, END_OF_QUEUE } from './index.js';

describe('bounded-queue', () => {
  it('keeps FIFO order and makes put wait while full', async () => {
    const q = new BoundedQueue<number>(2);
    await q.put(1);
    await q.put(2);
    let thirdIn = false;
    const third = q.put(3).then(() => (thirdIn = true));
    await Promise.resolve();
    expect(thirdIn).toBe(false);
    expect(q.length).toBe(2);
    expect(q.waitingPuts).toBe(1);
    expect(await q.take()).toBe(1);
    await third;
    expect(q.length).toBe(2);
    expect(await q.take()).toBe(2);
    expect(await q.take()).toBe(3);
    expect(q.maxLength).toBe(2);
  });

  it('hands a put straight to a waiting take', async () => {
    const q = new BoundedQueue<string>(1);
    const taking = q.take();
    await q.put('x');
    expect(await taking).toBe('x');
    expect(q.maxLength).toBe(0);
  });

  it('drains then returns END_OF_QUEUE after end()', async () => {
    const q = new BoundedQueue<number>(4);
    await q.put(7);
    q.end();
    expect(await q.take()).toBe(7);
    expect(await q.take()).toBe(END_OF_QUEUE);
    await expect(q.put(8)).rejects.toThrow(/after end/);
    const waiting = new BoundedQueue<number>(1);
    const take = waiting.take();
    waiting.end();
    expect(await take).toBe(END_OF_QUEUE);
  });

  it('cancel drops items, rejects waiters and later calls, and counts what it dropped', async () => {
    const q = new BoundedQueue<number>(1);
    await q.put(1);
    const blocked = q.put(2);
    const reason = new Error('aborted');
    expect(q.cancel(reason)).toBe(2);
    await expect(blocked).rejects.toBe(reason);
    await expect(q.take()).rejects.toBe(reason);
    await expect(q.put(3)).rejects.toBe(reason);
    expect(q.cancel(new Error('again'))).toBe(0);
    const idle = new BoundedQueue<number>(1);
    const take = idle.take();
    idle.cancel(reason);
    await expect(take).rejects.toBe(reason);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
    expect(() => new BoundedQueue(1.5)).toThrow(/positive integer/);
  });
});
