/**
 * TidalClient against an in-process master (MemoryKV + MemoryMsgStream): what lands in the log
 * (decoded back), what is refused (and that nothing was written), segment assignments, ticks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeInsertBatch } from '../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../src/common/errors.js';
import { bytesToI64, bytesToU64 } from '../../../src/common/u64-bytes.js';
import { StreamMsg } from '../../../src/gen/msg.js';
import { DataType, type CollectionSchema } from '../../../src/gen/schema.js';
import type { ConsumeOptions, MsgStream, ProduceMessage, SeekFrom } from '../../../src/mq/index.js';
import { shardOfPk, TidalClient, type MasterRpc, type TidalClientOptions } from '../../../src/proxy/index.js';
import { createCollection, deletesOn, field, insertsOn, offsetsOf, readAll, startTestMaster, type TestMaster } from './helpers.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function setup(options: { maxMessageBytes?: number; client?: Partial<TidalClientOptions>; ttlMs?: number } = {}) {
  const m = await startTestMaster({ maxMessageBytes: options.maxMessageBytes, overrides: options.ttlMs ? { master: { proxyTtlMs: options.ttlMs } } : {} });
  closers.push(() => m.close());
  const client = await TidalClient.connect({ master: m.address, stream: m.stream, tickIntervalMs: 20, ...options.client });
  closers.push(() => client.close());
  return { m, client };
}

async function schemaOf(m: TestMaster, name: string): Promise<{ schema: CollectionSchema; vchannels: string[]; pchannels: string[]; id: bigint }> {
  const r = await m.client.call('describeCollection', { collectionName: name });
  return { schema: r.schema!, vchannels: r.vchannels, pchannels: r.pchannels, id: r.collectionId };
}

/** Every inserted row found in the log: pk, vector, row id, ts, and where it was. */
async function rowsInLog(m: TestMaster, name: string) {
  const { schema } = await schemaOf(m, name);
  const out: { pk: bigint | string; vec: number[]; rowId: bigint; ts: bigint; vchannel: string; pchannel: string; segmentId: bigint; msgTs: bigint }[] = [];
  for (const rec of await insertsOn(m.stream, m.dmlChannels)) {
    const { msg, header } = rec;
    expect(header.vchannel).toBe(msg.vchannel);
    expect(header.collectionId).toBe(msg.collectionId);
    const n = Number(msg.numRows);
    const batch = decodeInsertBatch(msg.arrowBatch, schema, n);
    const ts = bytesToU64(msg.timestamps);
    const ids = bytesToI64(msg.rowIds);
    expect(ts.length).toBe(n);
    expect(ids.length).toBe(n);
    const pkName = schema.fields.find((f) => f.isPrimaryKey)!.name;
    const pks = batch.getChild(pkName)!;
    const vecs = batch.getChild('vec')!;
    for (let i = 0; i < n; i++) {
      out.push({
        pk: pks.get(i) as bigint | string,
        vec: Array.from(vecs.get(i) as Iterable<number>),
        rowId: ids[i]!,
        ts: ts[i]!,
        vchannel: msg.vchannel,
        pchannel: rec.pchannel,
        segmentId: msg.segmentId,
        msgTs: msg.base!.timestamp,
      });
    }
  }
  return out;
}

function vectors(n: number, dim: number, seed = 0): Float32Array {
  const v = new Float32Array(n * dim);
  for (let i = 0; i < v.length; i++) v[i] = ((i * 31 + seed) % 1000) / 7;
  return v;
}

/** A MsgStream that can hold produce calls until released (the rest is the inner stream's). */
class GatedStream implements MsgStream {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  produced = 0;
  constructor(private readonly inner: MsgStream) {}
  get maxMessageBytes() {
    return this.inner.maxMessageBytes;
  }
  hold() {
    this.gate = new Promise((r) => (this.open = r));
  }
  release() {
    this.open?.();
    this.gate = undefined;
  }
  async produce(channel: string, messages: ProduceMessage[]) {
    this.produced++;
    await this.gate;
    return this.inner.produce(channel, messages);
  }
  createChannel(c: string) {
    return this.inner.createChannel(c);
  }
  deleteChannel(c: string) {
    return this.inner.deleteChannel(c);
  }
  hasChannel(c: string) {
    return this.inner.hasChannel(c);
  }
  consume(c: string, from: SeekFrom, o?: ConsumeOptions) {
    return this.inner.consume(c, from, o);
  }
  offsets(c: string) {
    return this.inner.offsets(c);
  }
  close() {
    return Promise.resolve();
  }
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('tidal-client', () => {
  it('tidal-client - refuses bad input with a clear error and writes nothing', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'books', { dim: 4 });
    const before = await offsetsOf(m.stream, m.dmlChannels);
    const ids = new BigInt64Array([1n, 2n]);
    const vec = vectors(2, 4);
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => client.insert('nope', { columns: { id: ids, vec } }), ErrorCode.NotFound, 'collection "nope" not found'],
      [() => client.insert('books', { partition: 'p9', columns: { id: ids, vec } }), ErrorCode.NotFound, 'partition "p9" not found in collection "books"; its partitions: [_default]'],
      [
        () => client.insert('books', { columns: { id: ['a', 'b'], vec } }),
        ErrorCode.InvalidArgument,
        'insert into collection "books": row 0 of field "id": expected an Int64 (bigint or safe integer), got a string ("a")',
      ],
      [
        () => client.insert('books', { rows: [{ id: 1n, vec: [1, 2, 3, 4] }, { id: 2n, vec: [1, 2, 3] }] }),
        ErrorCode.InvalidArgument,
        'insert into collection "books": row 1 of field "vec": the vector has 3 values; dim is 4',
      ],
      [
        () => client.insert('books', { columns: { id: ids, vec: new Float32Array(6) } }),
        ErrorCode.InvalidArgument,
        'insert into collection "books": field "vec": a flat Float32Array must hold n × dim (4) values, got 6',
      ],
      [() => client.insert('books', { columns: { vec } }), ErrorCode.InvalidArgument, 'insert into collection "books": field "id": is missing; it is required (the primary key)'],
      [() => client.insert('books', { rows: [{ vec: [1, 2, 3, 4] }] }), ErrorCode.InvalidArgument, 'insert into collection "books": field "id": is missing; it is required (the primary key)'],
      [
        () => client.insert('books', { columns: { id: ids, vec, color: ['r', 'g'] } }),
        ErrorCode.InvalidArgument,
        'insert into collection "books": unknown field "color"; collection "books" has [id, vec]',
      ],
      [() => client.insert('books', { columns: { id: ids, vec: vectors(3, 4) } }), ErrorCode.InvalidArgument, 'insert into collection "books": field "vec": has 3 rows; the other columns have 2'],
      [() => client.insert('books', { rows: [] }), ErrorCode.InvalidArgument, 'insert into collection "books": no rows to insert'],
      [
        () => client.insert('books', { rows: [], columns: {} } as never),
        ErrorCode.InvalidArgument,
        'insert into collection "books": give exactly one of `columns` (one array per field) or `rows` (an array of objects)',
      ],
      [() => client.insert('', { columns: { id: ids, vec } }), ErrorCode.InvalidArgument, 'collection name must be a non-empty string'],
      [() => client.delete('books', ['a']), ErrorCode.InvalidArgument, 'delete from collection "books": row 0 of field "id": expected an Int64 (bigint or safe integer), got a string ("a")'],
      [() => client.delete('books', []), ErrorCode.InvalidArgument, 'delete from collection "books": no primary keys to delete'],
      [() => client.delete('books', [1n], { partition: 'p9' }), ErrorCode.NotFound, 'partition "p9" not found in collection "books"; its partitions: [_default]'],
      [() => client.delete('nope', [1n]), ErrorCode.NotFound, 'collection "nope" not found'],
    ];
    for (const [run, code, message] of cases) await expect(run()).rejects.toMatchObject({ code, message });
    expect(await offsetsOf(m.stream, m.dmlChannels)).toEqual(before);
  });

  it('tidal-client - a row larger than a message is RESOURCE_EXHAUSTED and nothing of the insert is written', async () => {
    const { m, client } = await setup({ maxMessageBytes: 64 * 1024 });
    await createCollection(m, 'big', { dim: 20_000 });
    const before = await offsetsOf(m.stream, m.dmlChannels);
    const n = 50;
    const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    await expect(client.insert('big', { columns: { id: ids, vec: vectors(n, 20_000) } })).rejects.toMatchObject({
      code: ErrorCode.ResourceExhausted,
      message: expect.stringMatching(/^one row encodes to \d+ bytes, above the message limit of 65536 bytes; it cannot be sent$/),
    });
    expect(await offsetsOf(m.stream, m.dmlChannels)).toEqual(before);
  });

  it('tidal-client - rows land on the vchannel of their primary-key hash, with increasing timestamps and unique row ids', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'routed', { dim: 4, shards: 2 });
    const { vchannels, pchannels } = await schemaOf(m, 'routed');
    const n = 1_000;
    const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i * 13 - 400));
    const vec = vectors(n, 4);
    const res = await client.insert('routed', { columns: { id: ids, vec } });
    expect(res.insertCount).toBe(n);
    expect(res.rowIds.length).toBe(n);
    expect(res.positions.length).toBeGreaterThanOrEqual(2);
    const rows = await rowsInLog(m, 'routed');
    expect(rows.length).toBe(n);
    const byPk = new Map(rows.map((r) => [r.pk as bigint, r]));
    const seenTs: bigint[] = [];
    for (let i = 0; i < n; i++) {
      const r = byPk.get(ids[i]!)!;
      const shard = shardOfPk(ids[i]!, 2);
      expect(r.vchannel).toBe(vchannels[shard]);
      expect(r.pchannel).toBe(pchannels[shard]);
      expect(r.vec).toEqual(Array.from(vec.subarray(i * 4, i * 4 + 4)));
      expect(r.rowId).toBe(res.rowIds[i]);
      expect(r.ts).toBeLessThanOrEqual(r.msgTs);
      seenTs.push(r.ts);
    }
    // One timestamp range per call: rows get increasing timestamps in input order.
    expect(seenTs.every((t, i) => i === 0 || t === seenTs[i - 1]! + 1n)).toBe(true);
    expect(res.timestamp).toBe(seenTs[n - 1]);
    expect(new Set(rows.map((r) => r.rowId)).size).toBe(n);
    // Both shards got rows.
    expect(new Set(rows.map((r) => r.vchannel)).size).toBe(2);
  });

  it('tidal-client - VarChar primary keys are routed by the same hash, inserts and deletes alike', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'names', {
      shards: 2,
      fields: [field({ name: 'name', dataType: DataType.VarChar, isPrimaryKey: true, maxLength: 32 }), field({ name: 'vec', dataType: DataType.FloatVector, dim: 2 })],
    });
    const { vchannels } = await schemaOf(m, 'names');
    const names = Array.from({ length: 200 }, (_, i) => `user-${i}-ü`);
    await client.insert('names', { rows: names.map((name, i) => ({ name, vec: [i, -i] })) });
    const rows = await rowsInLog(m, 'names');
    expect(rows.map((r) => r.pk).sort()).toEqual([...names].sort());
    for (const r of rows) expect(r.vchannel).toBe(vchannels[shardOfPk(r.pk as string, 2)]);
    const del = await client.delete('names', names.slice(0, 50));
    expect(del.deleteCount).toBe(50);
    const deletes = await deletesOn(m.stream, m.dmlChannels);
    const deleted = deletes.flatMap((d) => {
      const keys = d.msg.primaryKeys;
      expect(keys?.$case).toBe('stringKeys');
      return (keys!.value.data as string[]).map((k) => ({ k, vchannel: d.msg.vchannel }));
    });
    expect(deleted.map((d) => d.k).sort()).toEqual(names.slice(0, 50).sort());
    const insertedOn = new Map(rows.map((r) => [r.pk, r.vchannel]));
    for (const d of deleted) expect(d.vchannel).toBe(insertedOn.get(d.k));
  });

  it('tidal-client - splits an insert into messages under the max message size, every row present exactly once', async () => {
    const limit = 64 * 1024;
    const { m, client } = await setup({ maxMessageBytes: limit });
    await createCollection(m, 'split', { dim: 64, shards: 2 });
    const n = 5_000; // ~1.3 MB of vectors: about 20 messages
    const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    const vec = vectors(n, 64, 3);
    await client.insert('split', { columns: { id: ids, vec } });
    const recs = await insertsOn(m.stream, m.dmlChannels);
    expect(recs.length).toBeGreaterThanOrEqual(20);
    for (const r of recs) expect(r.bytes).toBeLessThanOrEqual(m.stream.maxMessageBytes);
    // Messages are filled, not cut at a fixed row count: at most ~15% more than the bytes need.
    const total = recs.reduce((a, r) => a + r.bytes, 0);
    expect(recs.length).toBeLessThanOrEqual(Math.ceil((total / limit) * 1.15) + 2);
    const rows = await rowsInLog(m, 'split');
    expect(rows.length).toBe(n);
    expect(new Set(rows.map((r) => r.pk)).size).toBe(n);
    for (const r of rows) {
      const i = Number(r.pk);
      expect(r.vec).toEqual(Array.from(vec.subarray(i * 64, i * 64 + 64)));
    }
  });

  it('tidal-client - uses segment ids from AssignSegmentID, within the assigned counts and before their expiry', async () => {
    const m = await startTestMaster();
    closers.push(() => m.close());
    const assigned: { segmentId: bigint; channelName: string; count: number; expireTime: bigint }[] = [];
    const recording: MasterRpc = {
      call: (async (method: string, req: unknown) => {
        const res = await (m.client.call as (a: string, b: unknown) => Promise<unknown>)(method, req);
        if (method === 'assignSegmentId') assigned.push(...(res as { segIdAssignments: typeof assigned }).segIdAssignments);
        return res;
      }) as MasterRpc['call'],
    };
    const client = await TidalClient.connect({ master: recording, stream: m.stream, segmentPrefetchRows: 100 });
    closers.push(() => client.close());
    await createCollection(m, 'segs', { dim: 4, shards: 2 });
    for (let k = 0; k < 5; k++) {
      const ids = BigInt64Array.from({ length: 300 }, (_, i) => BigInt(k * 300 + i));
      await client.insert('segs', { columns: { id: ids, vec: vectors(300, 4) } });
    }
    const rows = await rowsInLog(m, 'segs');
    expect(rows.length).toBe(1_500);
    const core = await m.server.leaderCore();
    const bySegment = new Map<bigint, typeof rows>();
    for (const r of rows) bySegment.set(r.segmentId, [...(bySegment.get(r.segmentId) ?? []), r]);
    for (const [segmentId, segRows] of bySegment) {
      const grants = assigned.filter((a) => a.segmentId === segmentId);
      expect(grants.length).toBeGreaterThan(0);
      for (const g of grants) expect(g.channelName).toBe(segRows[0]!.vchannel);
      expect(segRows.length).toBeLessThanOrEqual(grants.reduce((a, g) => a + g.count, 0));
      expect(segRows.length).toBeLessThanOrEqual(core.segments.allocation(segmentId).allocatedRows);
      const lastExpiry = grants.reduce((a, g) => (g.expireTime > a ? g.expireTime : a), 0n);
      for (const r of segRows) expect(r.ts).toBeLessThan(lastExpiry);
    }
    // Asked ahead: fewer AssignSegmentID answers than inserts × shards.
    expect(new Set(assigned.map((a) => a.segmentId)).size).toBeLessThanOrEqual(4);
  });

  it('tidal-client - an insert larger than a segment is spread over several, each within its capacity', async () => {
    // 1 MiB segments, rows of 4 × 1024 + 8 + 16 bytes: 254 rows per segment.
    const m = await startTestMaster({ overrides: { master: { segment: { maxSizeBytes: 1024 * 1024 } } } });
    closers.push(() => m.close());
    const client = await TidalClient.connect({ master: m.address, stream: m.stream });
    closers.push(() => client.close());
    await createCollection(m, 'wide', { dim: 1024, shards: 1 });
    const n = 1_000;
    await client.insert('wide', { columns: { id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), vec: vectors(n, 1024) } });
    const rows = await rowsInLog(m, 'wide');
    expect(rows.length).toBe(n);
    const perSegment = new Map<bigint, number>();
    for (const r of rows) perSegment.set(r.segmentId, (perSegment.get(r.segmentId) ?? 0) + 1);
    expect(perSegment.size).toBeGreaterThanOrEqual(4);
    const core = await m.server.leaderCore();
    for (const [segmentId, count] of perSegment) {
      const a = core.segments.allocation(segmentId);
      expect(a.maxRows).toBe(254);
      expect(count).toBeLessThanOrEqual(a.maxRows);
    }
  });

  it('tidal-client - ticks advance the master soft barrier; an insert in flight holds it at its start timestamp', async () => {
    const m = await startTestMaster();
    closers.push(() => m.close());
    await createCollection(m, 'ticks', { dim: 4 });
    const gated = new GatedStream(m.stream);
    const client = await TidalClient.connect({ master: m.address, stream: gated, tickIntervalMs: 10 });
    closers.push(() => client.close());
    const core = await m.server.leaderCore();
    expect(core.softBarrier.liveProxies()).toContain(client.proxyId);
    const b0 = core.softBarrier.barrier()!;
    await until(() => core.softBarrier.barrier()! > b0);
    gated.hold();
    const n = 10;
    const pending = client.insert('ticks', { columns: { id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), vec: vectors(n, 4) } });
    await until(() => gated.produced > 0);
    let held: bigint | undefined;
    let barrierWhileHeld: bigint | undefined;
    try {
      held = await client.tickNow();
      await new Promise((r) => setTimeout(r, 60)); // several interval rounds while the insert is held
      barrierWhileHeld = core.softBarrier.barrier();
    } finally {
      gated.release();
    }
    const res = await pending;
    expect(barrierWhileHeld).toBe(held);
    // The held tick was the insert's first timestamp: nothing it wrote is below the barrier.
    expect(held).toBe(res.timestamp - BigInt(n - 1));
    await until(() => core.softBarrier.barrier()! > res.timestamp);
  });

  it('tidal-client - under concurrent inserts the master ticks never pass a row the proxy has yet to write', async () => {
    const m = await startTestMaster({ overrides: { master: { timeTickIntervalMs: 5 } } });
    closers.push(() => m.close());
    await createCollection(m, 'busy', { dim: 4, shards: 2 });
    const client = await TidalClient.connect({ master: m.address, stream: m.stream, tickIntervalMs: 3, segmentPrefetchRows: 50 });
    closers.push(() => client.close());
    let next = 0;
    const worker = async () => {
      for (let k = 0; k < 15; k++) {
        const n = 1 + ((next * 37) % 120);
        const ids = BigInt64Array.from({ length: n }, () => BigInt(next++));
        await client.insert('busy', { columns: { id: ids, vec: vectors(n, 4) } });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    let ticks = 0;
    let rows = 0;
    for (const ch of m.dmlChannels) {
      let lastTick = 0n;
      for (const rec of await readAll(m.stream, ch)) {
        const msg = StreamMsg.decode(rec.payload);
        if (msg.body?.$case === 'timeTick') {
          lastTick = msg.body.value.base!.timestamp;
          ticks++;
        } else if (msg.body?.$case === 'insert') {
          const ts = bytesToU64(msg.body.value.timestamps);
          rows += ts.length;
          for (const t of ts) expect(t).toBeGreaterThanOrEqual(lastTick);
        }
      }
    }
    expect(rows).toBe(next);
    expect(ticks).toBeGreaterThan(10);
  });

  it('tidal-client - registers again when the master dropped it, and close() deregisters (twice is fine)', async () => {
    const { m, client } = await setup({ ttlMs: 150, client: { tickIntervalMs: 60_000 } });
    const core = await m.server.leaderCore();
    const first = client.proxyId;
    await new Promise((r) => setTimeout(r, 300)); // silent past the TTL
    expect(core.softBarrier.liveProxies()).not.toContain(first);
    const again = new Promise<bigint>((resolve) => client.once('reregistered', resolve));
    await client.tickNow();
    const second = await again;
    expect(second).not.toBe(first);
    expect(core.softBarrier.liveProxies()).toContain(second);
    await client.close();
    await client.close();
    expect(client.state).toBe('closed');
    expect(core.softBarrier.liveProxies()).not.toContain(second);
    await expect(client.insert('x', { rows: [{}] })).rejects.toMatchObject({ code: ErrorCode.Closed });
  });

  it('tidal-client - deletes go to the vchannel of each key, in the given partition or all', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'dels', { dim: 2, shards: 2 });
    await m.client.call('createPartition', { collectionName: 'dels', partitionName: 'p1' });
    const { vchannels } = await schemaOf(m, 'dels');
    const keys = Array.from({ length: 100 }, (_, i) => BigInt(i * 7));
    const all = await client.delete('dels', keys);
    const inP1 = await client.delete('dels', [5, 6], { partition: 'p1' });
    expect(inP1.timestamp).toBeGreaterThan(all.timestamp);
    const recs = await deletesOn(m.stream, m.dmlChannels);
    const parts = await m.client.call('showPartitions', { collectionName: 'dels' });
    const p1 = parts.partitionIds[parts.partitionNames.indexOf('p1')]!;
    const got: bigint[] = [];
    for (const r of recs) {
      expect(r.header.vchannel).toBe(r.msg.vchannel);
      const ks = r.msg.primaryKeys!.value.data as bigint[];
      expect(r.msg.timestamps.length).toBe(ks.length);
      for (const k of ks) expect(r.msg.vchannel).toBe(vchannels[shardOfPk(k, 2)]);
      if (ks.includes(5n) || ks.includes(6n)) {
        expect(r.msg.partitionId).toBe(p1);
        expect(r.msg.partitionName).toBe('p1');
      } else {
        expect(r.msg.partitionId).toBe(0n);
        got.push(...ks);
      }
    }
    expect(got.sort((a, b) => (a < b ? -1 : 1))).toEqual(keys);
  });

  it('tidal-client - auto_id: primary keys are generated (the row ids) and returned', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'auto', { dim: 2, pk: { autoId: true } });
    await expect(client.insert('auto', { rows: [{ id: 5n, vec: [1, 2] }] })).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
      message: 'insert into collection "auto": field "id" is the auto_id primary key: Tidal generates its values, leave it out',
    });
    const res = await client.insert('auto', { rows: [{ vec: [1, 2] }, { vec: [3, 4] }, { vec: [5, 6] }] });
    expect(res.primaryKeys).toEqual(res.rowIds);
    const rows = await rowsInLog(m, 'auto');
    expect(rows.map((r) => r.pk).sort()).toEqual(Array.from(res.rowIds).sort());
    for (const r of rows) expect(r.pk).toBe(r.rowId);
  });

  it('tidal-client - a collection dropped and created again under the same name: cached metadata and segment room are dropped, rows go to the new one', async () => {
    const { m, client } = await setup();
    await createCollection(m, 'again', { dim: 2, shards: 2 });
    const old = await schemaOf(m, 'again');
    await client.insert('again', { rows: [{ id: 1n, vec: [1, 1] }] });
    const invalidated = (count: number) =>
      new Promise<void>((resolve) => {
        let seen = 0;
        const on = (name: string | undefined) => {
          if (name === 'again' && ++seen === count) {
            client.off('metaInvalidated', on);
            resolve();
          }
        };
        client.on('metaInvalidated', on);
      });
    const dropAndCreate = invalidated(2);
    await m.client.call('dropCollection', { collectionName: 'again' });
    await createCollection(m, 'again', { dim: 2, shards: 1 });
    await dropAndCreate;
    const fresh = await schemaOf(m, 'again');
    expect(fresh.id).not.toBe(old.id);
    await client.insert('again', { rows: [{ id: 2n, vec: [2, 2] }] });
    const recs = await insertsOn(m.stream, m.dmlChannels);
    expect(recs.map((r) => r.msg.collectionId)).toEqual([old.id, fresh.id]);
    expect(recs[1]!.msg.vchannel).toBe(fresh.vchannels[0]);
    const dropped = invalidated(1);
    await m.client.call('dropCollection', { collectionName: 'again' });
    await dropped;
    await expect(client.insert('again', { rows: [{ id: 3n, vec: [3, 3] }] })).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'collection "again" not found' });
    expect((await insertsOn(m.stream, m.dmlChannels)).length).toBe(2);
  });

  it('tidal-client - without the DD channel, a NOT_FOUND from the master drops the stale cache and the insert is prepared again', async () => {
    const { m, client } = await setup({ client: { watchDdl: false, segmentPrefetchRows: 0 } });
    await createCollection(m, 'stale', { dim: 2, shards: 1 });
    await client.insert('stale', { rows: [{ id: 1n, vec: [1, 1] }] });
    await m.client.call('dropCollection', { collectionName: 'stale' });
    await createCollection(m, 'stale', { dim: 2, shards: 1 });
    const fresh = await schemaOf(m, 'stale');
    // No room cached (prefetch 0): AssignSegmentID on the old id answers NOT_FOUND, then a retry.
    await client.insert('stale', { rows: [{ id: 2n, vec: [2, 2] }] });
    const recs = await insertsOn(m.stream, m.dmlChannels);
    expect(recs[recs.length - 1]!.msg.collectionId).toBe(fresh.id);
  });
});
