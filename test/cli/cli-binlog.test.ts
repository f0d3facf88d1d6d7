/**
 * `tidal binlog inspect` of the real binary on the committed binlog fixtures, through the local
 * object store (TIDAL_STORAGE_BACKEND=local, TIDAL_STORAGE_LOCAL_DIR=test/fixtures/binlog). A
 * flushed binlog on S3 is inspected in cli-insert.test.ts.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../integration/helpers/master.js';
import { oneLineError, runJson, runTidal } from './helpers/cli.js';

const env = { TIDAL_STORAGE_BACKEND: 'local', TIDAL_STORAGE_LOCAL_DIR: resolve(REPO_ROOT, 'test/fixtures/binlog') };

interface Inspected {
  key: string;
  sizeBytes: number;
  meta: Record<string, unknown>;
  schema?: { name: string; type: string; nullable: boolean; fieldId: string }[];
  numRows?: number;
  rows?: Record<string, unknown>[];
  primaryKey?: Record<string, unknown>;
}

describe('tidal binlog inspect', () => {
  it('cli - prints an insert log\'s metadata, Arrow schema and first rows as JSON', async () => {
    const out = await runJson<Inspected>(['binlog', 'inspect', 'insert-log.arrow', '--rows', '2'], env);
    expect(out.key).toBe('insert-log.arrow');
    expect(out.sizeBytes).toBe(2674);
    expect(out.meta).toEqual({
      kind: 'insert_log',
      collectionId: '11',
      partitionId: '22',
      segmentId: '33',
      schemaVersion: 2,
      rowCount: 5,
      timestampFrom: '449000000000000000',
      timestampTo: '449000000000262144',
      timeFrom: '2024-04-11T01:31:12.265Z',
      timeTo: '2024-04-11T01:31:12.266Z',
      startPosition: { channelName: 'tidal-dml_0', msgId: '17', timestamp: '449000000000000002' },
      endPosition: { channelName: 'tidal-dml_0', msgId: '18', timestamp: '449000000000262144' },
    });
    expect(out.schema!.map((c) => [c.name, c.type, c.fieldId])).toEqual([
      ['RowID', 'Int64', '0'],
      ['Timestamp', 'Uint64', '1'],
      ['pk', 'Int64', '100'],
      ['title', 'Utf8', '101'],
      ['flag', 'Bool', '102'],
      ['score', 'Float32', '103'],
      ['weight', 'Float64', '104'],
      ['vec', 'FixedSizeList[4]<Float32>', '105'],
    ]);
    expect(out.numRows).toBe(5);
    expect(out.rows).toEqual([
      { RowID: '1000', Timestamp: '449000000000000000', pk: '-9223372036854775808', title: 'héllo', flag: true, score: 1.5, weight: 1.25, vec: [0, 1, 2, 3] },
      { RowID: '1001', Timestamp: '449000000000000001', pk: '0', title: '', flag: null, score: -0.25, weight: 0.5, vec: [0.5, -0.5, 0.0010000000474974513, 1000] },
    ]);
  });

  it('cli - prints tables by default, vectors abbreviated', async () => {
    const res = await runTidal(['binlog', 'inspect', 'insert-log.arrow'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('insert-log.arrow (2674 bytes)');
    expect(res.stdout).toContain('FixedSizeList[4]<Float32>');
    expect(res.stdout).toContain('first 5 of 5 rows');
    expect(res.stdout).toContain('[0.5, -0.5, 0.001, 1000]');
  });

  it('cli - reads a delta log and a stats log', async () => {
    const delta = await runJson<Inspected>(['binlog', 'inspect', 'delta-log-int64.arrow'], env);
    expect(delta.meta).toMatchObject({ kind: 'delta_log', segmentId: '33', rowCount: 3 });
    expect(delta.rows).toHaveLength(3);
    const stats = await runJson<Inspected>(['binlog', 'inspect', 'stats-log.json'], env);
    expect(stats.meta).toMatchObject({ kind: 'stats_log', rowCount: 5 });
    expect(stats.primaryKey).toMatchObject({ name: 'pk', fieldId: '100', rowCount: 5, min: '-9223372036854775808', max: '9223372036854775807' });
  });

  it('cli - a missing key, a file that is not a binlog and a bad --rows are one-line errors', async () => {
    const missing = await runTidal(['binlog', 'inspect', 'insert_log/1/2/3/4.arrow'], env);
    expect(oneLineError(missing)).toBe(`tidal: no object "insert_log/1/2/3/4.arrow" in the local object store: directory ${env.TIDAL_STORAGE_LOCAL_DIR}`);
    expect(missing.code).toBe(1);
    // An Arrow IPC stream (an Insert message's batch), not a binlog file.
    expect(oneLineError(await runTidal(['binlog', 'inspect', 'insert-batch.arrow'], env))).toBe(
      'tidal: insert-batch.arrow is not a Tidal binlog: neither an Arrow IPC file nor a JSON stats log',
    );
    expect(oneLineError(await runTidal(['binlog', 'inspect', 'fixture-data.ts'], env))).toBe('tidal: fixture-data.ts is not a Tidal binlog: neither an Arrow IPC file nor a JSON stats log');
    expect(oneLineError(await runTidal(['binlog', 'inspect', 'insert-log.arrow', '--rows', 'many'], env))).toBe('tidal: --rows must be an integer from 0 to 100000, got "many"');
    expect(oneLineError(await runTidal(['binlog', 'inspect', '/etc/passwd'], env))).toBe(
      'tidal: the key must be relative to the object store root (as tidal segment describe lists it), got "/etc/passwd"',
    );
  });
});
