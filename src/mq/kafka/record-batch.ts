/**
 * Sizing Kafka record batches. kafkajs puts all messages of one `send` to a partition into one
 * record batch, and the broker rejects a batch above its `message.max.bytes` (MESSAGE_TOO_LARGE,
 * not retriable). So a produce call is split into sends by encoded bytes, keeping order.
 *
 * Sizes follow the v2 record format (KIP-98), uncompressed, with upper bounds for the varints
 * whose values we do not know in advance (timestamp and offset deltas).
 */

/** Bytes of a v2 record batch header, counted by the broker against `message.max.bytes`. */
export const RECORD_BATCH_HEADER_BYTES = 61;

/** Header carrying the hybrid timestamp: 8 bytes, unsigned big-endian. */
export const TIMESTAMP_HEADER = 'tidal-ts';

/** Bytes of a zigzag varint holding `n` (a non-negative count or length, or -1 for null). */
export function varintBytes(n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  let bytes = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 0x80);
    bytes += 1;
  }
  return bytes;
}

/** Encoded bytes of the timestamp header (key length, key, value length, 8-byte value). */
const TIMESTAMP_HEADER_BYTES = varintBytes(TIMESTAMP_HEADER.length) + TIMESTAMP_HEADER.length + varintBytes(8) + 8;

/**
 * Upper bound of one record's encoded size inside a batch: length prefix, attributes, timestamp
 * delta (at most 5 bytes: deltas within one send stay far below 2^27 ms), offset delta, key, value,
 * header count and the timestamp header.
 */
export function recordBytes(payloadBytes: number, keyBytes: number | undefined, hasTimestamp: boolean): number {
  const body =
    1 + // attributes
    5 + // timestamp delta (varlong, bounded)
    5 + // offset delta (varint, bounded)
    (keyBytes === undefined ? varintBytes(-1) : varintBytes(keyBytes) + keyBytes) +
    varintBytes(payloadBytes) +
    payloadBytes +
    varintBytes(hasTimestamp ? 1 : 0) +
    (hasTimestamp ? TIMESTAMP_HEADER_BYTES : 0);
  return varintBytes(body) + body;
}

const KEY_LENGTH_RESERVE = 5;

/** The largest payload + key that fits alone in a batch of at most `maxBatchBytes`. */
export function maxPayloadBytes(maxBatchBytes: number): number {
  // Search down from the bound (the overhead is a few dozen bytes); KEY_LENGTH_RESERVE covers a
  // key's own length varint, since the limit applies to payload + key together.
  let n = maxBatchBytes - RECORD_BATCH_HEADER_BYTES;
  while (n > 0 && RECORD_BATCH_HEADER_BYTES + recordBytes(n, 0, true) + KEY_LENGTH_RESERVE > maxBatchBytes) n -= 1;
  return n;
}

/**
 * Splits items into consecutive groups whose record batch stays within `maxBatchBytes`, in order.
 * `sizeOf` gives an item's record bytes; an item alone above the limit still gets its own group
 * (the caller validates sizes first).
 */
export function splitByBatchBytes<T>(items: readonly T[], sizeOf: (item: T) => number, maxBatchBytes: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = RECORD_BATCH_HEADER_BYTES;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && bytes + size > maxBatchBytes) {
      groups.push(current);
      current = [];
      bytes = RECORD_BATCH_HEADER_BYTES;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** The timestamp header value: `ts` as 8 bytes, unsigned big-endian. */
export function encodeTimestamp(ts: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(ts);
  return b;
}

/** The hybrid timestamp in a header value, or 0n when absent or not 8 bytes. */
export function decodeTimestamp(value: Buffer | string | (Buffer | string)[] | undefined): bigint {
  const v = Array.isArray(value) ? value[0] : value;
  if (!Buffer.isBuffer(v) || v.length !== 8) return 0n;
  return v.readBigUInt64BE(0);
}
