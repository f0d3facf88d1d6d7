// Delta logs: the deletes of one sync as an Arrow IPC file of (pk, ts), Int64 or VarChar keys.
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { buildInsertBatch } from '../../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../../src/common/errors.js';
import { readDeltaLog, writeDeltaLog, writeInsertLog } from '../../../../src/storage/binlog/index.js';
import { ALL_TYPES_SCHEMA, CHUNK_A, ROW_IDS_A, SCOPE, TIMESTAMPS_A, VARCHAR_PK_SCHEMA } from '../../../fixtures/binlog/fixture-data.js';
import { expectTidalError } from './helpers.js';

describe('delta log', () => {
  it('delta log - Int64 keys from several Delete messages read back in order with their timestamps', () => {
    const chunks = [
      { pks: [10n, -20n, 30n], timestamps: [100n, 90n, 110n] }, // as DeleteMsg carries them (bigint[])
      { pks: new BigInt64Array([9_223_372_036_854_775_807n]), timestamps: new BigUint64Array([18_446_744_073_709_551_615n]) },
    ];
    const { bytes, meta } = writeDeltaLog(ALL_TYPES_SCHEMA, chunks, SCOPE);
    expect(meta).toEqual({ ...SCOPE, kind: 'delta_log', schemaVersion: 2, rowCount: 4, timestampFrom: 90n, timestampTo: 18_446_744_073_709_551_615n });
    const plain = tableFromIPC(bytes);
    expect(plain.schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.metadata.get('field_id')}`)).toEqual(['pk:Int64:100', 'ts:Uint64:1']);
    expect([...(plain.getChild('pk')!.toArray() as BigInt64Array)]).toEqual([10n, -20n, 30n, 9_223_372_036_854_775_807n]);
    expect([...(plain.getChild('ts')!.toArray() as BigUint64Array)]).toEqual([100n, 90n, 110n, 18_446_744_073_709_551_615n]);
    const back = readDeltaLog(bytes, ALL_TYPES_SCHEMA);
    expect(back.meta).toEqual(meta);
    expect(back.table.numRows).toBe(4);
  });

  it('delta log - VarChar keys round-trip', () => {
    const { bytes } = writeDeltaLog(VARCHAR_PK_SCHEMA, [{ pks: ['a', ''], timestamps: [1n, 2n] }, { pks: ['ключ'], timestamps: [3n] }], SCOPE);
    const { table, meta } = readDeltaLog(bytes, VARCHAR_PK_SCHEMA);
    expect(table.getChild('pk')!.toArray()).toEqual(['a', '', 'ключ']);
    expect([...(table.getChild('ts')!.toArray() as BigUint64Array)]).toEqual([1n, 2n, 3n]);
    expect(meta.rowCount).toBe(3);
  });

  it('delta log - writing rejects keys of the wrong type, too long, mismatched counts and no deletes', () => {
    expectTidalError(() => writeDeltaLog(ALL_TYPES_SCHEMA, [{ pks: ['a'], timestamps: [1n] }], SCOPE), ErrorCode.InvalidArgument, /row 0 of field "pk": expected an Int64/);
    expectTidalError(() => writeDeltaLog(VARCHAR_PK_SCHEMA, [{ pks: [1n], timestamps: [1n] }], SCOPE), ErrorCode.InvalidArgument, /row 0 of field "pk": expected a string, got bigint 1/);
    expectTidalError(() => writeDeltaLog(VARCHAR_PK_SCHEMA, [{ pks: ['123456789'], timestamps: [1n] }], SCOPE), ErrorCode.InvalidArgument, /is 9 UTF-8 bytes long, above max_length 8/);
    expectTidalError(() => writeDeltaLog(ALL_TYPES_SCHEMA, [{ pks: [1n, 2n], timestamps: [1n] }], SCOPE), ErrorCode.InvalidArgument, /delta chunk 0 has 2 keys but 1 timestamps/);
    expectTidalError(() => writeDeltaLog(ALL_TYPES_SCHEMA, [{ pks: [], timestamps: [] }], SCOPE), ErrorCode.InvalidArgument, /at least one delete/);
  });

  it('delta log - reading rejects an insert log, a key type other than the primary key and garbage', () => {
    const ints = writeDeltaLog(ALL_TYPES_SCHEMA, [{ pks: [1n], timestamps: [1n] }], SCOPE).bytes;
    expectTidalError(() => readDeltaLog(ints, VARCHAR_PK_SCHEMA), ErrorCode.Corrupted, /delta log keys are Int64; primary key "id" is VarChar/);
    const insert = writeInsertLog(ALL_TYPES_SCHEMA, [{ batch: buildInsertBatch(CHUNK_A, ALL_TYPES_SCHEMA), timestamps: TIMESTAMPS_A, rowIds: ROW_IDS_A }], SCOPE).bytes;
    expectTidalError(() => readDeltaLog(insert), ErrorCode.Corrupted, /expected a binlog of kind delta_log; the file says insert_log/);
    expectTidalError(() => readDeltaLog(new Uint8Array(16)), ErrorCode.Corrupted, /delta log/);
  });
});
