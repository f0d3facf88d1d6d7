/**
 * The delete buffer node: routes each Delete message's keys to the segments of this vchannel that
 * may hold them, and appends them there (as the segment's delta, synced with its next insert log
 * under the same log id). A segment may hold a key when its synced rows' primary-key stats say so
 * (min/max and Bloom filter, from its stats logs) or its rows not yet durable contain it (scanned:
 * deletes are rare next to inserts). A key no segment may hold is dropped: it deletes nothing.
 * Segments whose flushed position is at or after the message already have it (recovery).
 *
 * After each batch it advances the vchannel's `appliedUpTo` (every message up to there is applied
 * by both buffer nodes) and evaluates the sync triggers (size, memory watermark).
 */
import { Type, type Data } from 'apache-arrow';
import type { Node } from '../../../flowgraph/index.js';
import type { PrimaryKey } from '../../storage/binlog/index.js';
import type { WriteBufferManager } from '../writebuffer/buffer-manager.js';
import type { ChannelWriteBuffer } from '../writebuffer/channel-buffer.js';
import type { InsertChunk } from '../writebuffer/segment-buffer.js';
import type { SegmentRecord } from '../writebuffer/segment-registry.js';
import type { DeleteFlowMsg, FlowMsg } from './messages.js';
import type { DataPathMetrics } from './metrics.js';

/** Options of {@link createDeleteNode}. */
export interface DeleteNodeOptions {
  channel: ChannelWriteBuffer;
  manager: WriteBufferManager;
  metrics: DataPathMetrics;
}

/** Indices (into `keys`) of the keys found in the primary-key column of `chunks`. */
function scanChunks(chunks: readonly InsertChunk[], pkIndex: number, wanted: ReadonlyMap<PrimaryKey, number[]>, hits: Set<number>): void {
  for (const c of chunks) {
    const col = c.batch.data.children[pkIndex] as Data;
    if (col.type.typeId === Type.Int) {
      const values = col.values as BigInt64Array;
      for (let i = col.offset; i < col.offset + col.length; i++) {
        const idx = wanted.get(values[i]!);
        if (idx !== undefined) for (const k of idx) hits.add(k);
      }
    } else {
      const vector = c.batch.getChildAt(pkIndex);
      if (vector === null) continue;
      for (let i = 0; i < vector.length; i++) {
        const idx = wanted.get(vector.get(i) as string);
        if (idx !== undefined) for (const k of idx) hits.add(k);
      }
    }
  }
}

/** The segments (and which of the keys) a delete goes to. */
function route(channel: ChannelWriteBuffer, m: DeleteFlowMsg): Map<SegmentRecord, number[]> {
  const registry = channel.registry;
  const pkIndex = channel.schema.fields.findIndex((f) => f.isPrimaryKey);
  const wanted = new Map<PrimaryKey, number[]>();
  for (let i = 0; i < m.pks.length; i++) {
    const k = m.pks[i]!;
    const list = wanted.get(k);
    if (list === undefined) wanted.set(k, [i]);
    else list.push(i);
  }
  const out = new Map<SegmentRecord, number[]>();
  for (const rec of registry.all()) {
    if (m.partitionId !== 0n && rec.partitionId !== m.partitionId) continue;
    if (registry.skipDelete(rec, m.position.msgId)) continue;
    const hits = new Set<number>();
    if (rec.pkStats.length > 0) {
      for (const [k, idx] of wanted) if (registry.syncedMightContain(rec, k)) for (const i of idx) hits.add(i);
    }
    if (hits.size < m.pks.length) scanChunks(channel.unsyncedInserts(rec.segmentId), pkIndex, wanted, hits);
    if (hits.size > 0) out.set(rec, [...hits].sort((a, b) => a - b));
  }
  return out;
}

/** The delete buffer node of one vchannel's flowgraph. */
export function createDeleteNode(options: DeleteNodeOptions): Node<FlowMsg, FlowMsg> {
  const { channel, manager, metrics } = options;
  return {
    name: 'delete-buffer',
    operate: async (msgs, ctx) => {
      const out: FlowMsg[] = [];
      for (const m of msgs) {
        if (m.kind === 'delete') {
          for (const [rec, idx] of route(channel, m)) {
            const pks = m.pks instanceof BigInt64Array ? BigInt64Array.from(idx, (i) => (m.pks as BigInt64Array)[i]!) : idx.map((i) => (m.pks as string[])[i]!);
            const timestamps = BigUint64Array.from(idx, (i) => m.timestamps[i]!);
            const bytes = Math.ceil((m.bytes * idx.length) / m.pks.length);
            await manager.reserve(bytes, ctx.signal);
            channel.appendDelete(rec, { pks, timestamps, position: m.position, bytes });
            metrics.deleteRows += idx.length;
          }
          continue;
        }
        if (m.kind !== 'skip') out.push(m);
      }
      const last = msgs[msgs.length - 1];
      if (last !== undefined) {
        channel.appliedUpTo = last.position.msgId;
        if (out[out.length - 1] !== last) out.push({ kind: 'skip', position: last.position });
      }
      manager.afterApply(channel);
      return out;
    },
  };
}
