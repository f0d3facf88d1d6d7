/**
 * Time ticks on real Kafka, with the TSO on real etcd: ticks appear on every DML channel at the
 * interval, strictly increasing, and never pass a DDL still in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTs } from '../../src/common/hybrid-ts.js';
import { MsgType } from '../../src/gen/common.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { TimeTickProducer, TsLock, decodeTimeTick } from '../../src/master/timetick/index.js';
import { TimestampOracle } from '../../src/master/tso/timestamp-oracle.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { readAll } from '../helpers/read-all.js';

let kv: EtcdKV;
let stream: KafkaMsgStream;
let tso: TimestampOracle;
const created: string[] = [];

beforeAll(async () => {
  const ep = await endpoints();
  kv = new EtcdKV({ endpoints: ep.etcd, rootPath: uniqueName('it-timetick') });
  stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-timetick' });
  tso = new TimestampOracle({ kv, key: 'tso/timestamp' });
  await tso.start();
});

afterAll(async () => {
  await tso?.close();
  for (const c of created) await stream.deleteChannel(c).catch(() => undefined); // best-effort cleanup
  await stream?.close();
  await kv?.close();
});

async function dmlChannels(n: number): Promise<string[]> {
  const prefix = uniqueName('it-tt');
  const channels = Array.from({ length: n }, (_, i) => `${prefix}-dml_${i}`);
  for (const c of channels) {
    await stream.createChannel(c);
    created.push(c);
  }
  return channels;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const strictlyIncreasing = (xs: bigint[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('master time ticks on Kafka', () => {
  it('master-timetick - TimeTicks appear on every DML channel at the interval', async () => {
    const channels = await dmlChannels(3);
    const producer = new TimeTickProducer({ stream, tso, channels, intervalMs: 200, sourceId: 1n });
    producer.start();
    await sleep(2_000);
    await producer.close();

    for (const channel of channels) {
      const records = await readAll(stream, channel);
      const ticks = records.map((r) => decodeTimeTick(r.payload));
      expect(ticks.every((t) => t !== undefined)).toBe(true);
      const ts = ticks as bigint[];
      // ~10 rounds in 2 s at 200 ms; wide bounds, not a timing test.
      expect(ts.length).toBeGreaterThanOrEqual(6);
      expect(ts.length).toBeLessThanOrEqual(14);
      expect(strictlyIncreasing(ts)).toBe(true);
      // The record's timestamp is the tick's.
      records.forEach((r, i) => expect(r.position.timestamp).toBe(ts[i]));
      // Spacing in TSO time is about the interval.
      const gaps = ts.slice(1).map((t, i) => parseTs(t).physicalMs - parseTs(ts[i]!).physicalMs);
      expect(median(gaps)).toBeGreaterThanOrEqual(120);
      expect(median(gaps)).toBeLessThanOrEqual(400);
    }
  });

  it('master-timetick - ticks never pass a pending DDL', async () => {
    const channels = await dmlChannels(2);
    const pending = new Set<bigint>();
    const tsLock = new TsLock();
    const producer = new TimeTickProducer({
      stream,
      tso,
      channels,
      intervalMs: 200,
      tsLock,
      pendingDdlTs: () => (pending.size === 0 ? undefined : [...pending].reduce((a, b) => (a < b ? a : b))),
    });
    producer.start();
    await sleep(500);

    // A DDL as the scheduler runs it: allocate its ts and register it as pending in one step,
    // take a while, publish its message on every DML channel, then commit.
    const ddlTs = await tsLock.run(async () => {
      const { first } = await tso.alloc(1);
      pending.add(first);
      return first;
    });
    await sleep(1_000);
    const ddl = StreamMsg.encode({
      msgType: MsgType.DropCollection,
      vchannel: '',
      collectionId: 42n,
      body: { $case: 'dropCollection', value: { base: { msgType: MsgType.DropCollection, msgId: 1n, timestamp: ddlTs, sourceId: 1n, targetId: 0n }, collectionId: 42n, collectionName: 'c' } },
    }).finish();
    for (const channel of channels) await stream.produce(channel, [{ payload: ddl, timestamp: ddlTs }]);
    pending.delete(ddlTs);
    await sleep(1_000);
    await producer.close();

    for (const channel of channels) {
      const records = await readAll(stream, channel);
      const ddlAt = records.findIndex((r) => StreamMsg.decode(r.payload).msgType === MsgType.DropCollection);
      expect(ddlAt).toBeGreaterThan(0);
      const before = records.slice(0, ddlAt).map((r) => decodeTimeTick(r.payload)!);
      const after = records.slice(ddlAt + 1).map((r) => decodeTimeTick(r.payload)!);
      // Every tick before the DDL message is below it; while it was pending the tick stopped just
      // below it (published once, not repeated).
      expect(before.every((t) => t < ddlTs)).toBe(true);
      expect(before.filter((t) => t === ddlTs - 1n).length).toBeLessThanOrEqual(1);
      expect(before.length).toBeLessThanOrEqual(6); // ~500 ms of ticks, then one at ddlTs - 1
      // Once the DDL is done, ticks move past it again.
      expect(after.length).toBeGreaterThanOrEqual(2);
      expect(after.every((t) => t > ddlTs)).toBe(true);
      expect(strictlyIncreasing([...before, ...after])).toBe(true);
    }
  });
});
