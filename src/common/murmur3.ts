/**
 * MurmurHash3 x86_32 (Austin Appleby's reference `MurmurHash3_x86_32`), over bytes and, without
 * building bytes, over an int64 given as its two little-endian 32-bit words. Pure 32-bit integer
 * arithmetic (`Math.imul`), no allocation.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of `bytes[start, end)` with `seed`, as an unsigned 32-bit number. */
export function murmur3(bytes: Uint8Array, seed: number, start = 0, end = bytes.length): number {
  let h = seed | 0;
  const length = end - start;
  const blocksEnd = start + (length & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) {
    h = mixH(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  let k = 0;
  switch (length & 3) {
    case 3:
      k ^= bytes[i + 2]! << 16;
    // falls through
    case 2:
      k ^= bytes[i + 1]! << 8;
    // falls through
    case 1:
      k ^= bytes[i]!;
      h ^= mixK(k);
  }
  return fmix(h, length);
}

/**
 * MurmurHash3 x86_32 of the 8 little-endian bytes of an int64 whose low and high 32-bit words are
 * `lo` and `hi` (equal to `murmur3` over those bytes), with `seed`.
 */
export function murmur3Int64(lo: number, hi: number, seed: number): number {
  return fmix(mixH(mixH(seed | 0, lo | 0), hi | 0), 8);
}
