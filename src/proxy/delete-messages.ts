/**
 * Encodes Delete records: the keys of one vchannel as StreamMsg payloads holding a DeleteMsg
 * (keys typed as the primary key, one timestamp per key), split so that every payload is at most
 * the limit. Sizes are measured with the widest message id (a 10-byte varint), so the final
 * payloads, stamped with real ids from the ID allocator afterwards, are never larger.
 */
import { MsgType } from '../gen/common.js';
import { StreamMsg } from '../gen/msg.js';
import type { CollectionMeta } from './collection-cache.js';
import type { EncodedMessage } from './insert-messages.js';
import { splitBySize } from './message-split.js';

/** The keys of one vchannel, in order, with the delete timestamp of each. */
export interface DeleteKeys {
  meta: CollectionMeta;
  vchannel: string;
  /** 0: every partition. */
  partitionId: bigint;
  partitionName: string;
  keys: bigint[] | string[];
  timestamps: bigint[];
  sourceId: bigint;
}

/** A msg id whose varint encoding is as long as any can be (10 bytes), for sizing. */
const WIDEST_MSG_ID = -1n;

function encodeRange(src: DeleteKeys, start: number, end: number, msgId: bigint): EncodedMessage {
  const timestamps = src.timestamps.slice(start, end);
  let maxTs = 0n;
  for (const ts of timestamps) if (ts > maxTs) maxTs = ts;
  const keys = src.keys.slice(start, end);
  const payload = StreamMsg.encode({
    msgType: MsgType.Delete,
    vchannel: src.vchannel,
    collectionId: src.meta.id,
    body: {
      $case: 'delete',
      value: {
        base: { msgType: MsgType.Delete, msgId, timestamp: maxTs, sourceId: src.sourceId, targetId: 0n },
        collectionId: src.meta.id,
        partitionId: src.partitionId,
        vchannel: src.vchannel,
        collectionName: src.meta.name,
        partitionName: src.partitionName,
        numRows: BigInt(end - start),
        primaryKeys: typeof keys[0] === 'string' ? { $case: 'stringKeys', value: { data: keys as string[] } } : { $case: 'int64Keys', value: { data: keys as bigint[] } },
        timestamps,
      },
    },
  }).finish();
  return { payload, timestamp: maxTs, rows: end - start };
}

/**
 * Plans the Delete records of `src`: key ranges `[start, end)` whose payloads fit `limitBytes`.
 * Throws RESOURCE_EXHAUSTED when one key alone does not fit.
 */
export function planDeleteMessages(src: DeleteKeys, limitBytes: number): { start: number; end: number }[] {
  const n = src.keys.length;
  let keyBytes = 0;
  for (const k of src.keys) keyBytes += typeof k === 'string' ? Buffer.byteLength(k) + 2 : 10;
  const estimate = keyBytes / Math.max(1, n) + 10;
  return splitBySize(n, limitBytes, estimate, (start, end) => ({ encoded: null, bytes: encodeRange(src, start, end, WIDEST_MSG_ID).payload.length }), 'key').map(
    ({ start, end }) => ({ start, end }),
  );
}

/** The Delete records of planned ranges, message `i` stamped with `msgIds[i]`. */
export function encodeDeleteMessages(src: DeleteKeys, ranges: readonly { start: number; end: number }[], msgIds: BigInt64Array): EncodedMessage[] {
  return ranges.map((r, i) => encodeRange(src, r.start, r.end, msgIds[i]!));
}
