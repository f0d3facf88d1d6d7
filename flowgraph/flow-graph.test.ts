import { describe, expect, it } from 'vitest';
import { FlowGraph, FlowgraphErrorCode, node, PushInput, type Node } from './index.js';
import { collectNode, FakeConsumer, Gate, numberBatches, passNode, sleep, type FakeMessage } from './testing/fixtures.js';

describe('flowgraph - data flow', () => {
  it('keeps order through several nodes and finishes when the input ends', async () => {
    const seen: string[] = [];
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'order', queueCapacity: 2 });
    graph.assemble(
      numberBatches(1_000, 7),
      node('double', (xs: readonly number[]) => xs.map((x) => x * 2)),
      passNode<number>('pass', log),
      // Uneven delays: a later batch must still not overtake an earlier one.
      node('jitter', async (xs: readonly number[]) => {
        if ((xs[0] as number) % 3 === 0) await sleep(0);
        return xs;
      }),
      node('format', (xs: readonly number[]) => xs.map((x) => `v${x}`)),
      collectNode('sink', seen, log),
    );
    await graph.start();
    await graph.done;
    expect(seen).toEqual(Array.from({ length: 1_000 }, (_, i) => `v${i * 2}`));
    expect(graph.state).toBe('closed');
    expect(log).toEqual(['start:pass', 'close:pass', 'close:sink']);
  });

  it('forwards nothing for an empty output and several messages for a fan-out', async () => {
    const seen: number[] = [];
    const graph = new FlowGraph({ name: 'filter' }).assemble(
      numberBatches(100, 5),
      node('evens', (xs: readonly number[]) => xs.filter((x) => x % 2 === 0)),
      node('dropSmall', (xs: readonly number[]) => (xs.every((x) => x < 50) ? [] : xs)),
      node('twice', (xs: readonly number[]) => xs.flatMap((x) => [x, x])),
      collectNode('sink', seen),
    );
    await graph.start();
    await graph.done;
    const expected = Array.from({ length: 100 }, (_, i) => i)
      .filter((x) => x % 2 === 0 && x >= 50)
      .flatMap((x) => [x, x]);
    expect(seen).toEqual(expected);
    const [evens, dropSmall, twice, sink] = graph.stats().nodes;
    expect(evens).toMatchObject({ batchesIn: 20, messagesIn: 100, batchesOut: 20, messagesOut: 50 });
    expect(dropSmall).toMatchObject({ batchesIn: 20, batchesOut: 10, messagesOut: 25 });
    expect(twice).toMatchObject({ batchesIn: 10, messagesIn: 25, messagesOut: 50 });
    expect(sink).toMatchObject({ batchesIn: 10, messagesIn: 50, batchesOut: 0 });
  });

  it('reads a MsgStream-consumer-like input and closes it when the graph closes', async () => {
    const consumer = new FakeConsumer({ batchSize: 10, batches: 30 });
    const offsets: bigint[] = [];
    const graph = new FlowGraph({ name: 'by-dev-dml_0_1v0' }).assemble(
      consumer,
      node('decode', (msgs: readonly FakeMessage[]) => msgs.map((m) => m.position.msgId)),
      collectNode('sink', offsets),
    );
    await graph.start();
    await expect.poll(() => offsets.length).toBe(300);
    // The consumer has no more messages: the graph waits on it until closed.
    expect(graph.state).toBe('running');
    const report = await graph.close();
    expect(report).toEqual({ drained: true, droppedBatches: 0, error: undefined });
    expect(consumer.closed).toBe(true);
    expect(offsets).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(i)));
  });

  it('checks at compile time that node types chain', () => {
    const graph = new FlowGraph();
    const toLen: Node<string, number> = node('len', (xs: readonly string[]) => xs.map((x) => x.length));
    const upper: Node<string, string> = node('upper', (xs: readonly string[]) => xs.map((x) => x.toUpperCase()));
    // @ts-expect-error: `upper` takes strings, `len` gives numbers
    expect(() => graph.assemble([['a']], toLen, upper)).not.toThrow();
    // The mistyped call above still ran (types are erased): a second assemble is refused.
    expect(() => graph.assemble([['a']], upper, toLen)).toThrow(expect.objectContaining({ code: FlowgraphErrorCode.FailedPrecondition }));
  });

  it('refuses bad options and bad assemblies with INVALID_ARGUMENT', () => {
    expect(() => new FlowGraph({ queueCapacity: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new FlowGraph({ drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
    const twice = passNode<number>('same');
    expect(() => new FlowGraph().assemble([[1]], twice, twice)).toThrow(/"same" is used twice/);
    expect(() => new FlowGraph().assemble([[1]], node('', (x: readonly number[]) => x))).toThrow(/non-empty name/);
  });
});

describe('flowgraph - push input', () => {
  it('delivers pushed batches in order and finishes after end()', async () => {
    const seen: number[] = [];
    const input = new PushInput<number>('dispatch');
    const graph = new FlowGraph<number>({ name: 'push', queueCapacity: 1 });
    graph.assemble(input, node('inc', (xs: readonly number[]) => xs.map((x) => x + 1)), collectNode('sink', seen));
    // Pushes made before start wait for it.
    const early = graph.push([0, 1]);
    await graph.start();
    await early;
    for (let i = 2; i < 200; i += 2) await graph.push([i, i + 1]);
    await graph.push([]);
    input.end();
    await graph.done;
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await expect(input.push([1])).rejects.toMatchObject({ code: FlowgraphErrorCode.Closed });
  });

  it('a push waits while the first queue is full', async () => {
    const gate = new Gate();
    const graph = new FlowGraph<number>({ name: 'push-bp', queueCapacity: 2 });
    graph.assemble(
      new PushInput<number>(),
      node('held', async (xs: readonly number[]) => {
        await gate.opened;
        return xs;
      }),
    );
    await graph.start();
    let accepted = 0;
    const pushes = Array.from({ length: 10 }, (_, i) => graph.push([i]).then(() => void accepted++));
    await sleep(50);
    // One batch in `held`'s hands, two queued; the rest wait.
    expect(accepted).toBe(3);
    gate.open();
    await Promise.all(pushes);
    expect(accepted).toBe(10);
    await graph.close();
  });

  it('push into a graph with a pull input is refused', async () => {
    const graph = new FlowGraph<number>().assemble([[1]], passNode<number>('a'));
    await expect(graph.push([1])).rejects.toMatchObject({ code: FlowgraphErrorCode.FailedPrecondition });
    await graph.close();
  });
});

describe('flowgraph - throughput sanity', () => {
  it('moves 100k messages through 5 nodes, one message per batch', async () => {
    const count = 100_000;
    let sum = 0;
    let last = -1;
    let ordered = true;
    const graph = new FlowGraph({ name: 'perf' }).assemble(
      (function* () {
        for (let i = 0; i < count; i++) yield [i];
      })(),
      node('a', (xs: readonly number[]) => xs.map((x) => x + 1)),
      node('b', async (xs: readonly number[]) => xs),
      node('c', (xs: readonly number[]) => xs.map((x) => x - 1)),
      node('d', async (xs: readonly number[]) => xs),
      node('e', (xs: readonly number[]) => {
        for (const x of xs) {
          if (x !== last + 1) ordered = false;
          last = x;
          sum += x;
        }
        return [];
      }),
    );
    await graph.start();
    await graph.done;
    expect(ordered).toBe(true);
    expect(last).toBe(count - 1);
    expect(sum).toBe((count * (count - 1)) / 2);
    const stats = graph.stats();
    expect(stats.input.messagesOut).toBe(count);
    expect(stats.nodes.map((n) => n.operate.count)).toEqual([count, count, count, count, count]);
  });
});
