import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  RECORD_BATCH_HEADER_BYTES,
  TIMESTAMP_HEADER,
  decodeTimestamp,
  encodeTimestamp,
  maxPayloadBytes,
  recordBytes,
  splitByBatchBytes,
  varintBytes,
} from '../../../src/mq/kafka/record-batch.js';

// kafkajs's own record batch encoder: the bytes it sends are what the broker measures.
const require = createRequire(import.meta.url);
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (args: { records: unknown[] }) => Promise<{ buffer: Buffer }>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer;
  headers?: Record<string, Buffer>;
}) => unknown;

interface Sample {
  payload: number;
  key?: number;
  ts: boolean;
}

async function encodedBatchBytes(samples: Sample[]): Promise<number> {
  const records = samples.map((s, i) =>
    Record({
      offsetDelta: i,
      timestampDelta: i * 3,
      key: s.key === undefined ? null : Buffer.alloc(s.key, 1),
      value: Buffer.alloc(s.payload, 2),
      ...(s.ts ? { headers: { [TIMESTAMP_HEADER]: encodeTimestamp(123n) } } : {}),
    }),
  );
  return (await RecordBatch({ records })).buffer.length;
}

describe('record-batch', () => {
  it('record-batch - varint sizes match the zigzag encoding', () => {
    expect(varintBytes(0)).toBe(1);
    expect(varintBytes(-1)).toBe(1);
    expect(varintBytes(63)).toBe(1);
    expect(varintBytes(64)).toBe(2);
    expect(varintBytes(8191)).toBe(2);
    expect(varintBytes(8192)).toBe(3);
    expect(varintBytes(1024 * 1024 - 1)).toBe(3);
    expect(varintBytes(1024 * 1024)).toBe(4);
  });

  it('record-batch - the size estimate bounds kafkajs encoding from above, by a few bytes per record', async () => {
    const sizes = [0, 1, 63, 64, 100, 8191, 8192, 65_535, 1_000_000];
    for (const payload of sizes) {
      for (const key of [undefined, 0, 10, 200]) {
        for (const ts of [true, false]) {
          const sample: Sample = key === undefined ? { payload, ts } : { payload, key, ts };
          const actual = await encodedBatchBytes([sample]);
          const estimate = RECORD_BATCH_HEADER_BYTES + recordBytes(payload, key, ts);
          expect(estimate).toBeGreaterThanOrEqual(actual);
          expect(estimate - actual).toBeLessThanOrEqual(8);
        }
      }
    }
    const many: Sample[] = Array.from({ length: 500 }, (_, i) => ({ payload: 540 + (i % 7), ts: true }));
    const actual = await encodedBatchBytes(many);
    const estimate = RECORD_BATCH_HEADER_BYTES + many.reduce((sum, s) => sum + recordBytes(s.payload, s.key, s.ts), 0);
    expect(estimate).toBeGreaterThanOrEqual(actual);
    expect(estimate - actual).toBeLessThanOrEqual(8 * many.length);
  });

  it('record-batch - the largest payload fills a batch up to the limit and no further', async () => {
    for (const limit of [1024 * 1024, 1_048_588, 10_000]) {
      const max = maxPayloadBytes(limit);
      expect(limit - max).toBeLessThan(130);
      // The largest payload, with a key making up part of it, still fits once encoded.
      expect(await encodedBatchBytes([{ payload: max - 100, key: 100, ts: true }])).toBeLessThanOrEqual(limit);
      expect(await encodedBatchBytes([{ payload: max, ts: true }])).toBeLessThanOrEqual(limit);
      expect(RECORD_BATCH_HEADER_BYTES + recordBytes(max + 1, 0, true) + 5).toBeGreaterThan(limit);
    }
  });

  it('record-batch - splitting keeps order and keeps every group under the limit', () => {
    const sizes = [10, 500, 300, 200, 999, 1, 1, 450, 600];
    const limit = 1000 + RECORD_BATCH_HEADER_BYTES;
    const groups = splitByBatchBytes(sizes, (s) => s, limit);
    expect(groups.flat()).toEqual(sizes);
    for (const g of groups) {
      expect(g.length).toBeGreaterThan(0);
      expect(RECORD_BATCH_HEADER_BYTES + g.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(limit);
    }
    // Greedy: a group closes only when the next item would not fit.
    expect(groups).toEqual([[10, 500, 300], [200], [999, 1], [1, 450], [600]]);
    // An item above the limit travels alone (the caller rejects such items beforehand).
    expect(splitByBatchBytes([5, 5000, 5], (s) => s, limit)).toEqual([[5], [5000], [5]]);
    expect(splitByBatchBytes([], (s: number) => s, limit)).toEqual([]);
  });

  it('record-batch - the timestamp header round-trips any unsigned 64-bit value', () => {
    for (const ts of [0n, 1n, (1n << 63n) + 5n, (1n << 64n) - 1n]) {
      const b = encodeTimestamp(ts);
      expect(b.length).toBe(8);
      expect(decodeTimestamp(b)).toBe(ts);
      expect(decodeTimestamp([b])).toBe(ts);
    }
    expect(encodeTimestamp(0x0102030405060708n).toString('hex')).toBe('0102030405060708');
    expect(decodeTimestamp(undefined)).toBe(0n);
    expect(decodeTimestamp(Buffer.alloc(4))).toBe(0n);
    expect(decodeTimestamp('not-bytes')).toBe(0n);
  });
});
