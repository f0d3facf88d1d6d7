import { describe, expect, it } from 'vitest';
import { buildInsertBatch, decodeInsertBatch, encodeInsertBatch } from '../../../src/common/arrow/index.js';
import { DataType, type CollectionSchema } from '../../../src/gen/schema.js';
import { takeRows } from '../../../src/proxy/row-take.js';
import { field } from './helpers.js';

const schema: CollectionSchema = {
  name: 'take',
  description: '',
  autoId: false,
  version: 0,
  fields: [
    field({ fieldId: 100n, name: 'id', dataType: DataType.Int64, isPrimaryKey: true }),
    field({ fieldId: 101n, name: 'title', dataType: DataType.VarChar, maxLength: 32, nullable: true }),
    field({ fieldId: 102n, name: 'flag', dataType: DataType.Bool }),
    field({ fieldId: 103n, name: 'score', dataType: DataType.Float, nullable: true }),
    field({ fieldId: 104n, name: 'weight', dataType: DataType.Double }),
    field({ fieldId: 105n, name: 'vec', dataType: DataType.FloatVector, dim: 3 }),
  ],
};

const N = 37;
const rows = Array.from({ length: N }, (_, i) => ({
  id: BigInt(1000 + i),
  title: i % 5 === 0 ? null : `t${i}-${'é'.repeat(i % 4)}`,
  flag: i % 3 === 0,
  score: i % 7 === 0 ? null : i / 2,
  weight: i * 1.25,
  vec: [i, i + 0.5, -i],
}));

function plain(batch: ReturnType<typeof decodeInsertBatch>) {
  return batch.toArray().map((r) => {
    const o = r.toJSON() as Record<string, unknown>;
    return { ...o, vec: Array.from(o.vec as Iterable<number>) };
  });
}

describe('row-take', () => {
  it('row-take - gathers chosen rows of every column type, nulls included, and the result encodes and decodes', () => {
    const batch = buildInsertBatch(
      {
        id: rows.map((r) => r.id),
        title: rows.map((r) => r.title),
        flag: rows.map((r) => r.flag),
        score: rows.map((r) => r.score),
        weight: rows.map((r) => r.weight),
        vec: rows.map((r) => r.vec),
      },
      schema,
    );
    const all = plain(batch);
    for (const pick of [[0], [5, 10, 15], [36, 0, 7, 1], Array.from({ length: N }, (_, i) => i), [2, 3, 4, 5, 6, 20, 21]]) {
      const taken = takeRows(batch, schema, Int32Array.from(pick));
      expect(taken.numRows).toBe(pick.length);
      const roundTrip = decodeInsertBatch(encodeInsertBatch(taken, schema), schema, pick.length);
      expect(plain(roundTrip)).toEqual(pick.map((i) => all[i]));
    }
  });

  it('row-take - gathers from a sliced batch', () => {
    const batch = buildInsertBatch({ id: rows.map((r) => r.id), flag: rows.map((r) => r.flag), weight: rows.map((r) => r.weight), vec: rows.map((r) => r.vec), title: rows.map((r) => r.title), score: rows.map((r) => r.score) }, schema);
    const sliced = batch.slice(9, 30);
    const taken = takeRows(sliced, schema, Int32Array.from([0, 3, 20]));
    expect(plain(decodeInsertBatch(encodeInsertBatch(taken, schema), schema))).toEqual([9, 12, 29].map((i) => plain(batch)[i]));
  });
});
