/**
 * bench/standalone: `tidal standalone` on its embedded defaults (embedded KV, embedded log, local
 * object store, all under one data directory).
 *
 *   1. Start-up: `node bin/tidal.js standalone --data-dir <fresh dir> -p 0` from spawn to its
 *      listening line (master serving as leader, DataNode registered), `--starts` times on fresh
 *      directories, and once more on the directory of step 2 after its data is in (recovery).
 *   2. Insert: a TidalClient in this process (the proxy) inserts `--rows` rows of
 *      {pk Int64, vec FloatVector[dim]} into a 2-shard collection, `--batch` rows per insert call,
 *      `--concurrency` calls in flight; rows/s and MB/s (pk + vector bytes) from the first call to
 *      the last acknowledgement, then Flush (every row in a binlog, in meta). Peak RSS (VmHWM) of
 *      the standalone process and of this process, and the standalone's peak anonymous RSS
 *      (VmHWM includes the pages of the log's memory map, which the kernel can drop).
 *   3. Baseline, same run: the same bytes appended straight to an embedded log of its own (one
 *      LmdbMsgStream, records of the size the proxy produced, same concurrency), the upper bound
 *      of what the proxy can do. ratio = insert MB/s ÷ raw append MB/s.
 *
 * Prints a table and writes bench/results/standalone.json. Run:
 *   npx tsx bench/standalone/standalone-bench.ts [--rows 1000000] [--dim 128] [--batch 10000] [--concurrency 2] [--starts 3] [--cpu-prof DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/common/config.js';
import { DataType } from '../../src/gen/schema.js';
import { createMsgStream } from '../../src/mq/create.js';
import type { MsgStream, Position } from '../../src/mq/msg-stream.js';
import { TidalClient } from '../../src/proxy/index.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { STANDALONE_LISTENING, TidalProcess } from '../../test/e2e/helpers/tidal-process.js';

const MB = 1e6;
const HERE = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    dim: { type: 'string', default: '128' },
    batch: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '2' },
    starts: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write('Usage: npx tsx bench/standalone/standalone-bench.ts [--rows 1000000] [--dim 128] [--batch 10000] [--concurrency 2] [--starts 3] [--cpu-prof DIR]\n  --cpu-prof DIR: V8 CPU profile of the standalone of the insert run, into DIR (see bench/ingest/profile-summary.ts)\n');
  process.exit(0);
}
const positiveInt = (name: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return n;
};
const ROWS = positiveInt('rows', args.rows);
const DIM = positiveInt('dim', args.dim);
const BATCH = positiveInt('batch', args.batch);
const CONCURRENCY = positiveInt('concurrency', args.concurrency);
const STARTS = positiveInt('starts', args.starts);
const ROW_BYTES = 8 + DIM * 4;

/** The standalone's env: defaults, less logging. */
const ENV = { TIDAL_LOG_LEVEL: 'warn' };

/** Peak resident set (VmHWM) of `pid`, MB; undefined where /proc is missing. */
function peakRssMb(pid: number | 'self'): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : (Number(m[1]) * 1024) / MB;
  } catch {
    return undefined; // not Linux: no figure rather than a failed run
  }
}

/** Resident anonymous memory (RssAnon: heap, buffers; not the log's mapped file pages) of `pid`, MB. */
function rssAnonMb(pid: number): number | undefined {
  try {
    const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : (Number(m[1]) * 1024) / MB;
  } catch {
    return undefined; // the process is gone or there is no /proc
  }
}

async function spawnStandalone(dir: string, nodeArgs: string[] = []): Promise<TidalProcess> {
  return TidalProcess.spawn(['standalone', '--data-dir', dir, '-p', '0'], ENV, STANDALONE_LISTENING, 120_000, nodeArgs);
}

/** Runs `count` jobs, `concurrency` at a time. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- 1. start-up on fresh directories -----------------------------------------------------------
const root = await mkdtemp(join(tmpdir(), 'tidal-bench-standalone-'));
const freshStartsMs: number[] = [];
for (let i = 0; i < STARTS; i++) {
  const proc = await spawnStandalone(join(root, `fresh-${i}`));
  freshStartsMs.push(proc.readyMs);
  const exit = await proc.stop('SIGTERM');
  if (exit.code !== 0) throw new Error(`standalone exited with ${JSON.stringify(exit)} on SIGTERM:\n${proc.log.slice(-2000)}`);
}

// ---- 2. insert ----------------------------------------------------------------------------------
const dataDir = join(root, 'data');
const standalone = await spawnStandalone(dataDir, args['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`]);
const address = `127.0.0.1:${standalone.match![1]}`;
const clientConfig = loadConfig({ env: {}, overrides: { mq: { backend: 'embedded', localDir: join(dataDir, 'mq') } } });
const stream = createMsgStream(clientConfig);
const master = new MasterClient(address, { deadlineMs: 120_000 });
const client = await TidalClient.connect({ master: address, stream });
const created = await master.call('createCollection', {
  collectionName: 'bench',
  shardsNum: 2,
  schema: {
    name: 'bench',
    fields: [
      { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
      { name: 'vec', dataType: DataType.FloatVector, dim: DIM },
    ],
  },
});
const vec = new Float32Array(BATCH * DIM);
for (let i = 0; i < vec.length; i++) vec[i] = Math.sin(i);
const batches = Math.ceil(ROWS / BATCH);
const recordSizes: number[] = [];
// VmHWM counts the embedded log's memory-mapped file pages too (lmdb maps the log): sample the
// anonymous part (heap, Arrow buffers) every 100 ms for a peak that is the process's own.
let standalonePeakAnonMb = 0;
const sampler = setInterval(() => {
  standalonePeakAnonMb = Math.max(standalonePeakAnonMb, rssAnonMb(standalone.pid) ?? 0);
}, 100);
const insertStart = performance.now();
await pool(batches, CONCURRENCY, async (b) => {
  const n = Math.min(BATCH, ROWS - b * BATCH);
  const pk = new BigInt64Array(n);
  for (let i = 0; i < n; i++) pk[i] = BigInt(b * BATCH + i);
  const res = await client.insert('bench', { columns: { pk, vec: n === BATCH ? vec : vec.subarray(0, n * DIM) } });
  if (res.insertCount !== n) throw new Error(`insert ${b}: ${res.insertCount} rows acknowledged of ${n}`);
  recordSizes.push(res.positions.length);
});
const insertMs = performance.now() - insertStart;
await master.call('flush', { collectionId: created.collectionId });
const flushedMs = performance.now() - insertStart;
const segments = (await master.call('showSegments', { collectionId: created.collectionId })).segments;
const flushedRows = segments.reduce((a, s) => a + Number(s.numRows), 0);
if (flushedRows !== ROWS) throw new Error(`meta holds ${flushedRows} rows after Flush; inserted ${ROWS}`);
clearInterval(sampler);
const standalonePeakRssMb = peakRssMb(standalone.pid);
const clientPeakRssMb = peakRssMb('self');
const records = recordSizes.reduce((a, b) => a + b, 0);
await client.close();
master.close();
await stream.close();
const stopped = await standalone.stop('SIGTERM');
if (stopped.code !== 0) throw new Error(`standalone exited with ${JSON.stringify(stopped)} on SIGTERM`);

// Recovery start on the directory that now holds the data.
const again = await spawnStandalone(dataDir);
const restartMs = again.readyMs;
await again.stop('SIGTERM');

// ---- 3. baseline: raw appends to an embedded log of its own --------------------------------------
const rawStream: MsgStream = createMsgStream(loadConfig({ env: {}, overrides: { mq: { backend: 'embedded', localDir: join(root, 'raw-mq') } } }));
const totalBytes = ROWS * ROW_BYTES;
const recordBytes = Math.max(1, Math.min(rawStream.maxMessageBytes - 4096, Math.ceil(totalBytes / Math.max(1, records))));
const rawRecords = Math.ceil(totalBytes / recordBytes);
const payload = Buffer.alloc(recordBytes, 7);
await rawStream.createChannel('raw-0');
await rawStream.createChannel('raw-1');
const rawStart = performance.now();
let lastPos: Position | undefined;
await pool(rawRecords, CONCURRENCY, async (i) => {
  [lastPos] = await rawStream.produce(`raw-${i % 2}`, [{ payload }]);
});
const rawMs = performance.now() - rawStart;
await rawStream.close();
if (lastPos === undefined) throw new Error('no raw append acknowledged');
await rm(root, { recursive: true, force: true });

// ---- report -------------------------------------------------------------------------------------
const insertRowsPerS = ROWS / (insertMs / 1000);
const insertMbPerS = totalBytes / MB / (insertMs / 1000);
const rawMbPerS = totalBytes / MB / (rawMs / 1000);
const result = {
  rows: ROWS,
  dim: DIM,
  batch_rows: BATCH,
  concurrency: CONCURRENCY,
  payload_mb: totalBytes / MB,
  startup_fresh_ms: freshStartsMs.map(Math.round),
  startup_fresh_median_ms: Math.round(median(freshStartsMs)),
  startup_with_data_ms: Math.round(restartMs),
  insert_rows_per_s: Math.round(insertRowsPerS),
  insert_mb_per_s: Number(insertMbPerS.toFixed(1)),
  insert_to_flushed_rows_per_s: Math.round(ROWS / (flushedMs / 1000)),
  log_records: records,
  raw_append_mb_per_s: Number(rawMbPerS.toFixed(1)),
  ratio_insert_vs_raw_append: Number((insertMbPerS / rawMbPerS).toFixed(2)),
  standalone_peak_rss_mb: standalonePeakRssMb === undefined ? null : Math.round(standalonePeakRssMb),
  standalone_peak_rss_anon_mb: Math.round(standalonePeakAnonMb),
  client_peak_rss_mb: clientPeakRssMb === undefined ? null : Math.round(clientPeakRssMb),
  segments: segments.length,
  machine: { cpus: cpus().length, node: process.version },
};
const rows: Array<[string, string]> = [
  ['start-up, fresh dir (spawn → listening), median', `${result.startup_fresh_median_ms} ms  (${result.startup_fresh_ms.join(', ')})`],
  ['start-up with the inserted data (recovery)', `${result.startup_with_data_ms} ms`],
  [`insert ${ROWS.toLocaleString('en')} rows dim ${DIM} (${BATCH}/call, ${CONCURRENCY} in flight)`, `${result.insert_rows_per_s.toLocaleString('en')} rows/s, ${result.insert_mb_per_s} MB/s`],
  ['insert → all flushed (Flush returned)', `${result.insert_to_flushed_rows_per_s.toLocaleString('en')} rows/s`],
  ['raw append to an embedded log (baseline)', `${result.raw_append_mb_per_s} MB/s`],
  ['ratio insert / raw append', `${result.ratio_insert_vs_raw_append}`],
  ['peak RSS standalone (VmHWM, incl. mapped log) / client', `${result.standalone_peak_rss_mb} MB / ${result.client_peak_rss_mb} MB`],
  ['peak anonymous RSS standalone (100 ms samples)', `${result.standalone_peak_rss_anon_mb} MB`],
];
const w = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
const out = resolve(HERE, '../results/standalone.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`wrote ${out}\n`);
process.exit(0);
