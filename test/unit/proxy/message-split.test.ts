import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { splitBySize } from '../../../src/proxy/message-split.js';

/** Rows of given sizes, a message = overhead + its rows' sizes. */
function sizer(sizes: number[], overhead: number) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    encode: (start: number, end: number) => {
      calls++;
      let bytes = overhead;
      for (let i = start; i < end; i++) bytes += sizes[i]!;
      return { encoded: [start, end] as const, bytes };
    },
  };
}

describe('message-split', () => {
  it('message-split - cuts fixed-size rows into consecutive chunks under the limit, every row once', () => {
    const sizes = new Array(10_000).fill(100);
    const s = sizer(sizes, 500);
    const chunks = splitBySize(sizes.length, 64 * 1024, 90, s.encode);
    expect(chunks[0]!.start).toBe(0);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.start).toBe(chunks[i - 1]!.end);
    expect(chunks[chunks.length - 1]!.end).toBe(sizes.length);
    for (const c of chunks) expect(c.bytes).toBeLessThanOrEqual(64 * 1024);
    // Near-full messages: no more than ~10% more messages than the bytes need.
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil((1.1 * 10_000 * 100) / (64 * 1024)) + 1);
  });

  it('message-split - an estimate far too small is corrected by measuring', () => {
    const sizes = Array.from({ length: 5_000 }, (_, i) => (i % 10 === 0 ? 2_000 : 50));
    const s = sizer(sizes, 300);
    const chunks = splitBySize(sizes.length, 16 * 1024, 1, s.encode);
    for (const c of chunks) expect(c.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(chunks.reduce((a, c) => a + (c.end - c.start), 0)).toBe(sizes.length);
  });

  it('message-split - one row above the limit is RESOURCE_EXHAUSTED naming its size', () => {
    const sizes = [10, 10, 5_000, 10];
    expect(() => splitBySize(sizes.length, 1_000, 10, sizer(sizes, 100).encode)).toThrowError(
      expect.objectContaining({ code: ErrorCode.ResourceExhausted, message: expect.stringContaining('one row encodes to 5100 bytes, above the message limit of 1000 bytes') }),
    );
  });
});
