// Binlog object keys and log ids: the layout of DESIGN.md, parsing back, and the replay property
// (a re-run sync of the same range writes the same keys, so the object is overwritten).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildInsertBatch } from '../../../../src/common/arrow/index.js';
import { ErrorCode } from '../../../../src/common/errors.js';
import { LocalObjectStore } from '../../../../src/storage/index.js';
import {
  BinlogKind,
  binlogEntry,
  binlogPrefix,
  deltaLogPath,
  deriveLogId,
  insertLogPath,
  parseBinlogPath,
  statsLogPath,
  writeInsertLog,
} from '../../../../src/storage/binlog/index.js';
import { ALL_TYPES_SCHEMA, CHUNK_A, ROW_IDS_A, SCOPE, TIMESTAMPS_A } from '../../../fixtures/binlog/fixture-data.js';
import { expectTidalError } from './helpers.js';

describe('binlog paths', () => {
  it('binlog paths - follow {root}/{kind}/{collection}/{partition}/{segment}/{logID}.{ext}', () => {
    expect(insertLogPath('', 1n, 2n, 3n, 44n)).toBe('insert_log/1/2/3/44.arrow');
    expect(insertLogPath('files', 1, 2, 3, 0)).toBe('files/insert_log/1/2/3/0.arrow');
    expect(deltaLogPath('/a/b/', 449n, 450n, 451n, 9_223_372_036_854_775_807n)).toBe('a/b/delta_log/449/450/451/9223372036854775807.arrow');
    expect(statsLogPath('root', 1n, 2n, 3n, 44n)).toBe('root/stats_log/1/2/3/44.json');
  });

  it('binlog paths - parse back to the ids and root that made them', () => {
    for (const [kind, make] of [
      [BinlogKind.Insert, insertLogPath],
      [BinlogKind.Delta, deltaLogPath],
      [BinlogKind.Stats, statsLogPath],
    ] as const) {
      for (const root of ['', 'files', 'a/b/c']) {
        const p = make(root, 449_123_456_789n, 0n, 7n, 9_223_372_036_854_775_807n);
        expect(parseBinlogPath(p)).toEqual({ kind, root, collectionId: 449_123_456_789n, partitionId: 0n, segmentId: 7n, logId: 9_223_372_036_854_775_807n });
      }
    }
  });

  it('binlog paths - parsing names what is wrong with a path that is not a binlog key', () => {
    expectTidalError(() => parseBinlogPath('insert_log/1/2/3.arrow'), ErrorCode.InvalidArgument, /too few segments/);
    expectTidalError(() => parseBinlogPath('x/1/2/3/4.arrow'), ErrorCode.InvalidArgument, /unknown kind "x"/);
    expectTidalError(() => parseBinlogPath('stats_log/1/2/3/4.arrow'), ErrorCode.InvalidArgument, /a stats_log file ends in \.json/);
    expectTidalError(() => parseBinlogPath('insert_log/1/02/3/4.arrow'), ErrorCode.InvalidArgument, /"02" is not a decimal id/);
    expectTidalError(() => parseBinlogPath('insert_log/1/-2/3/4.arrow'), ErrorCode.InvalidArgument, /"-2" is not a decimal id/);
    expectTidalError(() => parseBinlogPath('insert_log/1/2/3/9223372036854775808.arrow'), ErrorCode.InvalidArgument, /above 2\^63-1/);
  });

  it('binlog paths - reject ids that are negative, fractional or above int64', () => {
    expectTidalError(() => insertLogPath('', -1n, 2n, 3n, 4n), ErrorCode.InvalidArgument, /collectionId must be an integer from 0 to 2\^63-1, got -1/);
    expectTidalError(() => insertLogPath('', 1n, 2.5, 3n, 4n), ErrorCode.InvalidArgument, /partitionId must be an integer/);
    expectTidalError(() => insertLogPath('', 1n, 2n, 3n, 1n << 63n), ErrorCode.InvalidArgument, /logId must be an integer/);
    expectTidalError(() => insertLogPath('a//b', 1n, 2n, 3n, 4n), ErrorCode.InvalidArgument, /not empty, '\.' or '\.\.'/);
  });

  it('binlog paths - prefixes end at an id boundary so collection 1 does not list collection 10', () => {
    expect(binlogPrefix(BinlogKind.Insert, '')).toBe('insert_log/');
    expect(binlogPrefix(BinlogKind.Insert, 'r', 1n)).toBe('r/insert_log/1/');
    expect(binlogPrefix(BinlogKind.Delta, 'r', 1n, 2n, 3n)).toBe('r/delta_log/1/2/3/');
    expect(insertLogPath('r', 10n, 2n, 3n, 4n).startsWith(binlogPrefix(BinlogKind.Insert, 'r', 1n))).toBe(false);
  });
});

describe('log ids', () => {
  it('log ids - are the start offset: equal for equal positions, ordered with the stream', () => {
    const at = (msgId: bigint) => ({ channelName: 'tidal-dml_3', msgId, timestamp: 449_000_000_000_000_000n + msgId });
    expect(deriveLogId(at(0n))).toBe(0n);
    expect(deriveLogId(at(12_345n))).toBe(12_345n);
    expect(deriveLogId(at(12_345n))).toBe(deriveLogId({ ...at(12_345n) }));
    const ids = [5n, 100n, 7n, 99_999_999_999n].map((o) => deriveLogId(at(o)));
    const keys = ids.map((id) => insertLogPath('', 1n, 2n, 3n, id));
    // numeric order of the log ids is stream order
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual([5n, 7n, 100n, 99_999_999_999n]);
    expect(new Set(keys).size).toBe(4);
  });

  it('log ids - need a start position with a channel and an offset in 0..2^63-1', () => {
    expectTidalError(() => deriveLogId(undefined), ErrorCode.InvalidArgument, /start position is required/);
    expectTidalError(() => deriveLogId({ channelName: '', msgId: 1n, timestamp: 0n }), ErrorCode.InvalidArgument, /no channel name/);
    expectTidalError(() => deriveLogId({ channelName: 'c', msgId: -1n, timestamp: 0n }), ErrorCode.InvalidArgument, /msgId must be an integer/);
  });

  it('log ids - a replayed sync of the same range overwrites its object instead of adding one', async () => {
    const rootDir = await mkdtemp(path.join(tmpdir(), 'tidal-binlog-'));
    const store = new LocalObjectStore({ rootDir });
    try {
      const sync = () => {
        // What a DataNode does for one sync; a crash before SaveBinlogPaths makes it run again.
        const log = writeInsertLog(ALL_TYPES_SCHEMA, [{ batch: buildInsertBatch(CHUNK_A, ALL_TYPES_SCHEMA), timestamps: TIMESTAMPS_A, rowIds: ROW_IDS_A }], SCOPE);
        const key = insertLogPath('', SCOPE.collectionId, SCOPE.partitionId, SCOPE.segmentId, deriveLogId(SCOPE.startPosition));
        return { log, key };
      };
      const first = sync();
      await store.put(first.key, first.log.bytes);
      const replay = sync();
      await store.put(replay.key, replay.log.bytes);
      expect(replay.key).toBe(first.key);
      const listed = (await store.list('insert_log/')).objects.map((o) => o.key);
      expect(listed).toEqual(['insert_log/11/22/33/17.arrow']);
      expect(Buffer.from(await store.get(first.key)).equals(Buffer.from(first.log.bytes))).toBe(true);
      const entry = binlogEntry(first.key, first.log);
      expect(entry).toEqual({
        logId: 17n,
        logPath: 'insert_log/11/22/33/17.arrow',
        entriesNum: 3n,
        timestampFrom: TIMESTAMPS_A[0],
        timestampTo: TIMESTAMPS_A[2],
        logSize: BigInt(first.log.bytes.byteLength),
        schemaVersion: 2,
        startPosition: SCOPE.startPosition,
        endPosition: SCOPE.endPosition,
      });
      expectTidalError(() => binlogEntry('delta_log/11/22/33/17.arrow', first.log), ErrorCode.InvalidArgument, /is a delta_log path; the binlog is of kind insert_log/);
    } finally {
      await store.close();
      await rm(rootDir, { recursive: true, force: true });
    }
  });
});
