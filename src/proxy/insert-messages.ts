/**
 * Encodes Insert records: the rows of one (vchannel, segment) placement as StreamMsg payloads,
 * each holding an InsertMsg with its rows as an Arrow IPC stream of one record batch, the per-row
 * timestamps and row ids as little-endian bytes, and the StreamMsg header filled from the body.
 * Rows are split so that every payload is at most the limit, measured on the encoded bytes (see
 * message-split.ts).
 *
 * `base.msg_id` of an Insert message is the row id of its first row: row ids come from the ID
 * allocator and every row is in exactly one message, so message ids are unique without an id of
 * their own.
 */
import type { Data, RecordBatch } from 'apache-arrow';
import { encodeInsertBatch } from '../common/arrow/index.js';
import { u64ToBytes } from '../common/u64-bytes.js';
import { MsgType } from '../gen/common.js';
import { StreamMsg } from '../gen/msg.js';
import type { CollectionMeta } from './collection-cache.js';
import { splitBySize } from './message-split.js';
import { takeRows } from './row-take.js';

/** One record to produce. */
export interface EncodedMessage {
  payload: Uint8Array;
  /** The record's timestamp: the largest timestamp of its rows (also `base.timestamp`). */
  timestamp: bigint;
  /** Rows (or keys) it carries. */
  rows: number;
}

/** The rows of one insert call, and who sends them. */
export interface InsertRows {
  meta: CollectionMeta;
  partitionId: bigint;
  partitionName: string;
  /** Every row of the call (user fields, schema order). */
  batch: RecordBatch;
  /** Timestamp and row id of each row of `batch`. */
  timestamps: BigUint64Array;
  rowIds: BigInt64Array;
  /** The proxy id (MsgBase.sourceId). */
  sourceId: bigint;
}

/** Rows of `rows` placed in one segment of one vchannel: indices into `rows.batch`, in order. */
export interface InsertPlacement {
  vchannel: string;
  segmentId: bigint;
  rows: Int32Array;
}

function dataBytes(d: Data): number {
  let n = (d.values?.byteLength ?? 0) + (d.valueOffsets?.byteLength ?? 0) + (d.nullBitmap?.byteLength ?? 0);
  for (const c of d.children) n += dataBytes(c);
  return n;
}

/** Estimated encoded bytes one row adds to an Insert message: its column bytes plus ts and row id. */
export function insertRowBytesEstimate(batch: RecordBatch): number {
  if (batch.numRows === 0) return 16;
  return dataBytes(batch.data) / batch.numRows + 16;
}

/** Gathers a BigUint64Array / BigInt64Array at `rows`. */
function gather<T extends BigUint64Array | BigInt64Array>(values: T, rows: Int32Array): T {
  const out = new (values.constructor as { new (n: number): T })(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]!]!;
  return out;
}

/** Encodes rows `rows` of `src` as one Insert StreamMsg payload. */
export function encodeInsertMessage(src: InsertRows, vchannel: string, segmentId: bigint, rows: Int32Array): EncodedMessage {
  const { meta } = src;
  const batch = takeRows(src.batch, meta.schema, rows);
  const timestamps = gather(src.timestamps, rows);
  const rowIds = gather(src.rowIds, rows);
  let maxTs = 0n;
  for (const ts of timestamps) if (ts > maxTs) maxTs = ts;
  const payload = StreamMsg.encode({
    msgType: MsgType.Insert,
    vchannel,
    collectionId: meta.id,
    body: {
      $case: 'insert',
      value: {
        base: { msgType: MsgType.Insert, msgId: rowIds[0]!, timestamp: maxTs, sourceId: src.sourceId, targetId: 0n },
        collectionId: meta.id,
        partitionId: src.partitionId,
        segmentId,
        vchannel,
        collectionName: meta.name,
        partitionName: src.partitionName,
        numRows: BigInt(rows.length),
        schemaVersion: meta.schema.version,
        arrowBatch: encodeInsertBatch(batch, meta.schema),
        timestamps: u64ToBytes(timestamps),
        rowIds: u64ToBytes(rowIds, true),
      },
    },
  }).finish();
  return { payload, timestamp: maxTs, rows: rows.length };
}

/**
 * The Insert records of one placement, in row order, each payload at most `limitBytes`. Throws
 * RESOURCE_EXHAUSTED when one row alone is above the limit.
 */
export function encodeInsertMessages(src: InsertRows, placement: InsertPlacement, limitBytes: number, rowBytesEstimate: number): EncodedMessage[] {
  const { rows } = placement;
  const chunks = splitBySize(
    rows.length,
    limitBytes,
    rowBytesEstimate,
    (start, end) => {
      const m = encodeInsertMessage(src, placement.vchannel, placement.segmentId, rows.subarray(start, end));
      return { encoded: m, bytes: m.payload.length };
    },
    'row',
  );
  return chunks.map((c) => c.encoded);
}
