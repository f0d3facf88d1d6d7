/**
 * `tidal insert`, `segment flush|list|describe`, `channel list`, `node list` and `binlog inspect`
 * of the real binary against a real master process and a real DataNode process on the harness's
 * etcd, Kafka and S3: the generated rows reach binlogs, and the CLI shows them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../src/storage/s3/s3-object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { cleanupNamespace, killAllMasterProcesses, masterEnv, masterNamespace, spawnMaster, type MasterProcess } from '../integration/helpers/master.js';
import { ServerProcess, oneLineError, runJson, runTidal } from './helpers/cli.js';

const ns = masterNamespace('cli-ins');
const bucket = uniqueName('cli-ins');
let master: MasterProcess;
let datanode: ServerProcess;
let env: Record<string, string>;
let m: string[];

interface SegmentJson {
  segmentId: string;
  state: string;
  numRows: string;
  insertLogs?: { logPath: string; entriesNum: string }[];
}

beforeAll(async () => {
  const ep = await endpoints();
  env = await masterEnv(ns, {
    TIDAL_MASTER_SEGMENT_ALLOCATION_EXPIRE_MS: '500',
    TIDAL_MASTER_TIME_TICK_INTERVAL_MS: '100',
    TIDAL_DATANODE_HOST: '127.0.0.1',
    TIDAL_DATANODE_PORT: '0',
    TIDAL_DATANODE_SESSION_TTL_MS: '2000',
    TIDAL_STORAGE_BACKEND: 's3',
    TIDAL_S3_ENDPOINT: ep.s3.endpoint,
    TIDAL_S3_REGION: ep.s3.region,
    TIDAL_S3_ACCESS_KEY_ID: ep.s3.accessKeyId,
    TIDAL_S3_SECRET_ACCESS_KEY: ep.s3.secretAccessKey,
    TIDAL_S3_BUCKET: bucket,
    TIDAL_S3_ROOT_PATH: 'files',
  });
  master = await spawnMaster(ns, env);
  datanode = await ServerProcess.spawn(['datanode'], env);
  m = ['--master', master.address];
  const deadline = Date.now() + 30_000;
  while ((await runTidal(['collection', 'list', ...m], env)).code !== 0) {
    if (Date.now() > deadline) throw new Error(`master did not serve:\n${master.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await runJson(['collection', 'create', 'vecs', ...m, '--pk', 'id:int64', '--vector', 'v:float32:16', '--field', 'tag:varchar:16', '--shards', '2'], env);
});

afterAll(async () => {
  await datanode?.kill();
  await killAllMasterProcesses();
  await cleanupNamespace(ns);
  const ep = await endpoints();
  const store = new S3ObjectStore({ ...ep.s3, bucket, rootPath: 'files', forcePathStyle: true });
  await store.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
  await store.close();
});

describe('tidal insert', () => {
  it('cli - inserts generated rows; flush and segment list show exactly those rows in flushed segments', async () => {
    const summary = await runJson<{ collection: string; rows: number; bytes: number; rowsPerSec: number; mbPerSec: number; elapsedMs: number }>(
      ['insert', '--collection', 'vecs', '--rows', '3000', '--dim', '16', '--batch', '700', ...m],
      env,
    );
    expect(summary).toMatchObject({ collection: 'vecs', rows: 3000 });
    expect(summary.bytes).toBeGreaterThanOrEqual(3000 * (8 + 16 * 4));
    expect(summary.rowsPerSec).toBeGreaterThan(0);

    const table = await runTidal(['insert', '--collection', 'vecs', '--rows', '500', '--dim', '16', '--pk', 'random', ...m], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^inserted 500 rows into "vecs" in [0-9.]+ s: [0-9]+ rows\/s, [0-9.]+ MB\/s\n$/);
    // Not a terminal: no progress bar on stderr.
    expect(table.stderr).toBe('');

    const flush = await runJson<{ flushedNow: string[] }>(['segment', 'flush', 'vecs', ...m], env);
    expect(flush.flushedNow.length).toBeGreaterThanOrEqual(1);
    const segs = await runJson<SegmentJson[]>(['segment', 'list', 'vecs', '--binlogs', ...m], env);
    expect(segs.every((s) => s.state === 'Flushed')).toBe(true);
    expect(segs.reduce((n, s) => n + Number(s.numRows), 0)).toBe(3500);
    const logged = segs.flatMap((s) => s.insertLogs ?? []).reduce((n, b) => n + Number(b.entriesNum), 0);
    expect(logged).toBe(3500);
  });

  it('cli - segment describe and binlog inspect read a flushed insert log from S3', async () => {
    const segs = await runJson<SegmentJson[]>(['segment', 'list', 'vecs', ...m], env);
    const seg = await runJson<SegmentJson>(['segment', 'describe', segs[0]!.segmentId, ...m], env);
    expect(seg.segmentId).toBe(segs[0]!.segmentId);
    const log = seg.insertLogs![0]!;
    const inspected = await runJson<{ meta: { kind: string; segmentId: string; rowCount: number }; schema: { name: string; type: string }[]; numRows: number; rows: Record<string, unknown>[] }>(
      ['binlog', 'inspect', log.logPath, '--rows', '3'],
      env,
    );
    expect(inspected.meta).toMatchObject({ kind: 'insert_log', segmentId: seg.segmentId, rowCount: Number(log.entriesNum) });
    expect(inspected.schema.map((c) => c.name)).toEqual(['RowID', 'Timestamp', 'id', 'v', 'tag']);
    expect(inspected.numRows).toBe(Number(log.entriesNum));
    expect(inspected.rows).toHaveLength(3);
    for (const r of inspected.rows) {
      expect(r.v as number[]).toHaveLength(16);
      expect(r.tag).toMatch(/^row-[0-9]+$/);
    }
    const table = await runTidal(['binlog', 'inspect', log.logPath], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/… \(16\)/);
  });

  it('cli - channel list and node list show the DataNode owning both vchannels', async () => {
    const channels = await runJson<{ vchannel: string; nodeId: string; checkpointStored: boolean; lagMessages: string }[]>(['channel', 'list', '--collection', 'vecs', ...m], env);
    expect(channels).toHaveLength(2);
    for (const c of channels) expect(c).toMatchObject({ nodeId: datanode.serverId.toString(), checkpointStored: true });
    const nodes = await runJson<{ nodeId: string; role: string; channels: string[] }[]>(['node', 'list', '--role', 'datanode', ...m], env);
    expect(nodes).toEqual([expect.objectContaining({ nodeId: datanode.serverId.toString(), role: 'datanode', channels: channels.map((c) => c.vchannel).sort() })]);
  });

  it('cli - insert rejects an unknown collection, a dim that does not fit and bad numbers, in one line', async () => {
    const unknown = await runTidal(['insert', '--collection', 'no_such', '--rows', '10', '--dim', '16', ...m], env);
    expect(oneLineError(unknown)).toBe('tidal: collection "no_such" not found');
    expect(unknown.code).toBe(1);
    expect(oneLineError(await runTidal(['insert', '--collection', 'vecs', '--rows', '10', '--dim', '8', ...m], env))).toBe(
      'tidal: --dim 8 does not match collection "vecs": its vector field "v" has dim 16',
    );
    expect(oneLineError(await runTidal(['insert', '--collection', 'vecs', '--rows', '0', '--dim', '16', ...m], env))).toBe(
      'tidal: --rows must be an integer from 1 to 1000000000, got "0"',
    );
    expect(oneLineError(await runTidal(['insert', '--collection', 'vecs', '--dim', '16', ...m], env))).toBe("tidal: required option '--rows <n>' not specified (see --help)");
    expect(oneLineError(await runTidal(['insert', '--collection', 'vecs', '--rows', '10', '--dim', '16', '--partition', 'nope', ...m], env))).toMatch(/^tidal: .*nope/);
  });
});
