import { describe, expect, it } from 'vitest';
import { FlowGraph, FlowgraphError, FlowgraphErrorCode, node, PushInput, type FlowGraphState } from './index.js';
import { collectNode, FakeConsumer, Gate, passNode, sleep, type FakeMessage } from './testing/fixtures.js';

describe('flowgraph - failures reach the owner', () => {
  it('an error in a middle node rejects done naming the node, fires error and stops the input', async () => {
    const consumer = new FakeConsumer();
    const log: string[] = [];
    const errors: FlowgraphError[] = [];
    const states: FlowGraphState[] = [];
    let calls = 0;
    const graph = new FlowGraph({ name: 'by-dev-dml_0_7v0' });
    graph.on('error', (e) => errors.push(e));
    graph.on('state', (s) => states.push(s));
    graph.assemble(
      consumer,
      passNode<FakeMessage>('dd', log),
      node(
        'insertBuffer',
        (msgs: readonly FakeMessage[]) => {
          if (++calls === 10) throw new Error('arrow batch is corrupt');
          return msgs;
        },
        { close: () => void log.push('close:insertBuffer') },
      ),
      collectNode<FakeMessage>('timeTick', [], log),
    );
    await graph.start();

    const error = await graph.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FlowgraphError);
    expect(error).toMatchObject({ code: FlowgraphErrorCode.NodeFailed, node: 'insertBuffer', phase: 'operate', graph: 'by-dev-dml_0_7v0' });
    expect((error as Error).message).toContain('"insertBuffer"');
    expect((error as Error).message).toContain('arrow batch is corrupt');
    expect(((error as Error).cause as Error).message).toBe('arrow batch is corrupt');
    expect(errors).toEqual([error]);
    expect(states).toEqual(['starting', 'running', 'failed']);
    expect(graph.state).toBe('failed');

    // The input stopped: the consumer was closed and pulls no more.
    expect(consumer.closed).toBe(true);
    const produced = consumer.produced;
    await sleep(50);
    expect(consumer.produced).toBe(produced);
    expect(calls).toBe(10);
    expect(log).toEqual(['start:dd', 'close:dd', 'close:insertBuffer', 'close:timeTick']);

    // Afterwards the owner gets the same error from close and push.
    const report = await graph.close();
    expect(report.error).toBe(error);
    expect(report.drained).toBe(false);
    await expect(graph.push([])).rejects.toBe(error);
  });

  it('done rejects even with no error listener, and the process does not see an unhandled rejection', async () => {
    const graph = new FlowGraph({ name: 'quiet' }).assemble(
      [[1], [2]],
      node('boom', () => {
        throw new Error('no');
      }),
    );
    await graph.start();
    await expect(graph.done).rejects.toMatchObject({ node: 'boom' });
  });

  it('a source that throws fails the graph naming the input', async () => {
    const consumer = new FakeConsumer({ failAt: 5 });
    const graph = new FlowGraph({ name: 'retention' }).assemble(consumer, passNode<FakeMessage>('dd'));
    await graph.start();
    await expect(graph.done).rejects.toMatchObject({ code: 'NODE_FAILED', node: 'input', phase: 'read', message: expect.stringContaining('deleted by retention') });
  });

  it('an operate that returns a non-array fails the graph', async () => {
    const bad = { name: 'bad', operate: () => 42 as unknown as number[] };
    const graph = new FlowGraph({ name: 'shape' }).assemble([[1]], bad);
    await graph.start();
    await expect(graph.done).rejects.toMatchObject({ node: 'bad', message: expect.stringContaining('not an array') });
  });

  it('a node whose start throws fails start; nodes started before it are closed, later ones untouched', async () => {
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'start' }).assemble(
      [[1]],
      passNode<number>('a', log),
      node('b', (x: readonly number[]) => x, {
        start: () => {
          throw new Error('no bucket');
        },
        close: () => void log.push('close:b'),
      }),
      passNode<number>('c', log),
    );
    await expect(graph.start()).rejects.toMatchObject({ code: 'NODE_FAILED', node: 'b', phase: 'start' });
    await expect(graph.done).rejects.toMatchObject({ node: 'b' });
    expect(log).toEqual(['start:a', 'close:a']);
    expect(graph.state).toBe('failed');
  });

  it('a node whose close throws: later nodes still close and done rejects naming it', async () => {
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'close-error' }).assemble(
      [[1]],
      node('a', (x: readonly number[]) => x, {
        close: () => {
          throw new Error('flush failed');
        },
      }),
      passNode<number>('b', log),
    );
    await graph.start();
    await expect(graph.done).rejects.toMatchObject({ node: 'a', phase: 'close' });
    expect(log).toEqual(['start:b', 'close:b']);
  });
});

describe('flowgraph - start and close', () => {
  it('start and close are safe to call twice', async () => {
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'twice' }).assemble(new FakeConsumer(), passNode<FakeMessage>('a', log), passNode<FakeMessage>('b', log));
    const s1 = graph.start();
    expect(graph.start()).toBe(s1);
    await s1;
    const c1 = graph.close();
    const c2 = graph.close();
    expect(c2).toBe(c1);
    const report = await c1;
    expect(await graph.close()).toBe(report);
    await graph.done;
    expect(graph.state).toBe('closed');
    expect(log).toEqual(['start:a', 'start:b', 'close:a', 'close:b']);
    await expect(graph.start()).resolves.toBeUndefined(); // the same, settled start promise
  });

  it('close before start closes nothing that was not started and refuses a later start', async () => {
    const log: string[] = [];
    const input = new PushInput<number>();
    const graph = new FlowGraph<number>({ name: 'never' }).assemble(input, passNode<number>('a', log));
    const waiting = graph.push([1]);
    const report = await graph.close();
    expect(report).toEqual({ drained: true, droppedBatches: 0, error: undefined });
    await expect(waiting).rejects.toMatchObject({ code: FlowgraphErrorCode.Closed });
    await expect(graph.start()).rejects.toMatchObject({ code: FlowgraphErrorCode.Closed });
    await graph.done;
    expect(log).toEqual([]);
  });

  it('start before assemble is refused', async () => {
    await expect(new FlowGraph().start()).rejects.toMatchObject({ code: FlowgraphErrorCode.FailedPrecondition });
  });

  it('close drains queued batches within the bound, then closes nodes in order', async () => {
    const consumer = new FakeConsumer({ batchSize: 2 });
    const seen: FakeMessage[] = [];
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'drain', queueCapacity: 8, drainTimeoutMs: 10_000 });
    graph.assemble(
      consumer,
      passNode<FakeMessage>('dd', log),
      node('slow', async (msgs: readonly FakeMessage[]) => {
        await sleep(2);
        return msgs;
      }),
      collectNode('timeTick', seen, log),
    );
    await graph.start();
    await expect.poll(() => graph.stats().nodes[1]?.queue.length).toBe(8);
    const closing = graph.close();
    expect(graph.state).toBe('closing');
    const closedWhileQueued = graph.stats().nodes.reduce((n, s) => n + s.queue.length, 0);
    const report = await closing;

    expect(closedWhileQueued).toBeGreaterThanOrEqual(8);
    expect(report).toEqual({ drained: true, droppedBatches: 0, error: undefined });
    // Every batch the input took went through, in order, and the input took no more.
    const taken = graph.stats().input.messagesOut;
    expect(seen.map((m) => m.position.msgId)).toEqual(Array.from({ length: taken }, (_, i) => BigInt(i)));
    expect(consumer.closed).toBe(true);
    expect(log).toEqual(['start:dd', 'close:dd', 'close:timeTick']);
    await graph.done;
  });

  it('close past the bound aborts a stuck node through its signal and closes anyway', async () => {
    const log: string[] = [];
    let aborted: unknown;
    const graph = new FlowGraph({ name: 'stuck', queueCapacity: 2, drainTimeoutMs: 100, abortGraceMs: 1_000 });
    graph.assemble(
      new FakeConsumer(),
      passNode<FakeMessage>('dd', log),
      node(
        'upload',
        (_msgs: readonly FakeMessage[], ctx) =>
          new Promise<FakeMessage[]>((_resolve, reject) => {
            // Stuck until told to stop, like an upload to an S3 that does not answer.
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              reject(new Error('upload aborted'));
            });
          }),
        { close: () => void log.push('close:upload') },
      ),
    );
    await graph.start();
    await expect.poll(() => graph.stats().nodes[1]?.queue.length).toBe(2);
    const t0 = Date.now();
    const report = await graph.close();
    const elapsed = Date.now() - t0;
    expect(report.drained).toBe(false);
    expect(report.error).toBeUndefined();
    expect(report.droppedBatches).toBeGreaterThanOrEqual(2);
    expect(aborted).toMatchObject({ code: FlowgraphErrorCode.Closed, message: expect.stringContaining('did not drain within 100 ms') });
    expect(elapsed).toBeLessThan(5_000);
    expect(log).toEqual(['start:dd', 'close:dd', 'close:upload']);
    // Aborting on close is what the owner asked for, not a failure.
    await graph.done;
    expect(graph.state).toBe('closed');
  });

  it('close past the bound does not wait forever for a node that ignores its signal', async () => {
    const log: string[] = [];
    const graph = new FlowGraph({ name: 'deaf', drainTimeoutMs: 50, abortGraceMs: 50 });
    graph.assemble(
      [[1], [2], [3]],
      node('deaf', () => new Promise<number[]>(() => undefined), { close: () => void log.push('close:deaf') }),
    );
    await graph.start();
    await expect.poll(() => graph.stats().nodes[0]?.operating).toBe(true);
    const report = await graph.close();
    expect(report).toEqual({ drained: false, droppedBatches: 2, error: undefined });
    expect(log).toEqual(['close:deaf']);
    expect(graph.state).toBe('closed');
  });

  it('a pending push is refused when close begins; a batch being queued still goes through', async () => {
    const gate = new Gate();
    const seen: number[] = [];
    const graph = new FlowGraph<number>({ name: 'push-close', queueCapacity: 1, drainTimeoutMs: 5_000 });
    graph.assemble(
      new PushInput<number>(),
      node('held', async (xs: readonly number[]) => {
        await gate.opened;
        return xs;
      }),
      collectNode('sink', seen),
    );
    await graph.start();
    const results = Array.from({ length: 5 }, (_, i) => graph.push([i]).then(() => 'ok' as const, (e: FlowgraphError) => e.code));
    await sleep(20);
    const closing = graph.close();
    gate.open();
    const report = await closing;
    // `held` had [0], the queue [1], the input was queueing [2]; [3] and [4] were refused.
    expect(await Promise.all(results)).toEqual(['ok', 'ok', 'ok', 'CLOSED', 'CLOSED']);
    expect(seen).toEqual([0, 1, 2]);
    expect(report.drained).toBe(true);
  });
});
