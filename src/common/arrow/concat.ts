/**
 * Concatenation of Arrow column chunks into one contiguous column by copying buffers (one
 * `TypedArray.set` per chunk and buffer), never by materialising values. Covers the types Tidal
 * columns use: Int64, UInt64, Float32, Float64, Bool, Utf8 and FixedSizeList of those.
 *
 * Arrow JS convention (apache-arrow `Data`): a sliced chunk's value buffers (and a FixedSizeList's
 * child) already start at its first element, and `offset` only indexes bit-packed buffers (the
 * validity bitmap and Bool values). Utf8 value offsets start at the chunk's first row but still
 * point into the unsliced byte buffer.
 */
import { makeData, Type, type Data, type DataType as ArrowType } from 'apache-arrow';
import { ErrorCode, TidalError, errors } from '../errors.js';

/** Copies `length` bits from `src` (starting at bit `srcBit`) to `dst` (starting at bit `dstBit`). */
export function copyBits(src: Uint8Array, srcBit: number, dst: Uint8Array, dstBit: number, length: number): void {
  let i = 0;
  if ((srcBit & 7) === 0 && (dstBit & 7) === 0) {
    // Byte-aligned: whole bytes in one copy, then the tail bit by bit.
    const bytes = length >> 3;
    dst.set(src.subarray(srcBit >> 3, (srcBit >> 3) + bytes), dstBit >> 3);
    i = bytes << 3;
  }
  for (; i < length; i++) {
    const s = srcBit + i;
    const d = dstBit + i;
    if ((src[s >> 3]! >> (s & 7)) & 1) dst[d >> 3]! |= 1 << (d & 7);
    else dst[d >> 3]! &= ~(1 << (d & 7));
  }
}

/** Sets `length` bits of `dst` from bit `dstBit` to 1. */
export function setBits(dst: Uint8Array, dstBit: number, length: number): void {
  let i = 0;
  for (; i < length && ((dstBit + i) & 7) !== 0; i++) dst[(dstBit + i) >> 3]! |= 1 << ((dstBit + i) & 7);
  const wholeBytes = (length - i) >> 3;
  if (wholeBytes > 0) {
    const start = (dstBit + i) >> 3;
    dst.fill(0xff, start, start + wholeBytes);
    i += wholeBytes << 3;
  }
  for (; i < length; i++) dst[(dstBit + i) >> 3]! |= 1 << ((dstBit + i) & 7);
}

/** Bytes of a bitmap holding `n` bits, padded to 8 bytes (Arrow's buffer alignment). */
function bitmapBytes(n: number): number {
  return ((n + 63) >> 6) << 3;
}

/** The validity bitmap of the concatenated chunks, or undefined when no chunk has a null. */
function concatValidity(chunks: readonly Data[], total: number): { bitmap: Uint8Array | undefined; nullCount: number } {
  let nullCount = 0;
  for (const c of chunks) nullCount += c.nullCount;
  if (nullCount === 0) return { bitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array(bitmapBytes(total));
  let pos = 0;
  for (const c of chunks) {
    if (c.nullCount > 0) copyBits(c.nullBitmap, c.offset, bitmap, pos, c.length);
    else setBits(bitmap, pos, c.length);
    pos += c.length;
  }
  return { bitmap, nullCount };
}

type FixedArray = BigInt64Array | BigUint64Array | Float32Array | Float64Array;
type FixedArrayCtor = { new (n: number): FixedArray };

function concatFixed(chunks: readonly Data[], total: number, Ctor: FixedArrayCtor): FixedArray {
  const out = new Ctor(total);
  let pos = 0;
  for (const c of chunks) {
    const n = c.length;
    out.set((c.values as FixedArray).subarray(0, n) as never, pos);
    pos += n;
  }
  return out;
}

/**
 * One Data holding the rows of `chunks` in order, all of Arrow type `type` (only the type ids are
 * trusted; the caller has checked the chunks against the schema). A single chunk is returned as
 * it is. Throws INVALID_ARGUMENT for an unsupported type and RESOURCE_EXHAUSTED when a Utf8
 * column would pass 2 GiB.
 */
export function concatData(type: ArrowType, chunks: readonly Data[]): Data {
  if (chunks.length === 1) return chunks[0]!;
  let total = 0;
  for (const c of chunks) total += c.length;
  const { bitmap, nullCount } = concatValidity(chunks, total);
  const base = { type, length: total, nullCount, nullBitmap: bitmap } as const;
  switch (type.typeId) {
    case Type.Int:
    case Type.Float: {
      const first = chunks[0]?.values as FixedArray | undefined;
      const Ctor = (first?.constructor ?? (type as unknown as { ArrayType: FixedArrayCtor }).ArrayType) as FixedArrayCtor;
      return makeData({ ...base, data: concatFixed(chunks, total, Ctor) } as never);
    }
    case Type.Bool: {
      const values = new Uint8Array(bitmapBytes(total));
      let pos = 0;
      for (const c of chunks) {
        copyBits(c.values as Uint8Array, c.offset, values, pos, c.length);
        pos += c.length;
      }
      return makeData({ ...base, data: values } as never);
    }
    case Type.Utf8: {
      let bytes = 0;
      for (const c of chunks) {
        const o = c.valueOffsets as Int32Array;
        bytes += o[c.length]! - o[0]!;
      }
      if (bytes > 0x7fffffff) {
        throw new TidalError(ErrorCode.ResourceExhausted, `a Utf8 column of ${bytes} bytes is above Arrow's 2 GiB limit; sync smaller ranges`);
      }
      const offsets = new Int32Array(total + 1);
      const data = new Uint8Array(bytes);
      let row = 0;
      let at = 0;
      for (const c of chunks) {
        const o = c.valueOffsets as Int32Array;
        const start = o[0]!;
        const end = o[c.length]!;
        data.set((c.values as Uint8Array).subarray(start, end), at);
        const shift = at - start;
        for (let i = 0; i < c.length; i++) offsets[row + i] = o[i]! + shift;
        row += c.length;
        at += end - start;
      }
      offsets[total] = at;
      return makeData({ ...base, valueOffsets: offsets, data } as never);
    }
    case Type.FixedSizeList: {
      const childType = type.children[0]!.type;
      const stride = (type as unknown as { listSize: number }).listSize;
      const children = chunks.map((c) => {
        const child = c.children[0]!;
        return child.length === c.length * stride ? child : child.slice(0, c.length * stride);
      });
      return makeData({ ...base, child: concatData(childType, children) } as never);
    }
    default:
      throw errors.invalidArgument(`cannot concatenate Arrow columns of type ${String(type)}`);
  }
}

/**
 * Stand-in buffers of {@link concatDataDeferred}: never written nor read, so their pages are never
 * touched (no memory in use), and reused from call to call; one per stand-in column of a call.
 */
const standIns: ArrayBuffer[] = [];

/**
 * Where the bytes of a {@link concatDataDeferred} column come from: the stand-in buffer, and the
 * views of the chunks' values that, written one after the other, are its contents.
 */
export type DeferredPieces = Map<ArrayBufferLike, Uint8Array[]>;

/**
 * {@link concatData} without copying fixed-width values (Int, Float, and the values of a
 * FixedSizeList of them): the returned column has the right type, length, nulls and validity, but
 * its values are a view of a stand-in buffer, and `pieces` maps that buffer to the chunks' own
 * value bytes, in order. A writer that emits the stand-in's bytes (the Arrow IPC writer emits a
 * column's values as one view) writes the pieces instead; the bytes are then exactly those of
 * `concatData`. The column is only valid for such writing, and only until the next call: the
 * stand-ins are shared. Other types are concatenated as {@link concatData} does.
 */
export function concatDataDeferred(type: ArrowType, chunks: readonly Data[], pieces: DeferredPieces): Data {
  if (chunks.length === 1) return chunks[0]!;
  switch (type.typeId) {
    case Type.Int:
    case Type.Float: {
      let total = 0;
      for (const c of chunks) total += c.length;
      const first = chunks[0]?.values as FixedArray | undefined;
      const Ctor = (first?.constructor ?? (type as unknown as { ArrayType: FixedArrayCtor }).ArrayType) as FixedArrayCtor & { BYTES_PER_ELEMENT: number };
      const bytes = total * Ctor.BYTES_PER_ELEMENT;
      const index = pieces.size;
      if (standIns[index] === undefined || standIns[index].byteLength < bytes) standIns[index] = new ArrayBuffer(Math.max(bytes, 1));
      const standIn = standIns[index];
      const views: Uint8Array[] = [];
      for (const c of chunks) {
        const v = (c.values as FixedArray).subarray(0, c.length);
        if (v.byteLength > 0) views.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      pieces.set(standIn, views);
      const { bitmap, nullCount } = concatValidity(chunks, total);
      const values = new (Ctor as unknown as new (b: ArrayBuffer, o: number, n: number) => FixedArray)(standIn, 0, total);
      return makeData({ type, length: total, nullCount, nullBitmap: bitmap, data: values } as never);
    }
    case Type.FixedSizeList: {
      let total = 0;
      for (const c of chunks) total += c.length;
      const { bitmap, nullCount } = concatValidity(chunks, total);
      const childType = type.children[0]!.type;
      const stride = (type as unknown as { listSize: number }).listSize;
      const children = chunks.map((c) => {
        const child = c.children[0]!;
        return child.length === c.length * stride ? child : child.slice(0, c.length * stride);
      });
      return makeData({ type, length: total, nullCount, nullBitmap: bitmap, child: concatDataDeferred(childType, children, pieces) } as never);
    }
    default:
      return concatData(type, chunks);
  }
}