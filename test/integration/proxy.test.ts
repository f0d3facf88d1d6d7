/**
 * The proxy on the real servers: a master on etcd + Kafka (in process), a TidalClient producing to
 * Kafka. 10,000 rows of dim 16 over 2 shards are read back from the DML topics and found exactly
 * (primary key and vector bytes, each once, on the shard of its key); records stay under the
 * stream's size limit; and the master's time ticks, merged from the proxy's, never pass a row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeInsertBatch } from '../../src/common/arrow/index.js';
import { bytesToU64 } from '../../src/common/u64-bytes.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { DataType, type CollectionSchema } from '../../src/gen/schema.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { decodeTimeTick } from '../../src/master/timetick/index.js';
import { shardOfPk, TidalClient, type InsertResult } from '../../src/proxy/index.js';
import { endpoints } from '../harness/endpoints.js';
import { masterNamespace, startMaster, type InProcessMaster } from './helpers/master.js';
import { readAll } from '../helpers/read-all.js';

const DIM = 16;
const ROWS = 10_000;
/** Small enough that each shard's rows need several records. */
const MAX_BATCH_BYTES = 128 * 1024;

let master: InProcessMaster;
let stream: KafkaMsgStream;
let client: TidalClient;

beforeAll(async () => {
  master = await startMaster(masterNamespace('it-proxy'));
  stream = new KafkaMsgStream({ brokers: (await endpoints()).kafka, clientId: 'tidal-it-proxy', maxMessageBytes: MAX_BATCH_BYTES });
  client = await TidalClient.connect({ master: master.address, stream });
});

afterAll(async () => {
  await client?.close();
  await stream?.close();
  await master?.close();
});


/** The vector of row `pk`: deterministic, distinct per row. */
function vectorOf(pk: bigint): Float32Array {
  const v = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) v[j] = Number(pk % 100_003n) * 0.25 + j / 16;
  return v;
}

describe('proxy on etcd + Kafka', () => {
  it('proxy - 10,000 rows of dim 16 over 2 shards are in the DML topics exactly once, on the shard of their key, under the size limit', async () => {
    await master.client.call('createCollection', {
      collectionName: 'it_vectors',
      shardsNum: 2,
      schema: {
        name: 'it_vectors',
        fields: [
          { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
          { name: 'vec', dataType: DataType.FloatVector, dim: DIM },
        ],
      },
    });
    const desc = await master.client.call('describeCollection', { collectionName: 'it_vectors' });
    const schema: CollectionSchema = desc.schema!;
    expect(desc.vchannels.length).toBe(2);
    expect(new Set(desc.pchannels).size).toBe(2);

    // Five concurrent inserts of 2,000 rows: three columnar, two as row objects.
    const pks = Array.from({ length: ROWS }, (_, i) => BigInt(i) * 7919n + 11n);
    const calls: Promise<InsertResult>[] = [];
    for (let c = 0; c < 5; c++) {
      const part = pks.slice(c * 2_000, (c + 1) * 2_000);
      if (c < 3) {
        const vec = new Float32Array(part.length * DIM);
        part.forEach((pk, i) => vec.set(vectorOf(pk), i * DIM));
        calls.push(client.insert('it_vectors', { columns: { pk: BigInt64Array.from(part), vec } }));
      } else {
        calls.push(client.insert('it_vectors', { rows: part.map((pk) => ({ pk, vec: vectorOf(pk) })) }));
      }
    }
    const results = await Promise.all(calls);
    expect(results.reduce((a, r) => a + r.insertCount, 0)).toBe(ROWS);
    const lastTs = results.reduce((a, r) => (r.timestamp > a ? r.timestamp : a), 0n);

    // The master's ticks follow the proxy's: wait until both channels carry a tick past every row.
    const deadline = Date.now() + 30_000;
    const ticksPast = async (ch: string) => (await readAll(stream, ch)).some((r) => (decodeTimeTick(r.payload) ?? 0n) > lastTs);
    for (const ch of desc.pchannels) {
      while (!(await ticksPast(ch))) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const found = new Map<bigint, { vec: Uint8Array; vchannel: string }>();
    let records = 0;
    for (const [shard, ch] of desc.pchannels.entries()) {
      let lastTick = 0n;
      for (const rec of await readAll(stream, ch)) {
        const tick = decodeTimeTick(rec.payload);
        if (tick !== undefined) {
          lastTick = tick;
          continue;
        }
        const m = StreamMsg.decode(rec.payload);
        if (m.body?.$case !== 'insert') continue;
        records++;
        const msg = m.body.value;
        expect(rec.payload.length).toBeLessThanOrEqual(stream.maxMessageBytes);
        expect(m.vchannel).toBe(desc.vchannels[shard]);
        expect(msg.vchannel).toBe(desc.vchannels[shard]);
        expect(msg.collectionId).toBe(desc.collectionId);
        const ts = bytesToU64(msg.timestamps);
        // A tick at T promises nothing later on the channel is below T.
        for (const t of ts) expect(t).toBeGreaterThanOrEqual(lastTick);
        const batch = decodeInsertBatch(msg.arrowBatch, schema, Number(msg.numRows));
        const pkCol = batch.getChild('pk')!;
        const vecData = batch.getChild('vec')!.data[0]!.children[0]!.values as Float32Array;
        for (let i = 0; i < batch.numRows; i++) {
          const pk = pkCol.get(i) as bigint;
          expect(found.has(pk)).toBe(false);
          const bytes = new Uint8Array(vecData.buffer, vecData.byteOffset + i * DIM * 4, DIM * 4);
          found.set(pk, { vec: Uint8Array.from(bytes), vchannel: msg.vchannel });
        }
      }
    }
    expect(records).toBeGreaterThan(5); // split by bytes: ~660 KB of rows under 128 KiB records
    expect(found.size).toBe(ROWS);
    for (const pk of pks) {
      const row = found.get(pk);
      expect(row).toBeDefined();
      expect(Buffer.from(row!.vec).equals(Buffer.from(vectorOf(pk).buffer))).toBe(true);
      expect(row!.vchannel).toBe(desc.vchannels[shardOfPk(pk, 2)]);
    }

    // Deletes reach the shard that holds each key.
    const victims = pks.slice(0, 100);
    const del = await client.delete('it_vectors', victims);
    expect(del.deleteCount).toBe(100);
    const deleted = new Map<bigint, string>();
    for (const ch of desc.pchannels) {
      for (const rec of await readAll(stream, ch)) {
        const m = StreamMsg.decode(rec.payload);
        if (m.body?.$case !== 'delete' || m.body.value.primaryKeys?.$case !== 'int64Keys') continue;
        for (const k of m.body.value.primaryKeys.value.data) deleted.set(k, m.body.value.vchannel);
      }
    }
    expect([...deleted.keys()].sort((a, b) => (a < b ? -1 : 1))).toEqual([...victims].sort((a, b) => (a < b ? -1 : 1)));
    for (const k of victims) expect(deleted.get(k)).toBe(found.get(k)!.vchannel);
  });
});
