import { describe, expect, it } from 'vitest';
import { FlowGraph, node } from './index.js';
import { collectNode, FakeConsumer, Gate, passNode, sleep, type FakeMessage } from './testing/fixtures.js';

describe('flowgraph - backpressure', () => {
  it('a slow node pauses the input: what the source produced is bounded by the queues', async () => {
    const capacity = 4;
    const gate = new Gate();
    const consumer = new FakeConsumer({ batchSize: 3 }); // endless, like a busy topic
    const seen: FakeMessage[] = [];
    const graph = new FlowGraph({ name: 'slow', queueCapacity: capacity });
    graph.assemble(
      consumer,
      passNode<FakeMessage>('dd'),
      passNode<FakeMessage>('insertBuffer'),
      node('slow', async (msgs: readonly FakeMessage[]) => {
        await gate.opened;
        return msgs;
      }),
      collectNode('timeTick', seen),
    );
    await graph.start();

    // Wait until the pipeline in front of `slow` is full and the input is stuck.
    await expect.poll(() => graph.stats().nodes[2]?.queue.length, { timeout: 5_000 }).toBe(capacity);
    await sleep(100);
    const stalled = consumer.produced;
    await sleep(200);
    expect(consumer.produced).toBe(stalled);

    // Held in hand: one batch per node before `slow` (dd, insertBuffer, slow itself) plus one by
    // the input; queued: one full queue in front of each of the first three nodes.
    const bound = 3 * capacity + 3 + 1;
    expect(stalled).toBeLessThanOrEqual(bound);
    expect(stalled).toBeGreaterThanOrEqual(3 * capacity);
    const stats = graph.stats();
    expect(stats.nodes.slice(0, 3).map((n) => n.queue.length)).toEqual([capacity, capacity, capacity]);
    expect(stats.nodes[3]?.queue.length).toBe(0);
    expect(seen).toHaveLength(0);

    // Released, the flow resumes and the source produces again.
    gate.open();
    await expect.poll(() => consumer.produced, { timeout: 5_000 }).toBeGreaterThan(stalled + 50);
    const report = await graph.close();
    expect(report.drained).toBe(true);
    // Everything the source handed over reached the end, in order.
    expect(seen.map((m) => m.position.msgId)).toEqual(Array.from({ length: graph.stats().input.messagesOut }, (_, i) => BigInt(i)));
  });

  it('a node blocked on the next queue shows the wait in blockedMs', async () => {
    const graph = new FlowGraph({ name: 'blocked', queueCapacity: 1 });
    graph.assemble(
      Array.from({ length: 20 }, (_, i) => [i]),
      passNode<number>('fast'),
      node('slow', async (xs: readonly number[]) => {
        await sleep(5);
        return xs;
      }),
    );
    await graph.start();
    await graph.done;
    const [fast, slow] = graph.stats().nodes;
    expect(fast?.blockedMs).toBeGreaterThan(20);
    expect(slow?.operate.count).toBe(20);
  });
});
