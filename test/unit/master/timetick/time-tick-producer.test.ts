import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import { MsgType } from '../../../../src/gen/common.js';
import { StreamMsg } from '../../../../src/gen/msg.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import { MemoryMsgStream, type MsgStream } from '../../../../src/mq/index.js';
import { SoftBarrier, TimeTickProducer, TsLock, decodeTimeTick, type TimeTickProducerOptions } from '../../../../src/master/timetick/index.js';
import { TimestampOracle } from '../../../../src/master/tso/timestamp-oracle.js';
import { readAll } from '../../../helpers/read-all.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const CHANNELS = ['tidal-dml_0', 'tidal-dml_1', 'tidal-dml_2'];


const ticksOf = async (stream: MsgStream, channel: string) => (await readAll(stream, channel)).map((m) => decodeTimeTick(m.payload)!);

async function setup(extra: Partial<TimeTickProducerOptions> = {}) {
  const kv = new MemoryKV();
  const stream = new MemoryMsgStream();
  const tso = new TimestampOracle({ kv, key: 'tso/timestamp', tickMs: 10 });
  await tso.start();
  closers.push(() => kv.close(), () => stream.close(), () => tso.close());
  for (const c of CHANNELS) await stream.createChannel(c);
  const producer = new TimeTickProducer({ stream, tso, channels: CHANNELS, intervalMs: 20, sourceId: 7n, ...extra });
  closers.push(() => producer.close());
  return { kv, stream, tso, producer };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const strictlyIncreasing = (xs: bigint[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);

describe('time-tick-producer', () => {
  it('time-tick-producer - publishes a TimeTick StreamMsg at T on every DML channel', async () => {
    const { stream, tso, producer } = await setup();
    const before = (await tso.alloc(1)).first;
    await producer.tickNow();
    const after = (await tso.alloc(1)).first;
    for (const channel of CHANNELS) {
      const [record, ...rest] = await readAll(stream, channel);
      expect(rest).toEqual([]);
      const m = StreamMsg.decode(record!.payload);
      expect(m).toMatchObject({ msgType: MsgType.TimeTick, vchannel: '', collectionId: 0n });
      expect(m.body?.$case).toBe('timeTick');
      const base = m.body?.$case === 'timeTick' ? m.body.value.base : undefined;
      expect(base).toMatchObject({ msgType: MsgType.TimeTick, sourceId: 7n });
      expect(base!.timestamp).toBe(record!.position.timestamp);
      expect(base!.timestamp).toBeGreaterThan(before);
      expect(base!.timestamp).toBeLessThan(after);
      expect(producer.lastTick(channel)).toBe(base!.timestamp);
    }
  });

  it('time-tick-producer - ticks never pass a pending DDL, and move on once it is done', async () => {
    const pending = new Set<bigint>();
    const tsLock = new TsLock();
    const pendingDdlTs = () => (pending.size === 0 ? undefined : [...pending].reduce((a, b) => (a < b ? a : b)));
    const { stream, tso, producer } = await setup({ tsLock, pendingDdlTs });
    await producer.tickNow();
    await sleep(30); // so that ddlTs - 1 is above the first tick
    // The DDL scheduler's side: allocate and register under the shared lock.
    const ddlTs = await tsLock.run(async () => {
      const { first } = await tso.alloc(1);
      pending.add(first);
      return first;
    });
    for (let i = 0; i < 5; i++) {
      await producer.tickNow();
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const channel of CHANNELS) {
      const ticks = await ticksOf(stream, channel);
      // One tick before the DDL, then one at ddlTs - 1, not repeated while the DDL stays pending.
      expect(ticks).toHaveLength(2);
      expect(ticks[1]).toBe(ddlTs - 1n);
    }
    pending.delete(ddlTs);
    await producer.tickNow();
    for (const channel of CHANNELS) {
      const ticks = await ticksOf(stream, channel);
      expect(ticks).toHaveLength(3);
      expect(ticks[2]).toBeGreaterThan(ddlTs);
    }
  });

  it('time-tick-producer - the soft barrier holds ticks at the slowest live proxy, per channel', async () => {
    const softBarrier = new SoftBarrier({ ttlMs: 60_000 });
    const { stream, tso, producer } = await setup({ softBarrier });
    const start = (await tso.alloc(1)).first;
    softBarrier.register(1n, start);
    softBarrier.register(2n, start);
    await producer.tickNow();
    for (const channel of CHANNELS) expect(await ticksOf(stream, channel)).toEqual([start]);

    await sleep(30); // the TSO moves past the reported ticks
    softBarrier.report(1n, { defaultTs: start + 100n, channels: new Map([[CHANNELS[0]!, start + 50n]]) });
    softBarrier.report(2n, { defaultTs: start + 200n });
    await producer.tickNow();
    expect(await ticksOf(stream, CHANNELS[0]!)).toEqual([start, start + 50n]);
    expect(await ticksOf(stream, CHANNELS[1]!)).toEqual([start, start + 100n]);

    // With no live proxy the ticks follow the TSO.
    softBarrier.deregister(1n);
    softBarrier.deregister(2n);
    const now = (await tso.alloc(1)).first;
    await producer.tickNow();
    expect((await ticksOf(stream, CHANNELS[2]!))[2]).toBeGreaterThan(now);
  });

  it('time-tick-producer - ticks strictly increase on every channel and are never re-published', async () => {
    const softBarrier = new SoftBarrier({ ttlMs: 60_000 });
    const { stream, tso, producer } = await setup({ softBarrier, intervalMs: 10 });
    softBarrier.register(1n, (await tso.alloc(1)).first);
    producer.start();
    // Rounds from the timer and from tickNow interleave; the barrier moves in jumps and stalls.
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) softBarrier.report(1n, { defaultTs: (await tso.alloc(1)).first });
      await Promise.all([producer.tickNow(), new Promise((r) => setTimeout(r, 7))]);
    }
    await producer.close();
    for (const channel of CHANNELS) {
      const ticks = await ticksOf(stream, channel);
      expect(ticks.length).toBeGreaterThanOrEqual(5);
      expect(ticks.length).toBeLessThanOrEqual(11); // one per barrier move at most
      expect(strictlyIncreasing(ticks)).toBe(true);
    }
  });

  it('time-tick-producer - publishes on its own every intervalMs', async () => {
    const { stream, producer } = await setup({ intervalMs: 50 });
    producer.start();
    producer.start();
    await new Promise((r) => setTimeout(r, 600));
    await producer.close();
    for (const channel of CHANNELS) {
      const ticks = await ticksOf(stream, channel);
      // About 12 rounds; generous bounds, the point is that the timer runs and does not spin.
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      expect(ticks.length).toBeLessThanOrEqual(20);
      expect(strictlyIncreasing(ticks)).toBe(true);
    }
  });

  it('time-tick-producer - a failed publish is reported and retried next round', async () => {
    const late = 'tidal-dml_late';
    const { stream, producer } = await setup({ channels: [CHANNELS[0]!, late] });
    const failed: [string, unknown][] = [];
    producer.on('publishFailed', (channel, _ts, err) => failed.push([channel, err]));
    await producer.tickNow();
    expect(failed).toHaveLength(1);
    expect(failed[0]![0]).toBe(late);
    expect(failed[0]![1]).toMatchObject({ code: ErrorCode.NotFound });
    expect(producer.lastTick(late)).toBeUndefined();
    expect(await ticksOf(stream, CHANNELS[0]!)).toHaveLength(1);

    await stream.createChannel(late);
    await producer.tickNow();
    expect(await ticksOf(stream, late)).toHaveLength(1);
    expect(await ticksOf(stream, CHANNELS[0]!)).toHaveLength(2);
  });

  it('time-tick-producer - start and close are safe twice; start after close is CLOSED', async () => {
    const { producer } = await setup();
    producer.start();
    producer.start();
    expect(producer.state).toBe('running');
    await producer.close();
    await producer.close();
    expect(producer.state).toBe('closed');
    expect(() => producer.start()).toThrow(expect.objectContaining({ code: ErrorCode.Closed }));
  });
});
