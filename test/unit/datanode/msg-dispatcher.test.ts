// MsgDispatcher on the embedded log: one reader per pchannel, routing by header, ticks to every
// vchannel, backpressure from a slow vchannel, and a vchannel joining behind the reader.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMsgStream } from '../../../src/mq/index.js';
import type { DispatchedMsg } from '../../../src/datanode/pipeline/messages.js';
import { DataPathMetrics } from '../../../src/datanode/pipeline/metrics.js';
import { MsgDispatcher, type DispatchTarget } from '../../../src/datanode/pipeline/msg-dispatcher.js';
import { insertPayload, testSchema, tickPayload, waitFor } from './helpers.js';

const PCH = 'dsp-dml_0';
const schema = testSchema();

/** A target that records the offsets it got; `gate` (when set) holds its pushes. */
class Collector implements DispatchTarget {
  readonly offsets: bigint[] = [];
  readonly batchSizes: number[] = [];
  gate: Promise<void> | undefined;
  failure: unknown;
  constructor(
    readonly vchannel: string,
    readonly collectionId: bigint,
  ) {}
  async push(batch: readonly DispatchedMsg[]): Promise<void> {
    if (this.gate !== undefined) await this.gate;
    this.batchSizes.push(batch.length);
    for (const m of batch) this.offsets.push(m.position.msgId);
  }
  fail(error: unknown): void {
    this.failure = error;
  }
}

function insertFor(vchannel: string, collectionId: bigint, pk: bigint) {
  return insertPayload({ schema, collectionId, partitionId: 1n, segmentId: 9n, vchannel, pks: [pk], ts: 10n });
}

let stream: MemoryMsgStream;
let dispatcher: MsgDispatcher;

async function setup(maxPushBytes?: number): Promise<void> {
  stream = new MemoryMsgStream();
  await stream.createChannel(PCH);
  dispatcher = new MsgDispatcher({ stream, metrics: new DataPathMetrics(), maxBatchMessages: 4, maxPushBytes });
}

afterEach(async () => {
  await dispatcher.close();
  await stream.close();
});

const seek = (msgId: bigint) => ({ channel: PCH, msgId, timestamp: 0n });

describe('msg-dispatcher', () => {
  it('msg-dispatcher - one reader per pchannel routes records by vchannel and sends ticks to every vchannel', async () => {
    await setup();
    const a = new Collector(`${PCH}_1v0`, 1n);
    const b = new Collector(`${PCH}_2v0`, 2n);
    // offsets: 0 a, 1 b, 2 tick, 3 a, 4 garbage, 5 b
    await stream.produce(PCH, [insertFor(a.vchannel, 1n, 1n), insertFor(b.vchannel, 2n, 2n), tickPayload(20n), insertFor(a.vchannel, 1n, 3n)]);
    await stream.produce(PCH, [{ payload: Buffer.from([0xff, 0xff, 0xff]) }, insertFor(b.vchannel, 2n, 4n)]);
    await dispatcher.add(PCH, a, seek(0n));
    await dispatcher.add(PCH, b, seek(0n));
    await waitFor('both vchannels fed', () => a.offsets.length === 3 && b.offsets.length === 3);
    expect(a.offsets).toEqual([0n, 2n, 3n]);
    expect(b.offsets).toEqual([1n, 2n, 5n]);
    expect(dispatcher.stats()).toEqual([{ pchannel: PCH, readers: 1, vchannels: [a.vchannel, b.vchannel] }]);
    expect(dispatcher.metrics.undecodableRecords).toBe(1);
  });

  it('msg-dispatcher - a slow vchannel pauses the read of the pchannel', async () => {
    await setup();
    const a = new Collector(`${PCH}_1v0`, 1n);
    const b = new Collector(`${PCH}_2v0`, 2n);
    let open!: () => void;
    b.gate = new Promise((r) => (open = r));
    await stream.produce(PCH, Array.from({ length: 20 }, (_, i) => insertFor(i % 2 === 0 ? a.vchannel : b.vchannel, i % 2 === 0 ? 1n : 2n, BigInt(i))));
    await dispatcher.add(PCH, a, seek(0n));
    await dispatcher.add(PCH, b, seek(0n));
    await new Promise((r) => setTimeout(r, 200));
    // The first batch (4 records) reached `a`; `b` holds the reader, so nothing more is read.
    expect(a.offsets).toEqual([0n, 2n]);
    expect(b.offsets).toEqual([]);
    open();
    b.gate = undefined;
    await waitFor('everything delivered', () => a.offsets.length === 10 && b.offsets.length === 10);
    expect(b.offsets).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(2 * i + 1)));
  });

  it('msg-dispatcher - a vchannel joining behind the reader catches up on its own reader, then merges without gap or repeat', async () => {
    await setup();
    const a = new Collector(`${PCH}_1v0`, 1n);
    const late = new Collector(`${PCH}_1v1`, 1n);
    await stream.produce(PCH, Array.from({ length: 30 }, (_, i) => (i % 5 === 4 ? tickPayload(BigInt(i)) : insertFor(i % 2 === 0 ? a.vchannel : late.vchannel, 1n, BigInt(i)))));
    await dispatcher.add(PCH, a, seek(0n));
    await waitFor('reader at the end', () => a.offsets.includes(28n));
    await dispatcher.add(PCH, late, seek(3n));
    expect(dispatcher.stats()[0]!.readers).toBe(2);
    await waitFor('late vchannel caught up', () => late.offsets.includes(29n));
    await stream.produce(PCH, [insertFor(late.vchannel, 1n, 100n), tickPayload(200n), insertFor(a.vchannel, 1n, 101n)]);
    await waitFor('new records delivered', () => late.offsets.includes(31n) && a.offsets.includes(32n));
    const expectedLate = Array.from({ length: 30 }, (_, i) => i)
      .filter((i) => i >= 3 && (i % 5 === 4 || i % 2 === 1))
      .map(BigInt);
    expect(late.offsets).toEqual([...expectedLate, 30n, 31n]);
    expect(dispatcher.stats()).toEqual([{ pchannel: PCH, readers: 1, vchannels: [a.vchannel, late.vchannel] }]);
  });

  it('msg-dispatcher - a vchannel whose seek is ahead of the reader joins it directly', async () => {
    await setup();
    const a = new Collector(`${PCH}_1v0`, 1n);
    const ahead = new Collector(`${PCH}_1v1`, 1n);
    await dispatcher.add(PCH, a, seek(0n));
    await dispatcher.add(PCH, ahead, seek(2n));
    await stream.produce(PCH, [tickPayload(1n), insertFor(ahead.vchannel, 1n, 1n), tickPayload(2n), insertFor(ahead.vchannel, 1n, 3n)]);
    await waitFor('delivered', () => ahead.offsets.length === 2);
    expect(ahead.offsets).toEqual([2n, 3n]);
    expect(a.offsets).toEqual([0n, 2n]);
    expect(dispatcher.stats()[0]!.readers).toBe(1);
  });

  it('msg-dispatcher - pushes are split by payload bytes, keeping order', async () => {
    const one = insertFor(`${PCH}_1v0`, 1n, 1n).payload.byteLength;
    await setup(2 * one);
    const a = new Collector(`${PCH}_1v0`, 1n);
    await stream.produce(PCH, Array.from({ length: 8 }, (_, i) => insertFor(a.vchannel, 1n, BigInt(i))));
    await dispatcher.add(PCH, a, seek(0n));
    await waitFor('delivered', () => a.offsets.length === 8);
    expect(a.offsets).toEqual(Array.from({ length: 8 }, (_, i) => BigInt(i)));
    expect(a.batchSizes).toEqual([2, 2, 2, 2]);
  });

  it('msg-dispatcher - a seek to a deleted offset fails the add; removing the last vchannel closes the reader', async () => {
    await setup();
    const a = new Collector(`${PCH}_1v0`, 1n);
    await expect(dispatcher.add('no-such-channel', a, { channel: 'no-such-channel', msgId: 0n, timestamp: 0n })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await dispatcher.add(PCH, a, seek(0n));
    await dispatcher.remove(a.vchannel);
    expect(dispatcher.stats()).toEqual([]);
  });
});
