import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import { HardBarrier, SoftBarrier } from '../../../../src/master/timetick/index.js';

function softBarrier(ttlMs = 1_000) {
  const clock = { ms: 1_000_000 };
  const barrier = new SoftBarrier({ ttlMs, now: () => clock.ms });
  return { barrier, clock };
}

/** Whether a promise has settled after pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('soft-barrier', () => {
  it('soft-barrier - is the minimum over live proxies, undefined with none', () => {
    const { barrier } = softBarrier();
    expect(barrier.barrier()).toBeUndefined();
    barrier.register(1n, 100n);
    barrier.register(2n, 150n);
    expect(barrier.barrier()).toBe(100n);
    barrier.report(1n, { defaultTs: 300n });
    expect(barrier.barrier()).toBe(150n);
    barrier.report(2n, { defaultTs: 200n });
    expect(barrier.barrier()).toBe(200n);
  });

  it('soft-barrier - takes per-channel ticks over the default', () => {
    const { barrier } = softBarrier();
    barrier.register(1n, 100n);
    barrier.register(2n, 100n);
    barrier.report(1n, { defaultTs: 500n, channels: new Map([['dml_0', 220n]]) });
    barrier.report(2n, { defaultTs: 400n });
    expect(barrier.barrier('dml_0')).toBe(220n);
    expect(barrier.barrier('dml_1')).toBe(400n);
    expect(barrier.barrier()).toBe(400n);
  });

  it('soft-barrier - a tick never moves back', () => {
    const { barrier } = softBarrier();
    barrier.register(1n, 100n);
    barrier.report(1n, { defaultTs: 500n, channels: new Map([['dml_0', 300n]]) });
    barrier.report(1n, { defaultTs: 200n });
    expect(barrier.barrier('dml_1')).toBe(500n);
    expect(barrier.barrier('dml_0')).toBe(300n);
    barrier.report(1n, { defaultTs: 600n });
    expect(barrier.barrier('dml_0')).toBe(600n);
  });

  it('soft-barrier - drops a proxy whose session lapsed; it must register again', () => {
    const { barrier, clock } = softBarrier(1_000);
    const lapsed: bigint[] = [];
    barrier.on('lapsed', (id) => lapsed.push(id));
    barrier.register(1n, 100n);
    barrier.register(2n, 500n);
    clock.ms += 800;
    barrier.report(2n, { defaultTs: 600n });
    expect(barrier.barrier()).toBe(100n);
    clock.ms += 300; // proxy 1 silent for 1,100 ms > ttl; proxy 2 for 300 ms
    expect(barrier.barrier()).toBe(600n);
    expect(barrier.liveProxies()).toEqual([2n]);
    expect(lapsed).toEqual([1n]);
    expect(() => barrier.report(1n, { defaultTs: 700n })).toThrow(
      expect.objectContaining({ code: ErrorCode.FailedPrecondition, message: expect.stringMatching(/proxy 1 is not registered .*register again/) }),
    );
    barrier.register(1n, 650n);
    expect(barrier.barrier()).toBe(600n);
  });

  it('soft-barrier - deregister drops a proxy at once; registering a live id is ALREADY_EXISTS', () => {
    const { barrier } = softBarrier();
    barrier.register(1n, 100n);
    expect(() => barrier.register(1n, 200n)).toThrow(expect.objectContaining({ code: ErrorCode.AlreadyExists }));
    expect(barrier.deregister(1n)).toBe(true);
    expect(barrier.deregister(1n)).toBe(false);
    expect(barrier.barrier()).toBeUndefined();
    expect(() => barrier.report(1n, { defaultTs: 1n })).toThrow(expect.objectContaining({ code: ErrorCode.FailedPrecondition }));
  });

  it('soft-barrier - rejects negative ticks', () => {
    const { barrier } = softBarrier();
    expect(() => barrier.register(1n, -1n)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
  });
});

describe('hard-barrier', () => {
  it('hard-barrier - waits until every registered DataNode has reported the tick', async () => {
    const b = new HardBarrier();
    b.setNodes([1n, 2n, 3n]);
    const wait = b.waitFor(100n);
    b.report(1n, 'v0', 150n);
    b.report(2n, 'v1', 120n);
    expect(b.barrier()).toBeUndefined(); // node 3 has not reported
    expect(await settled(wait)).toBe(false);
    b.report(3n, 'v2', 90n);
    expect(b.barrier()).toBe(90n);
    expect(await settled(wait)).toBe(false);
    b.report(3n, 'v2', 100n);
    expect(await settled(wait)).toBe(true);
    expect(b.barrier()).toBe(100n);
  });

  it('hard-barrier - a node is as far as its slowest vchannel; ticks never move back', () => {
    const b = new HardBarrier();
    b.setNodes([1n]);
    b.report(1n, 'v0', 300n);
    b.report(1n, 'v1', 200n);
    expect(b.nodeTs(1n)).toBe(200n);
    b.report(1n, 'v1', 100n);
    expect(b.channelTs('v1')).toBe(200n);
    b.release(1n, 'v1');
    expect(b.barrier()).toBe(300n);
    expect(b.channelTs('v1')).toBeUndefined();
  });

  it('hard-barrier - a node removed from the list no longer holds the barrier back', async () => {
    const b = new HardBarrier();
    b.setNodes([1n, 2n]);
    b.report(1n, 'v0', 500n);
    b.report(2n, 'v0', 100n); // both consume v0 (during a handover)
    const wait = b.waitForChannel('v0', 400n);
    expect(await settled(wait)).toBe(false);
    b.setNodes([1n]);
    expect(await settled(wait)).toBe(true);
    expect(b.nodes()).toEqual([1n]);
    // A report of a node not yet listed counts once it is.
    b.report(9n, 'v9', 50n);
    expect(b.barrier()).toBe(500n);
    b.setNodes([1n, 9n]);
    expect(b.barrier()).toBe(50n);
  });

  it('hard-barrier - no registered node means the barrier is not reached', async () => {
    const b = new HardBarrier();
    expect(b.barrier()).toBeUndefined();
    await expect(b.waitFor(1n, { timeoutMs: 20 })).rejects.toMatchObject({ code: ErrorCode.Timeout });
  });

  it('hard-barrier - waits end with CANCELLED on abort and CLOSED on close', async () => {
    const b = new HardBarrier();
    b.setNodes([1n]);
    const ac = new AbortController();
    const w1 = b.waitFor(10n, { signal: ac.signal });
    ac.abort();
    await expect(w1).rejects.toMatchObject({ code: ErrorCode.Cancelled });
    const w2 = b.waitFor(10n);
    b.close();
    b.close();
    await expect(w2).rejects.toMatchObject({ code: ErrorCode.Closed });
  });
});
