// The DataNode data path end to end on the embedded backends: a real master (scheduler, Flush,
// SaveBinlogPaths with ownership), DataNodeServers running DataPath, binlogs read back with plain
// apache-arrow. See cluster.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { pchannelOf } from '../../../src/datanode/pipeline/messages.js';
import { StreamMsg } from '../../../src/gen/msg.js';
import { SegmentState, type SegmentInfo } from '../../../src/gen/segment.js';
import { readDeltaLog, readStatsLog } from '../../../src/storage/binlog/index.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';
import { Cluster } from './cluster.js';
import { deletePayload, DIM, insertPayload, testSchema, vectorOf, waitFor } from './helpers.js';

let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

interface RowSeen {
  ts: bigint;
  rowId: bigint;
  vec: Float32Array;
  segmentId: bigint;
}

/** Every row of the referenced insert logs of `segments`, keyed by pk; throws on a duplicate pk. */
async function readRows(c: Cluster, segments: SegmentInfo[]): Promise<Map<bigint, RowSeen>> {
  const rows = new Map<bigint, RowSeen>();
  for (const s of segments) {
    for (const log of s.insertLogs) {
      const t = await c.readArrow(log.logPath);
      expect(t.numRows).toBe(Number(log.entriesNum));
      const pks = t.getChild('pk')!.toArray() as BigInt64Array;
      const ts = t.getChild('Timestamp')!.toArray() as BigUint64Array;
      const ids = t.getChild('RowID')!.toArray() as BigInt64Array;
      const vec = t.getChild('vec')!;
      for (let i = 0; i < t.numRows; i++) {
        const pk = pks[i]!;
        if (rows.has(pk)) throw new Error(`pk ${pk} appears twice in the referenced binlogs`);
        const v = vec.get(i) as { toArray(): Float32Array };
        rows.set(pk, { ts: ts[i]!, rowId: ids[i]!, vec: Float32Array.from(v.toArray()), segmentId: s.segmentId });
      }
    }
  }
  return rows;
}

function range(from: number, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => BigInt(from + i));
}

describe('data-path', () => {
  it('data-path - rows inserted in several messages over 2 vchannels land exactly once in the binlogs after Flush; stats, deltas and checkpoints match', async () => {
    cluster = await Cluster.start({ config: { datanode: { flush: { bufferSizeBytes: 8 * 1024 } } } });
    const c = cluster;
    const node = await c.startNode();
    const schema = testSchema('dp_rows');
    const { collectionId, vchannels } = await c.createCollection(schema, 2);
    const pchannel = pchannelOf(vchannels[0]!)!;
    expect(pchannelOf(vchannels[1]!)).toBe(pchannel);

    const expected = new Map<bigint, { ts: bigint; vchannel: string }>();
    const lastOffset = new Map<bigint, bigint>();
    const rowsPerSegment = new Map<bigint, number>();
    let next = 1;
    for (let m = 0; m < 12; m++) {
      const vchannel = vchannels[m % 2]!;
      const pks = range(next, 50);
      next += 50;
      const { position, segmentId, ts } = await c.insert(schema, collectionId, vchannel, pks);
      for (const pk of pks) expected.set(pk, { ts, vchannel });
      lastOffset.set(segmentId, position.msgId);
      rowsPerSegment.set(segmentId, (rowsPerSegment.get(segmentId) ?? 0) + pks.length);
      if (m === 5) {
        // Two bad records: bytes that are no StreamMsg, and an Insert whose Arrow batch is garbage.
        const good = StreamMsg.decode(insertPayload({ schema, collectionId, partitionId: 1n, segmentId, vchannel, pks: [999_999n], ts }).payload);
        if (good.body?.$case === 'insert') good.body.value.arrowBatch = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
        await c.stream.produce(pchannel, [{ payload: Buffer.from('not a stream message') }, { payload: StreamMsg.encode(good).finish() }]);
      }
    }
    // Delete three rows of vchannel 0 (pks 1, 2 and 101 were inserted there).
    const delTs = await c.ts();
    const [delPos] = await c.stream.produce(pchannel, [deletePayload({ collectionId, vchannel: vchannels[0]!, pks: [1n, 2n, 101n], ts: delTs })]);

    await c.flush(collectionId);
    const segments = await c.segments(collectionId);
    expect(segments.length).toBe(2);
    for (const s of segments) expect(s.state).toBe(SegmentState.Flushed);

    const rows = await readRows(c, segments);
    expect(rows.size).toBe(expected.size);
    for (const [pk, want] of expected) {
      const got = rows.get(pk);
      expect(got, `pk ${pk}`).toBeDefined();
      expect(got!.ts).toBe(want.ts);
      expect(got!.rowId).toBe(pk);
      expect(Buffer.from(got!.vec.buffer, got!.vec.byteOffset, DIM * 4).equals(Buffer.from(vectorOf(pk).buffer))).toBe(true);
    }

    for (const s of segments) {
      // Several syncs per segment (8 KiB buffers), each an insert log with a stats log of the same log id.
      expect(s.insertLogs.length).toBeGreaterThan(1);
      expect(s.statsLogs.map((b) => b.logId)).toEqual(s.insertLogs.map((b) => b.logId));
      for (const [i, b] of s.statsLogs.entries()) {
        const { stats, meta } = readStatsLog(await c.store.get(b.logPath));
        const t = await c.readArrow(s.insertLogs[i]!.logPath);
        const pks = [...(t.getChild('pk')!.toArray() as BigInt64Array)];
        expect(meta.rowCount).toBe(pks.length);
        expect(stats.min).toBe(pks.reduce((a, x) => (x < a ? x : a)));
        expect(stats.max).toBe(pks.reduce((a, x) => (x > a ? x : a)));
        for (const pk of pks) expect(stats.bloom.mightContain(pk)).toBe(true);
      }
      // The segment checkpoint is the offset of its last message (the Delete for vchannel 0's
      // segment, else its last Insert); num_rows its row count.
      expect(s.dmlPosition?.msgId).toBe(s.insertChannel === vchannels[0] ? delPos!.msgId : lastOffset.get(s.segmentId));
      expect(s.numRows).toBe(BigInt(rowsPerSegment.get(s.segmentId)!));
      expect(s.insertLogs.reduce((n, b) => n + b.entriesNum, 0n)).toBe(s.numRows);
    }

    // The deletes reached the segment of vchannel 0 only, as one delta log.
    const seg0 = segments.find((s) => s.insertChannel === vchannels[0])!;
    const seg1 = segments.find((s) => s.insertChannel === vchannels[1])!;
    expect(seg1.deltaLogs).toEqual([]);
    expect(seg0.deltaLogs.length).toBe(1);
    const delta = readDeltaLog(await c.store.get(seg0.deltaLogs[0]!.logPath), schema);
    expect([...(delta.table.getChild('pk')!.toArray() as BigInt64Array)]).toEqual([1n, 2n, 101n]);
    expect([...(delta.table.getChild('ts')!.toArray() as BigUint64Array)]).toEqual([delTs, delTs, delTs]);

    // Channel checkpoints: past every Insert of the vchannel, within the log.
    const latest = (await c.stream.offsets(pchannel)).latest;
    for (const v of vchannels) {
      const cp = await c.checkpoint(v);
      const maxInsert = segments.filter((s) => s.insertChannel === v).map((s) => lastOffset.get(s.segmentId)!)[0]!;
      expect(cp?.channelName).toBe(pchannel);
      expect(cp!.msgId).toBeGreaterThanOrEqual(maxInsert);
      expect(cp!.msgId).toBeLessThan(latest);
    }

    const m = node.dataPath.metrics();
    expect(m.counters.undecodableRecords).toBe(2);
    expect(m.counters.insertRows).toBe(expected.size);
    expect(m.pchannels).toEqual([{ pchannel, readers: 1, vchannels: expect.arrayContaining(vchannels) as unknown as string[] }]);
    expect(m.memoryUsedBytes).toBe(0);
  });

  it('data-path - at the memory bound consumption pauses (no checkpoint moves) until S3 takes the syncs, then every row lands once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const blocking = (store: ObjectStore): ObjectStore =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'put') return async (key: string, body: Uint8Array) => (await gate, target.put(key, body));
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
    const limit = 1024 * 1024;
    cluster = await Cluster.start({
      config: { datanode: { flush: { bufferSizeBytes: 64 * 1024, memoryLimitBytes: limit }, flowgraph: { maxQueueLength: 1 } } },
      wrapStore: blocking,
      dataPath: { maxBatchMessages: 1 },
    });
    const c = cluster;
    const node = await c.startNode();
    const schema = testSchema('dp_bound');
    const { collectionId, vchannels } = await c.createCollection(schema, 1);
    const vchannel = vchannels[0]!;
    const messages = 40;
    const perMessage = 1000;
    for (let m = 0; m < messages; m++) await c.insert(schema, collectionId, vchannel, range(m * perMessage, perMessage));

    await waitFor('consumption paused on memory', () => (node.dataPath.metrics().counters.memoryWaits ?? 0) > 0);
    const before = node.dataPath.metrics().counters.insertMessages;
    await new Promise((r) => setTimeout(r, 300));
    const paused = node.dataPath.metrics();
    expect(paused.counters.insertMessages).toBe(before);
    expect(paused.counters.insertMessages).toBeLessThan(messages);
    expect(paused.memoryUsedBytes).toBeLessThanOrEqual(limit);
    expect(await c.checkpoint(vchannel)).toBeUndefined();

    release();
    await c.flush(collectionId);
    const segments = await c.segments(collectionId);
    const rows = await readRows(c, segments);
    expect(rows.size).toBe(messages * perMessage);
    expect(node.dataPath.metrics().counters.memoryWaits).toBeGreaterThan(0);
  });

  it('data-path - a new DataNode resumes from the saved checkpoint: no row lost, none duplicated across referenced binlogs', async () => {
    cluster = await Cluster.start({ config: { datanode: { flush: { bufferSizeBytes: 8 * 1024 } } } });
    const c = cluster;
    const first = await c.startNode();
    const schema = testSchema('dp_replay');
    const { collectionId, vchannels } = await c.createCollection(schema, 2);
    await c.client.call('createPartition', { collectionName: schema.name, partitionName: 'p2' });
    let next = 1;
    const inserted: bigint[] = [];
    const insert = async (vchannel: string, n: number, partition = '') => {
      const pks = range(next, n);
      next += n;
      await c.insert(schema, collectionId, vchannel, pks, partition);
      inserted.push(...pks);
    };
    // On vchannel 0, a few rows of partition p2 stay buffered from the start while the default
    // partition's segment syncs several times: the checkpoint stays at p2's first message, so the
    // next owner re-reads (and must skip) what the default partition already made durable.
    await insert(vchannels[0]!, 5, 'p2');
    for (let m = 0; m < 10; m++) await insert(vchannels[m % 2]!, 50);
    await waitFor('first node consumed and synced part of it', () => {
      const m = first.dataPath.metrics().counters;
      return m.insertRows === inserted.length && (m.syncsCompleted ?? 0) >= 2;
    });
    expect(first.dataPath.status().reduce((n, s) => n + s.bufferedRows, 0)).toBeGreaterThan(0);
    const checkpoints = await Promise.all(vchannels.map((v) => c.checkpoint(v)));
    expect(checkpoints.every((cp) => cp !== undefined)).toBe(true);

    // The second node takes the vchannels over once the first leaves (its buffered rows unsynced).
    const second = await c.startNode();
    await first.server.close();
    await waitFor('second node watches both vchannels', () => second.dataPath.status().length === 2, 20_000);
    for (let m = 0; m < 4; m++) await insert(vchannels[m % 2]!, 50);
    await c.flush(collectionId);
    const rows = await readRows(c, await c.segments(collectionId));
    expect([...rows.keys()].sort((a, b) => (a < b ? -1 : 1))).toEqual(inserted);
    // The replay skipped the rows the first node had made durable.
    expect(second.dataPath.metrics().counters.skippedRows).toBeGreaterThan(0);
  });
});
