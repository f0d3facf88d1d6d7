/**
 * Splitting rows into messages by encoded size. A message's bytes are measured, never guessed:
 * each chunk is encoded, and a chunk whose encoding is above the limit is cut to the share that
 * fits (at most half) and encoded again. The first chunk's row count comes from an estimate of
 * bytes per row; later chunks scale from the rows per byte the previous chunk measured. Because a
 * fixed per-message overhead makes small chunks look more expensive per row, the scaling never
 * overshoots on fixed-width rows; variable-width rows (VarChar) may, and are then cut again.
 */
import { ErrorCode, TidalError } from '../common/errors.js';

/** One encoded message and the rows (`[start, end)` of the input) it holds. */
export interface SizedChunk<T> {
  start: number;
  end: number;
  encoded: T;
  bytes: number;
}

/** Fraction of the limit a scaled guess aims at, so that small variations still fit. */
const AIM = 0.95;

/**
 * Cuts rows `[0, rows)` into consecutive chunks whose encodings are at most `limitBytes` each.
 * `encode(start, end)` encodes rows `[start, end)` and returns the value and its size in bytes;
 * `rowBytesEstimate` guesses the bytes one row adds. Throws RESOURCE_EXHAUSTED when a single row
 * does not fit (with `what` naming the row's kind in the message).
 */
export function splitBySize<T>(
  rows: number,
  limitBytes: number,
  rowBytesEstimate: number,
  encode: (start: number, end: number) => { encoded: T; bytes: number },
  what = 'row',
): SizedChunk<T>[] {
  const out: SizedChunk<T>[] = [];
  let guess = Math.max(1, Math.floor((limitBytes * AIM) / Math.max(1, rowBytesEstimate)));
  let start = 0;
  while (start < rows) {
    let k = Math.min(guess, rows - start);
    for (;;) {
      const { encoded, bytes } = encode(start, start + k);
      if (bytes <= limitBytes) {
        out.push({ start, end: start + k, encoded, bytes });
        start += k;
        // Rows per byte measured on this chunk, scaled to the limit; never fewer than one row.
        guess = Math.max(1, Math.floor((k * limitBytes * AIM) / bytes));
        break;
      }
      if (k === 1) {
        throw new TidalError(
          ErrorCode.ResourceExhausted,
          `one ${what} encodes to ${bytes} bytes, above the message limit of ${limitBytes} bytes; it cannot be sent`,
          { context: { row: start, bytes, limitBytes } },
        );
      }
      k = Math.max(1, Math.min(k >> 1, Math.floor((k * limitBytes * AIM) / bytes)));
    }
  }
  return out;
}
