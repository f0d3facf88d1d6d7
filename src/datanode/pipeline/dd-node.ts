/**
 * The dd node: the first stage after the input. For each record routed to this vchannel it
 * decodes the body, checks it against its header and the collection, and turns it into one
 * FlowMsg for the buffer nodes:
 *
 * - Insert: the Arrow batch is decoded against the collection schema (a view of the bytes, no
 *   per-row objects) with its timestamp and row-id columns; rows already flushed (at or below the
 *   segment's flushed position), of a flushed or dropped segment, or of a dropped partition are
 *   skipped (recovery). Such rows past the flushed position of their flushed or dropped segment
 *   are in no binlog (a message produced after its segment allocation expired, not a replay): they
 *   are counted apart (`lateSkippedRows`) and warned about (see {@link LateRowsLog}).
 * - Delete: keys and timestamps as typed arrays.
 * - TimeTick, DropCollection, DropPartition of this collection: passed on (the time-tick node acts).
 * - Anything else (other DDL, DataNode ticks, another collection's records): filtered.
 *
 * A record that does not decode, or disagrees with its header, is skipped with an error log and
 * counted (`undecodableRecords`); the records after it are handled as usual.
 */
import type { Node } from '../../../flowgraph/index.js';
import { decodeInsertBatch } from '../../common/arrow/index.js';
import { errors } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { bytesToI64, bytesToU64 } from '../../common/u64-bytes.js';
import { MsgType } from '../../gen/common.js';
import { StreamMsg, type DeleteMsg, type InsertMsg } from '../../gen/msg.js';
import type { CollectionSchema } from '../../gen/schema.js';
import type { SegmentRegistry } from '../writebuffer/segment-registry.js';
import { LateRowsLog, type LateRows, type LateRowsLogOptions } from './late-rows-log.js';
import type { DeleteFlowMsg, DispatchedMsg, FlowMsg, InsertFlowMsg } from './messages.js';
import type { DataPathMetrics } from './metrics.js';

/** Options of {@link createDdNode}. */
export interface DdNodeOptions {
  vchannel: string;
  collectionId: bigint;
  schema: CollectionSchema;
  registry: SegmentRegistry;
  metrics: DataPathMetrics;
  logger: Logger;
  /** Limits and clock of the late-rows warning (defaults: see {@link LateRowsLogOptions}). */
  lateRowsLog?: Omit<LateRowsLogOptions, 'logger'>;
}

/** Insert bytes viewing a backing buffer this much larger are copied (see {@link ownBytes}). */
const COPY_SLACK_BYTES = 64 * 1024;

/**
 * The bytes of a column, copied when they view a much larger buffer (a Kafka fetch response): a
 * buffered batch would otherwise keep the whole fetch alive, and the memory budget would count a
 * fraction of what is held.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.buffer.byteLength > bytes.byteLength * 1.5 + COPY_SLACK_BYTES ? bytes.slice() : bytes;
}

/**
 * 64-bit column bytes at an 8-byte aligned offset: a view of a protobuf buffer usually is not, and
 * viewing unaligned bytes means building a value per row; one copy of the bytes avoids that.
 */
function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
}

const CASE_TYPES: Readonly<Record<string, MsgType>> = {
  insert: MsgType.Insert,
  delete: MsgType.Delete,
  timeTick: MsgType.TimeTick,
  createCollection: MsgType.CreateCollection,
  dropCollection: MsgType.DropCollection,
  createPartition: MsgType.CreatePartition,
  dropPartition: MsgType.DropPartition,
  createIndex: MsgType.CreateIndex,
  dataNodeTt: MsgType.DataNodeTt,
};

/**
 * Whether skipped rows of `ins` at `msgId` are late: its segment is flushed (before the watch) or
 * dropped, and the message lies past the segment's flushed position, so no binlog holds its rows.
 * At or below that position the message is a replay (its rows are in the binlogs). Rows skipped
 * because their partition or collection was dropped are not late; nor are those of a dropped
 * segment whose flushed position is unknown (nothing tells a replay from a late message).
 */
function lateRows(registry: SegmentRegistry, ins: InsertMsg, msgId: bigint, rows: number): LateRows | undefined {
  // The partition or the collection was dropped (what skipDeletesOf tells): skipped for that.
  if (registry.skipDeletesOf(ins.partitionId)) return undefined;
  const rec = registry.get(ins.segmentId);
  const flushed = rec?.dmlPosition;
  if (rec === undefined || flushed === undefined || msgId <= flushed.msgId) return undefined;
  if (rec.phase !== 'dropped' && !rec.flushedAtWatch) return undefined;
  return { segmentId: ins.segmentId, msgId, rows, segmentState: rec.phase === 'dropped' ? 'dropped' : 'flushed', flushedMsgId: flushed.msgId };
}

/** The dd node of one vchannel's flowgraph. */
export function createDdNode(options: DdNodeOptions): Node<DispatchedMsg, FlowMsg> {
  const { vchannel, collectionId, schema, registry, metrics } = options;
  const log = options.logger.child({ node: 'dd', vchannel });
  const lateLog = new LateRowsLog({ ...options.lateRowsLog, logger: log });

  const decodeInsert = (m: DispatchedMsg, ins: InsertMsg): InsertFlowMsg | undefined => {
    if (ins.collectionId !== collectionId) throw errors.corrupted(`insert for collection ${ins.collectionId} on a vchannel of collection ${collectionId}`);
    if (ins.vchannel !== '' && ins.vchannel !== vchannel) throw errors.corrupted(`insert body names vchannel ${ins.vchannel}`);
    const rows = Number(ins.numRows);
    if (!Number.isSafeInteger(rows) || rows < 0) throw errors.corrupted(`insert num_rows ${ins.numRows} is not a row count`);
    if (registry.skipInsert(ins.segmentId, ins.partitionId, m.position.msgId)) {
      metrics.skippedRows += rows;
      const late = lateRows(registry, ins, m.position.msgId, rows);
      if (late !== undefined) {
        metrics.lateSkippedRows += rows;
        lateLog.note(late);
      }
      return undefined;
    }
    const timestamps = bytesToU64(aligned(ins.timestamps));
    const rowIds = bytesToI64(aligned(ins.rowIds));
    if (timestamps.length !== rows || rowIds.length !== rows) {
      throw errors.corrupted(`insert says ${rows} rows but carries ${timestamps.length} timestamps and ${rowIds.length} row ids`);
    }
    const arrow = ownBytes(ins.arrowBatch);
    const batch = decodeInsertBatch(arrow, schema, rows);
    return {
      kind: 'insert',
      position: m.position,
      segmentId: ins.segmentId,
      partitionId: ins.partitionId,
      batch,
      timestamps,
      rowIds,
      bytes: arrow.byteLength + timestamps.byteLength + rowIds.byteLength,
    };
  };

  const decodeDelete = (m: DispatchedMsg, del: DeleteMsg): DeleteFlowMsg | undefined => {
    if (del.collectionId !== collectionId) throw errors.corrupted(`delete for collection ${del.collectionId} on a vchannel of collection ${collectionId}`);
    const keys = del.primaryKeys;
    if (keys === undefined) throw errors.corrupted('delete carries no primary keys');
    const pks = keys.$case === 'int64Keys' ? BigInt64Array.from(keys.value.data) : keys.value.data;
    if (pks.length !== del.timestamps.length) throw errors.corrupted(`delete carries ${pks.length} keys but ${del.timestamps.length} timestamps`);
    if (pks.length === 0 || registry.skipDeletesOf(del.partitionId)) return undefined;
    const timestamps = BigUint64Array.from(del.timestamps);
    const keyBytes = keys.$case === 'int64Keys' ? pks.length * 8 : (pks as string[]).reduce((n, s) => n + s.length * 2 + 16, 0);
    return { kind: 'delete', position: m.position, partitionId: del.partitionId, pks, timestamps, bytes: keyBytes + timestamps.byteLength };
  };

  const convert = (m: DispatchedMsg): FlowMsg | undefined => {
    const msg = StreamMsg.decode(m.payload);
    const body = msg.body;
    if (body === undefined) throw errors.corrupted('record has no body');
    if (CASE_TYPES[body.$case] !== m.header.msgType) throw errors.corrupted(`header says message type ${m.header.msgType}, body is ${body.$case}`);
    switch (body.$case) {
      case 'insert':
        return decodeInsert(m, body.value);
      case 'delete':
        return decodeDelete(m, body.value);
      case 'timeTick':
        return { kind: 'tick', position: m.position, ts: body.value.base?.timestamp ?? m.position.timestamp };
      case 'dropCollection':
        if (body.value.collectionId !== collectionId) return undefined;
        return { kind: 'drop-collection', position: m.position, ts: body.value.base?.timestamp ?? m.position.timestamp };
      case 'dropPartition':
        if (body.value.collectionId !== collectionId) return undefined;
        return { kind: 'drop-partition', position: m.position, partitionId: body.value.partitionId, ts: body.value.base?.timestamp ?? m.position.timestamp };
      default:
        return undefined;
    }
  };

  return {
    name: 'dd',
    operate: (msgs) => {
      const out: FlowMsg[] = [];
      let lastKept = true;
      for (const m of msgs) {
        let f: FlowMsg | undefined;
        try {
          f = convert(m);
        } catch (err) {
          metrics.undecodableRecords++;
          log.error({ err, msgId: m.position.msgId.toString(), msgType: m.header.msgType }, 'undecodable record; skipped');
        }
        if (f !== undefined) out.push(f);
        lastKept = f !== undefined;
      }
      // A filtered tail still moves the vchannel's consumed position.
      const last = msgs[msgs.length - 1];
      if (!lastKept && last !== undefined) out.push({ kind: 'skip', position: last.position });
      return out;
    },
  };
}
