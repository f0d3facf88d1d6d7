/**
 * The byte layouts of the on-disk embedded log (LmdbLogStore): record keys, record values and
 * channel entries. Fixed-width big-endian integers, so LMDB's byte order is offset order.
 */
import { errors } from '../../common/errors.js';
import type { StoredRecord } from './log-store.js';

/** Version of these layouts, kept in the store; a store written with another one is refused. */
export const LOG_FORMAT_VERSION = 1;

/** Record key: channel id (u32) then offset (u64), 12 bytes. */
export const RECORD_KEY_BYTES = 12;

/** Key of the record at `offset` of the channel with id `id`. */
export function recordKey(id: number, offset: bigint): Buffer {
  const key = Buffer.allocUnsafe(RECORD_KEY_BYTES);
  key.writeUInt32BE(id, 0);
  key.writeBigUInt64BE(offset, 4);
  return key;
}

/** The channel id and offset of a record key. */
export function parseRecordKey(key: Buffer): { id: number; offset: bigint } {
  if (key.length !== RECORD_KEY_BYTES) throw errors.corrupted(`embedded log: record key of ${key.length} bytes, expected ${RECORD_KEY_BYTES}`);
  return { id: key.readUInt32BE(0), offset: key.readBigUInt64BE(4) };
}

/** Record value: timestamp (u64), key length (u32, NO_KEY when absent), key, payload. */
const VALUE_HEADER_BYTES = 12;
const NO_KEY = 0xffffffff;

/** One buffer holding a record: the only copy of the caller's bytes the store makes before LMDB's own. */
export function encodeRecord(record: StoredRecord): Buffer {
  const keyLength = record.key?.length ?? 0;
  const out = Buffer.allocUnsafe(VALUE_HEADER_BYTES + keyLength + record.payload.length);
  out.writeBigUInt64BE(record.timestamp, 0);
  out.writeUInt32BE(record.key === undefined ? NO_KEY : keyLength, 8);
  if (record.key !== undefined) record.key.copy(out, VALUE_HEADER_BYTES);
  record.payload.copy(out, VALUE_HEADER_BYTES + keyLength);
  return out;
}

/** The record in `value` (payload and key are views of it, not copies). Throws CORRUPTED. */
export function decodeRecord(value: Buffer, channel: string, offset: bigint): StoredRecord {
  if (value.length < VALUE_HEADER_BYTES) throw corruptRecord(channel, offset, `${value.length} bytes`);
  const timestamp = value.readBigUInt64BE(0);
  const keyLength = value.readUInt32BE(8);
  if (keyLength === NO_KEY) return { timestamp, payload: value.subarray(VALUE_HEADER_BYTES) };
  const payloadStart = VALUE_HEADER_BYTES + keyLength;
  if (payloadStart > value.length) throw corruptRecord(channel, offset, `key of ${keyLength} bytes in a ${value.length}-byte record`);
  return { timestamp, key: value.subarray(VALUE_HEADER_BYTES, payloadStart), payload: value.subarray(payloadStart) };
}

function corruptRecord(channel: string, offset: bigint, what: string) {
  return errors.corrupted(`embedded log: record ${offset} of channel ${channel} is damaged (${what})`, undefined, { channel, offset: offset.toString() });
}

/** A channel's entry: its id (never reused) and its offsets. */
export interface ChannelEntry {
  id: number;
  /** Lowest retained offset. */
  earliest: bigint;
  /** Offset the next record gets. */
  next: bigint;
}

const CHANNEL_ENTRY_BYTES = 20;

/** Channel entry as stored: id (u32), earliest (u64), next (u64). */
export function encodeChannel(entry: ChannelEntry): Buffer {
  const out = Buffer.allocUnsafe(CHANNEL_ENTRY_BYTES);
  out.writeUInt32BE(entry.id, 0);
  out.writeBigUInt64BE(entry.earliest, 4);
  out.writeBigUInt64BE(entry.next, 12);
  return out;
}

/** The channel entry in `value`. Throws CORRUPTED. */
export function decodeChannel(value: Buffer, channel: string): ChannelEntry {
  if (value.length !== CHANNEL_ENTRY_BYTES) {
    throw errors.corrupted(`embedded log: entry of channel ${channel} is ${value.length} bytes, expected ${CHANNEL_ENTRY_BYTES}`, undefined, { channel });
  }
  return { id: value.readUInt32BE(0), earliest: value.readBigUInt64BE(4), next: value.readBigUInt64BE(12) };
}

/** A u32 kept in the store's meta database (format version, next channel id). */
export function encodeU32(n: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(n, 0);
  return out;
}

/** The u32 in `value`, or undefined when absent. Throws CORRUPTED. */
export function decodeU32(value: Buffer | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (value.length !== 4) throw errors.corrupted(`embedded log: ${what} is ${value.length} bytes, expected 4`);
  return value.readUInt32BE(0);
}
