/**
 * Helpers of the DataNode data-path tests: a small schema, and StreamMsg payloads shaped the way
 * the proxy sends them (Insert: Arrow IPC stream of one record batch + little-endian timestamp and
 * row-id columns; Delete; TimeTick), built here so the tests do not depend on the proxy client.
 */
import { encodeInsertBatch } from '../../../src/common/arrow/index.js';
import { u64ToBytes } from '../../../src/common/u64-bytes.js';
import { MsgType } from '../../../src/gen/common.js';
import { StreamMsg } from '../../../src/gen/msg.js';
import { DataType, type CollectionSchema } from '../../../src/gen/schema.js';

/** Vector dimension of {@link testSchema}. */
export const DIM = 8;

/** `{pk Int64 primary key, vec FloatVector[DIM]}`; field ids set as the master assigns them. */
export function testSchema(name = 'dn_test'): CollectionSchema {
  return {
    name,
    description: '',
    autoId: false,
    version: 0,
    fields: [
      { fieldId: 100n, name: 'pk', isPrimaryKey: true, description: '', dataType: DataType.Int64, dim: 0, maxLength: 0, autoId: false, nullable: false },
      { fieldId: 101n, name: 'vec', isPrimaryKey: false, description: '', dataType: DataType.FloatVector, dim: DIM, maxLength: 0, autoId: false, nullable: false },
    ],
  };
}

/** The vector of row `pk`: deterministic values, so a test can recompute what it inserted. */
export function vectorOf(pk: bigint): Float32Array {
  const v = new Float32Array(DIM);
  for (let i = 0; i < DIM; i++) v[i] = Number(pk % 1000n) + i / 10;
  return v;
}

/** What an Insert message carries. */
export interface InsertSpec {
  schema: CollectionSchema;
  collectionId: bigint;
  partitionId: bigint;
  segmentId: bigint;
  vchannel: string;
  pks: readonly bigint[];
  /** One per row; default: `ts` for every row. */
  timestamps?: readonly bigint[];
  ts?: bigint;
  /** One per row; default: the pks. */
  rowIds?: readonly bigint[];
  /** The rows' Arrow batch when built ahead with {@link insertArrowBatch}; default: built here from the pks. */
  arrowBatch?: Uint8Array;
}

/** The Arrow IPC batch of an Insert of `pks` (`{pk, vec}`, vectors from {@link vectorOf}). */
export function insertArrowBatch(schema: CollectionSchema, pks: readonly bigint[]): Uint8Array {
  const vec = new Float32Array(pks.length * DIM);
  pks.forEach((pk, i) => vec.set(vectorOf(pk), i * DIM));
  return encodeInsertBatch({ pk: BigInt64Array.from(pks), vec }, schema);
}

/** An Insert StreamMsg payload (header filled from the body) and its record timestamp. */
export function insertPayload(spec: InsertSpec): { payload: Uint8Array; timestamp: bigint } {
  const n = spec.pks.length;
  const timestamps = BigUint64Array.from(spec.timestamps ?? Array.from({ length: n }, () => spec.ts ?? 1n));
  const rowIds = BigInt64Array.from(spec.rowIds ?? spec.pks);
  const arrowBatch = spec.arrowBatch ?? insertArrowBatch(spec.schema, spec.pks);
  let maxTs = 0n;
  for (const t of timestamps) if (t > maxTs) maxTs = t;
  const payload = StreamMsg.encode({
    msgType: MsgType.Insert,
    vchannel: spec.vchannel,
    collectionId: spec.collectionId,
    body: {
      $case: 'insert',
      value: {
        base: { msgType: MsgType.Insert, msgId: rowIds[0] ?? 0n, timestamp: maxTs, sourceId: 1n, targetId: 0n },
        collectionId: spec.collectionId,
        partitionId: spec.partitionId,
        segmentId: spec.segmentId,
        vchannel: spec.vchannel,
        collectionName: spec.schema.name,
        partitionName: '_default',
        numRows: BigInt(n),
        schemaVersion: spec.schema.version,
        arrowBatch,
        timestamps: u64ToBytes(timestamps),
        rowIds: u64ToBytes(rowIds, true),
      },
    },
  }).finish();
  return { payload, timestamp: maxTs };
}

/** A Delete StreamMsg payload for Int64 keys. */
export function deletePayload(spec: { collectionId: bigint; vchannel: string; pks: readonly bigint[]; ts: bigint; partitionId?: bigint }): { payload: Uint8Array; timestamp: bigint } {
  const payload = StreamMsg.encode({
    msgType: MsgType.Delete,
    vchannel: spec.vchannel,
    collectionId: spec.collectionId,
    body: {
      $case: 'delete',
      value: {
        base: { msgType: MsgType.Delete, msgId: 1n, timestamp: spec.ts, sourceId: 1n, targetId: 0n },
        collectionId: spec.collectionId,
        partitionId: spec.partitionId ?? 0n,
        vchannel: spec.vchannel,
        collectionName: '',
        partitionName: '',
        numRows: BigInt(spec.pks.length),
        primaryKeys: { $case: 'int64Keys', value: { data: [...spec.pks] } },
        timestamps: spec.pks.map(() => spec.ts),
      },
    },
  }).finish();
  return { payload, timestamp: spec.ts };
}

/** A TimeTick StreamMsg payload (for every vchannel of the pchannel). */
export function tickPayload(ts: bigint): { payload: Uint8Array; timestamp: bigint } {
  const payload = StreamMsg.encode({
    msgType: MsgType.TimeTick,
    vchannel: '',
    collectionId: 0n,
    body: { $case: 'timeTick', value: { base: { msgType: MsgType.TimeTick, msgId: 0n, timestamp: ts, sourceId: 1n, targetId: 0n } } },
  }).finish();
  return { payload, timestamp: ts };
}

/** Polls `check` every 20 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
