// Write-buffer pieces on their own: the memory bound, the cut a sync takes at, the channel
// checkpoint rule.
import { describe, expect, it } from 'vitest';
import { decodeInsertBatch } from '../../../src/common/arrow/index.js';
import { StreamMsg } from '../../../src/gen/msg.js';
import type { Position } from '../../../src/mq/index.js';
import { DataPathMetrics } from '../../../src/datanode/pipeline/metrics.js';
import { SyncManager } from '../../../src/datanode/syncmgr/sync-manager.js';
import { ChannelWriteBuffer } from '../../../src/datanode/writebuffer/channel-buffer.js';
import { MemoryBudget } from '../../../src/datanode/writebuffer/memory-budget.js';
import { SegmentBuffer, type InsertChunk } from '../../../src/datanode/writebuffer/segment-buffer.js';
import { SegmentRegistry } from '../../../src/datanode/writebuffer/segment-registry.js';
import { LocalObjectStore } from '../../../src/storage/local/local-object-store.js';
import { insertPayload, testSchema } from './helpers.js';

const schema = testSchema();
const pos = (msgId: bigint): Position => ({ channel: 'wb-dml_0', msgId, timestamp: msgId * 10n });

function chunk(msgId: bigint, pks: bigint[]): InsertChunk {
  const msg = StreamMsg.decode(insertPayload({ schema, collectionId: 1n, partitionId: 2n, segmentId: 3n, vchannel: 'wb-dml_0_1v0', pks, ts: 5n }).payload);
  if (msg.body?.$case !== 'insert') throw new Error('not an insert');
  const ins = msg.body.value;
  return {
    batch: decodeInsertBatch(ins.arrowBatch, schema, pks.length),
    timestamps: BigUint64Array.from(pks.map(() => 5n)),
    rowIds: BigInt64Array.from(pks),
    position: pos(msgId),
    bytes: 100,
  };
}

describe('write buffer', () => {
  it('memory-budget - grants within the limit, makes the rest wait in order, and lets one oversize reservation in when empty', async () => {
    const b = new MemoryBudget(100);
    expect(await b.reserve(60)).toBe(false);
    const order: string[] = [];
    const second = b.reserve(50).then((waited) => order.push(`second:${waited}`));
    const third = b.reserve(10).then(() => order.push('third'));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    expect(b.wouldWait(1)).toBe(true);
    b.release(60);
    await Promise.all([second, third]);
    expect(order).toEqual(['second:true', 'third']);
    expect(b.used).toBe(60);
    b.release(60);
    expect(await b.reserve(1_000)).toBe(false);
    const ac = new AbortController();
    const aborted = b.reserve(1, ac.signal);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(b.waiting).toBe(0);
  });

  it('segment-buffer - a sync takes only the chunks at or before the cut, inserts and deletes alike', () => {
    const buf = new SegmentBuffer(3n, 2n);
    buf.appendInsert(chunk(5n, [1n, 2n]), 0);
    buf.appendInsert(chunk(9n, [3n]), 0);
    buf.appendDelete({ pks: BigInt64Array.from([1n]), timestamps: BigUint64Array.from([6n]), position: pos(7n), bytes: 8 }, 0);
    buf.appendInsert(chunk(12n, [4n]), 0);
    expect(buf.startPosition()?.msgId).toBe(5n);
    expect(buf.bytesUpTo(9n)).toBe(208);
    const take = buf.take(9n);
    expect(take.inserts.map((c) => c.position.msgId)).toEqual([5n, 9n]);
    expect(take.deletes.map((c) => c.position.msgId)).toEqual([7n]);
    expect([take.rows, take.bytes, take.start?.msgId, take.end?.msgId]).toEqual([3, 208, 5n, 9n]);
    expect([buf.rows, buf.bytes, buf.startPosition()?.msgId]).toEqual([1, 100, 12n]);
  });

  it('channel-buffer - the checkpoint is the earliest buffered start, capped at the last handled message; none before the first', async () => {
    const metrics = new DataPathMetrics();
    const store = new LocalObjectStore({ rootDir: '/tmp/tidal-wb-unused' });
    const syncs = new SyncManager({ store, master: { saveBinlogPaths: () => Promise.resolve() }, metrics });
    const budget = new MemoryBudget(1 << 20);
    const ch = new ChannelWriteBuffer({ vchannel: 'wb-dml_0_1v0', collectionId: 1n, schema, registry: new SegmentRegistry(), budget, syncs, metrics, onFailure: () => undefined });
    expect(ch.checkpoint()).toBeUndefined();
    ch.consumed = pos(4n);
    expect(ch.checkpoint()?.msgId).toBe(4n);
    const c = chunk(6n, [1n]);
    ch.appendInsert({ kind: 'insert', position: c.position, segmentId: 3n, partitionId: 2n, batch: c.batch, timestamps: c.timestamps, rowIds: c.rowIds, bytes: c.bytes });
    ch.consumed = pos(8n);
    expect(ch.checkpoint()).toEqual({ channelName: 'wb-dml_0', msgId: 6n, timestamp: 60n });
    expect(ch.segmentStats()).toEqual([{ segmentId: 3n, numRows: 1n }]);
    ch.release();
    expect(ch.checkpoint()?.msgId).toBe(8n);
    await syncs.close();
  });
});
