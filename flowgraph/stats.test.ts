import { describe, expect, it } from 'vitest';
import { FlowGraph, LATENCY_BUCKETS_MS, node } from './index.js';
import { Gate, passNode, sleep } from './testing/fixtures.js';

describe('flowgraph - stats', () => {
  it('reports queue lengths (current and max) while a node is held', async () => {
    const gate = new Gate();
    const graph = new FlowGraph({ name: 'queues', queueCapacity: 3 });
    graph.assemble(
      Array.from({ length: 10 }, (_, i) => [i, i]),
      passNode<number>('a'),
      node('held', async (xs: readonly number[]) => {
        await gate.opened;
        return xs;
      }),
    );
    await graph.start();
    await expect.poll(() => graph.stats().nodes[1]?.queue.length).toBe(3);
    await sleep(20);
    const held = graph.stats();
    expect(held.state).toBe('running');
    expect(held.nodes.map((n) => n.name)).toEqual(['a', 'held']);
    // 10 batches: one in `held`, three queued for it, one in `a`'s hands, three queued for `a`, one with the input.
    expect(held.nodes[1]?.queue).toEqual({ length: 3, maxLength: 3, capacity: 3 });
    expect(held.nodes[0]?.queue).toEqual({ length: 3, maxLength: 3, capacity: 3 });
    expect(held.nodes[1]?.operating).toBe(true);
    expect(held.nodes[1]?.batchesIn).toBe(1);
    expect(held.input).toMatchObject({ name: 'input', batchesOut: 8, messagesOut: 16, stopped: false });

    gate.open();
    await graph.done;
    const after = graph.stats();
    expect(after.state).toBe('closed');
    expect(after.input.stopped).toBe(true);
    expect(after.nodes[1]?.queue).toEqual({ length: 0, maxLength: 3, capacity: 3 });
    expect(after.nodes[1]).toMatchObject({ batchesIn: 10, messagesIn: 20, batchesOut: 10, messagesOut: 20, operating: false });
  });

  it('reports operate latency: count, total, mean, max, last and a histogram', async () => {
    const delays = [1, 20, 5, 1, 12];
    let call = 0;
    const graph = new FlowGraph({ name: 'latency' }).assemble(
      delays.map((d) => [d]),
      node('timed', async (xs: readonly number[]) => {
        call++;
        await sleep(xs[0] as number);
        return xs;
      }),
    );
    await graph.start();
    await graph.done;
    const latency = graph.stats().nodes[0]?.operate;
    expect(call).toBe(5);
    expect(latency?.count).toBe(5);
    // Timers fire no earlier than asked (give or take a ms), so lower bounds hold; no upper bounds.
    expect(latency?.maxMs).toBeGreaterThanOrEqual(19);
    expect(latency?.lastMs).toBeGreaterThanOrEqual(11);
    expect(latency?.totalMs).toBeGreaterThanOrEqual(36);
    expect(latency?.meanMs).toBeCloseTo((latency?.totalMs ?? 0) / 5, 6);
    expect(latency?.buckets).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(latency?.buckets.at(-1)?.leMs).toBe(Infinity);
    expect(latency?.buckets.reduce((n, b) => n + b.count, 0)).toBe(5);
    // The 20 ms call landed above the 10 ms bucket.
    const above10 = latency?.buckets.filter((b) => b.leMs > 10).reduce((n, b) => n + b.count, 0);
    expect(above10).toBeGreaterThanOrEqual(2);
  });
});
