import { describe, expect, it } from 'vitest';
import { buildColumn } from '../../../src/common/arrow/index.js';
import { DataType } from '../../../src/gen/schema.js';
import { groupByShard, hashInt64Pk, hashVarCharPk, murmur3Bytes, shardOfPk, shardsOfPkColumn } from '../../../src/proxy/pk-hash.js';
import { field } from './helpers.js';

function le64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(v);
  return b;
}

describe('pk-hash', () => {
  it('pk-hash - matches the reference MurmurHash3 x86_32 (seed 0) values', () => {
    expect(murmur3Bytes(Buffer.alloc(0))).toBe(0);
    expect(hashVarCharPk('hello')).toBe(0x248bfa47);
    expect(hashVarCharPk('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('pk-hash - hashes an Int64 key over its 8 little-endian bytes (fixed values)', () => {
    expect(hashInt64Pk(1n)).toBe(1392991556);
    expect(hashInt64Pk(-1n)).toBe(1651860712);
    for (const v of [0n, 1n, -1n, 42n, 1234567890123n, -(2n ** 63n), 2n ** 63n - 1n]) expect(hashInt64Pk(v)).toBe(murmur3Bytes(le64(v)));
  });

  it('pk-hash - hashes a VarChar key over its UTF-8 bytes', () => {
    for (const s of ['', 'a', 'héllo', '日本語のキー', 'x'.repeat(1000)]) expect(hashVarCharPk(s)).toBe(murmur3Bytes(Buffer.from(s, 'utf8')));
  });

  it('pk-hash - the column path gives the same shard as the per-key path, for both key types', () => {
    const ints = Array.from({ length: 2000 }, (_, i) => BigInt(i * 7919) - 5000n);
    const intCol = buildColumn(field({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true }), new BigInt64Array(ints), ints.length);
    const strs = ints.map((v) => `key-${v}-é`);
    const strCol = buildColumn(field({ name: 'id', dataType: DataType.VarChar, isPrimaryKey: true, maxLength: 64 }), strs, strs.length);
    for (const shards of [1, 2, 3, 16]) {
      expect(Array.from(shardsOfPkColumn(intCol, shards))).toEqual(ints.map((v) => shardOfPk(v, shards)));
      expect(Array.from(shardsOfPkColumn(strCol, shards))).toEqual(strs.map((v) => shardOfPk(v, shards)));
    }
  });

  it('pk-hash - spreads sequential keys evenly over shards', () => {
    const n = 100_000;
    const col = buildColumn(field({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true }), BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), n);
    const groups = groupByShard(shardsOfPkColumn(col, 4), 4);
    expect(groups.reduce((a, g) => a + g.length, 0)).toBe(n);
    for (const g of groups) {
      expect(g.length).toBeGreaterThan(n / 4 - 1000);
      expect(g.length).toBeLessThan(n / 4 + 1000);
      // Row order is kept inside each group.
      expect(g.every((r, i) => i === 0 || r > g[i - 1]!)).toBe(true);
    }
  });
});
