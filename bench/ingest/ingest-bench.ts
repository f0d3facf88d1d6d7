/**
 * bench/ingest: how close a DataNode comes to the slower of its two I/O ends.
 *
 * A DataNode reads Insert records from Kafka and writes binlogs to S3; it can go no faster than
 * the slower of the two. One run:
 *
 *   0. Servers: etcd, Kafka and S3 from TIDAL_* (or started here with the test harness); a master
 *      (`node bin/tidal.js master`, child process) under a root path, channel prefix and bucket
 *      unique to the run. A collection {pk Int64, vec FloatVector[128]} with 2 shards (one
 *      pchannel each) is created and `--rows` rows are inserted through TidalClient, the proxy
 *      itself, before anything is measured. After the allocations' lease has passed, the topics'
 *      end offsets are taken.
 *   a. kafkajs consuming those topics from offset 0 to the end offsets, doing nothing (raw-kafka.ts).
 *   b. A DataNode (`node bin/tidal.js datanode`, child process) from its start until every binlog
 *      is in S3 and every checkpoint in etcd is past the data (pipeline.ts); then the checks: all
 *      segments Flushed, exactly the produced rows, every binlog in S3 with its size.
 *   c. Plain PutObject calls writing the same objects (sizes and grouping the DataNode produced in
 *      b) to the same S3 with the DataNode's sync concurrency (raw-s3.ts), with the SDK's default
 *      request settings (signed payload, CRC32).
 *   c_dn. The same puts with the DataNode's request settings (UNSIGNED-PAYLOAD, no checksum): what
 *      the S3 end accepts when the body is hashed by nobody, as the DataNode sends it.
 *   d. The ideal relay (relay.ts): kafkajs reading the topics as in (a) and writing the values,
 *      untouched, as objects of the DataNode's buffer size with the DataNode's request settings and
 *      sync concurrency. A DataNode that did no work of its own.
 *
 *   ratio = b / min(a, c) in rows/s (target ≥ 0.7). Also reported: b / min(a, c_dn) (the same ratio
 *   against the S3 end as the DataNode uses it), d / min(a, c) (the most any DataNode can reach
 *   here when the servers share the machine's cores with it) and b / d. Peak RSS of the DataNode
 *   against its buffer limit (datanode.flush.memoryLimitBytes). CPU of every process over each
 *   window (noise).
 *
 * Prints a table and writes bench/results/ingest.json. Cleans up its topics, etcd prefix, consumer
 * group and bucket. Run: npm run bench:ingest [-- --help]
 */
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream } from '../../src/mq/kafka/kafka-msg-stream.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { S3ObjectStore } from '../../src/storage/s3/s3-object-store.js';
import { calibrationMs } from '../tso/cpu-meter.js';
import { runPipeline, type PipelineResult } from './pipeline.js';
import { pidsListeningOn, ProcMeter, type CpuUsage } from './proc-meter.js';
import { produceRows, type Produced } from './produce.js';
import { consumeRaw, type RawKafkaResult } from './raw-kafka.js';
import { putRaw, type RawS3Result } from './raw-s3.js';
import { relay, type RelayResult } from './relay.js';
import { benchServers, type BenchServers } from './servers.js';
import { TidalProcess } from './tidal-process.js';

const TARGET_RATIO = 0.7;
const MiB = 1024 * 1024;
/**
 * Syncs a DataNode runs at once: `tidal datanode` builds its DataPath without a syncConcurrency,
 * so SyncManager's default (src/datanode/syncmgr/sync-manager.ts) applies.
 */
const DATANODE_SYNC_CONCURRENCY = 4;
/** The master's segment allocation lease (master.segment.allocationExpireMs default), ms. */
const ALLOCATION_EXPIRE_MS = 2_000;
/** The broker's message limit the proxy splits under (kafka.maxMessageBytes default), bytes. */
const KAFKA_MAX_MESSAGE_BYTES = MiB;
/** The master's time-tick interval (master.timeTickIntervalMs default), ms. */
const TIME_TICK_INTERVAL_MS = 200;

const HELP = `Usage: npm run bench:ingest -- [options]      (= npx tsx bench/ingest/ingest-bench.ts)
  --rows N             rows produced ahead of time (1000000; at least 1000000 for a recorded figure)
  --dim N              vector dimension (128)
  --shards N           shards of the collection, one DML pchannel each (2)
  --batch-rows N       rows per TidalClient.insert call while producing (20000)
  --buffer-limit-mb N  the DataNode's datanode.flush.memoryLimitBytes, MiB (256)
  --buffer-size-mb N   the DataNode's datanode.flush.bufferSizeBytes, MiB (16, the default)
  --fetch-max-mb N     the DataNode's kafka.fetchMaxBytes, MiB (1, the default)
  --timeout-ms N       longest the DataNode run may take (600000)
  --cpu-prof DIR       run the DataNode with --cpu-prof, profile written to DIR on its exit
  --out FILE           JSON results (bench/results/ingest.json)
Servers: etcd, Kafka and S3 from TIDAL_ETCD_ENDPOINTS, TIDAL_KAFKA_BROKERS and TIDAL_S3_ENDPOINT
(+ TIDAL_S3_REGION, TIDAL_S3_ACCESS_KEY_ID, TIDAL_S3_SECRET_ACCESS_KEY), e.g. \`. /tmp/tidal-env.sh\`.
Each one not set is started for the run with the test harness (test/harness: etcd from Debian's
etcd-server, Kafka and s3proxy resolved by mvn from Maven Central; needs etcd, java 17 and mvn) and
stopped at the end. The master and the DataNode run as \`node bin/tidal.js master|datanode\` children.
Everything the run creates (etcd root path, Kafka topics and consumer group, S3 bucket) is named
bench-ingest-<pid>-<time> and deleted at the end.`;

interface Options {
  rows: number;
  dim: number;
  shards: number;
  batchRows: number;
  bufferLimitBytes: number;
  bufferSizeBytes: number;
  fetchMaxBytes: number;
  timeoutMs: number;
  cpuProfDir: string | undefined;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '1000000' },
      dim: { type: 'string', default: '128' },
      shards: { type: 'string', default: '2' },
      'batch-rows': { type: 'string', default: '20000' },
      'buffer-limit-mb': { type: 'string', default: '256' },
      'buffer-size-mb': { type: 'string', default: '16' },
      'fetch-max-mb': { type: 'string', default: '1' },
      'timeout-ms': { type: 'string', default: '600000' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = values[name] as string;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      const allowed = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new Error(`--${name} must be an integer ${allowed}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const bufferLimitBytes = int('buffer-limit-mb', 1) * MiB;
  const bufferSizeBytes = int('buffer-size-mb', 1) * MiB;
  if (bufferSizeBytes > bufferLimitBytes) throw new Error(`--buffer-size-mb (${bufferSizeBytes / MiB}) must be at most --buffer-limit-mb (${bufferLimitBytes / MiB})`);
  return {
    rows: int('rows', 1),
    dim: int('dim', 1, 32_768),
    shards: int('shards', 1, 64),
    batchRows: int('batch-rows', 1),
    bufferLimitBytes,
    bufferSizeBytes,
    fetchMaxBytes: int('fetch-max-mb', 1, 1024) * MiB,
    timeoutMs: int('timeout-ms', 1_000),
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    out: values.out ?? resolve(dirname(fileURLToPath(import.meta.url)), '../results/ingest.json'),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (x: number, digits = 0) => Number(x.toFixed(digits));
const portOf = (url: string) => Number(/:(\d+)(?:\/|$)/.exec(url)?.[1] ?? Number.NaN);

/** Polls Ping until the master answers as leader. */
async function waitForLeader(address: string, timeoutMs = 30_000): Promise<void> {
  const client = new MasterClient(address, { deadlineMs: 2_000 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        if ((await client.call('ping', {})).leader) return;
      } catch {
        // not serving yet: ask again
      }
      if (Date.now() > deadline) throw new Error(`the bench master at ${address} did not become leader within ${timeoutMs} ms`);
      await sleep(100);
    }
  } finally {
    client.close();
  }
}

/** Deletes what the run created; each step best-effort, failures reported on stderr. */
async function cleanup(servers: BenchServers, run: { rootPath: string; channelPrefix: string; shards: number; bucket: string }): Promise<void> {
  const warn = (what: string) => (err: unknown) => console.error(`bench/ingest: cleanup of ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  const kv = new EtcdKV({ endpoints: servers.etcd, rootPath: run.rootPath });
  await kv.deletePrefix('').catch(warn(`etcd prefix ${run.rootPath}`));
  await kv.close().catch(warn('the etcd client'));
  const stream = new KafkaMsgStream({ brokers: servers.kafka, clientId: 'tidal-bench-ingest-cleanup' });
  for (const ch of [`${run.channelPrefix}-dd`, ...Array.from({ length: run.shards }, (_, i) => `${run.channelPrefix}-dml_${i}`)]) {
    await stream.deleteChannel(ch).catch(warn(`topic ${ch}`));
  }
  await stream.close().catch(warn('the Kafka client'));
  const store = new S3ObjectStore({ ...servers.s3, bucket: run.bucket, rootPath: '', forcePathStyle: true });
  await store.deletePrefix('').catch(warn(`objects of bucket ${run.bucket}`));
  await store.close().catch(warn('the S3 store'));
  const s3 = new S3Client({ endpoint: servers.s3.endpoint, region: servers.s3.region, forcePathStyle: true, credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: servers.s3.secretAccessKey } });
  await s3.send(new DeleteBucketCommand({ Bucket: run.bucket })).catch((err: unknown) => {
    if ((err as { name?: string }).name !== 'NoSuchBucket') warn(`bucket ${run.bucket}`)(err);
  });
  s3.destroy();
}

/** The measured windows. */
const WINDOWS = ['a', 'b', 'c', 'c_dn', 'd'] as const;
type Window = (typeof WINDOWS)[number];

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const loadBefore = loadavg();
  const calibrationBefore = await calibrationMs();
  const runId = `bench-ingest-${process.pid}-${Date.now().toString(36)}`;
  const run = { rootPath: runId, channelPrefix: runId, shards: opts.shards, bucket: runId };
  const log = (msg: string) => console.error(`[bench/ingest ${new Date().toISOString().slice(11, 19)}] ${msg}`);

  log('servers: etcd, Kafka, S3 (from TIDAL_* or started now)');
  const servers = await benchServers();
  let master: TidalProcess | undefined;
  let produced: Produced | undefined;
  let a: RawKafkaResult | undefined;
  let b: PipelineResult | undefined;
  let c: RawS3Result | undefined;
  let cEffective: RawS3Result | undefined;
  let cEffectiveConcurrency: number;
  let cDn: RawS3Result | undefined;
  let d: RelayResult | undefined;
  const cpu: Record<Window, CpuUsage | null> = { a: null, b: null, c: null, c_dn: null, d: null };
  let endOffsets: Map<string, bigint>;
  let datanodePid = 0;
  const serverPorts = { etcd: portOf(servers.etcd[0]!), kafka: portOf(servers.kafka[0]!), s3: portOf(servers.s3.endpoint) };
  const listening = pidsListeningOn([serverPorts.etcd, serverPorts.kafka, serverPorts.s3]);
  const meter = new ProcMeter(() => ({
    bench: [process.pid],
    datanode: datanodePid > 0 ? [datanodePid] : [],
    master: master === undefined ? [] : [master.pid],
    kafka: [listening.get(serverPorts.kafka)].filter((p): p is number => p !== undefined),
    s3: [listening.get(serverPorts.s3)].filter((p): p is number => p !== undefined),
    etcd: [listening.get(serverPorts.etcd)].filter((p): p is number => p !== undefined),
  }));
  const common = {
    TIDAL_KV_BACKEND: 'etcd',
    TIDAL_MQ_BACKEND: 'kafka',
    TIDAL_ETCD_ENDPOINTS: servers.etcd.join(','),
    TIDAL_ETCD_ROOT_PATH: run.rootPath,
    TIDAL_KAFKA_BROKERS: servers.kafka.join(','),
  };
  const s3Vars = {
    TIDAL_STORAGE_BACKEND: 's3',
    TIDAL_S3_ENDPOINT: servers.s3.endpoint,
    TIDAL_S3_REGION: servers.s3.region,
    TIDAL_S3_ACCESS_KEY_ID: servers.s3.accessKeyId,
    TIDAL_S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    TIDAL_S3_BUCKET: run.bucket,
    TIDAL_S3_ROOT_PATH: 'files',
  };
  try {
    master = await TidalProcess.spawn('master', {
      ...common,
      TIDAL_MASTER_HOST: '127.0.0.1',
      TIDAL_MASTER_PORT: '0',
      TIDAL_MASTER_CHANNEL_PREFIX: run.channelPrefix,
      TIDAL_MASTER_DML_CHANNEL_NUM: String(opts.shards),
      TIDAL_LOG_LEVEL: 'warn',
    });
    await waitForLeader(master.address);

    // ---- 0. produce ahead of time, through the proxy ----
    log(`producing ${opts.rows.toLocaleString('en-US')} rows (dim ${opts.dim}, ${opts.shards} shards) through TidalClient`);
    let shown = 0;
    produced = await produceRows({
      master: master.address,
      brokers: servers.kafka,
      collectionName: 'bench_ingest',
      rows: opts.rows,
      dim: opts.dim,
      shards: opts.shards,
      batchRows: opts.batchRows,
      concurrency: 4,
      onProgress: (done) => {
        if (done - shown >= opts.rows / 10 || done === opts.rows) {
          shown = done;
          log(`  ${done.toLocaleString('en-US')} rows`);
        }
      },
    });
    // Let the allocations' lease pass behind a published time tick, so the DataNode's tick can make
    // the sealed segments flushable; then fix the end offsets (ticks keep coming after them).
    await sleep(ALLOCATION_EXPIRE_MS + 3 * TIME_TICK_INTERVAL_MS + 500);
    const stream = new KafkaMsgStream({ brokers: servers.kafka, clientId: 'tidal-bench-ingest-offsets' });
    try {
      endOffsets = new Map(await Promise.all(produced.pchannels.map(async (p) => [p, (await stream.offsets(p)).latest] as const)));
    } finally {
      await stream.close();
    }
    log(`produced ${produced.insertMessages} Insert records in ${round(produced.elapsedMs / 1000, 1)} s; end offsets ${[...endOffsets].map(([p, o]) => `${p}:${o}`).join(', ')}`);

    // ---- warm-up, not measured: servers started for this run have cold JITs and caches ----
    log('warm-up (not measured): a quarter of the topics through kafkajs, 8 binlog-sized PutObjects');
    await consumeRaw({ brokers: servers.kafka, endOffsets: new Map([...endOffsets].map(([p, o]) => [p, o / 4n])), groupId: `${runId}-warmup`, timeoutMs: opts.timeoutMs });
    const s3 = new S3Client({ endpoint: servers.s3.endpoint, region: servers.s3.region, forcePathStyle: true, credentials: { accessKeyId: servers.s3.accessKeyId, secretAccessKey: servers.s3.secretAccessKey } });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: run.bucket }));
    } finally {
      s3.destroy();
    }
    await putRaw({ s3: servers.s3, bucket: run.bucket, prefix: 'warmup', groups: Array.from({ length: 8 }, () => [opts.bufferSizeBytes, 64 * 1024]), concurrency: DATANODE_SYNC_CONCURRENCY });

    // ---- a. raw kafkajs ----
    log('(a) kafkajs consuming the topics, doing nothing');
    a = await consumeRaw({ brokers: servers.kafka, endOffsets, groupId: `${runId}-raw`, timeoutMs: opts.timeoutMs, onStart: () => meter.start() });
    cpu.a = meter.stop();
    if (a.maxValueBytes > KAFKA_MAX_MESSAGE_BYTES) throw new Error(`a record of ${a.maxValueBytes} bytes is above the broker's ${KAFKA_MAX_MESSAGE_BYTES}-byte message limit`);

    // ---- b. the DataNode ----
    log(`(b) DataNode from start until every binlog is in S3 and every checkpoint in etcd (buffer limit ${opts.bufferLimitBytes / MiB} MiB)`);
    const kv = new EtcdKV({ endpoints: servers.etcd, rootPath: run.rootPath });
    const store = new S3ObjectStore({ ...servers.s3, bucket: run.bucket, rootPath: 'files', forcePathStyle: true });
    if (opts.cpuProfDir !== undefined) mkdirSync(opts.cpuProfDir, { recursive: true });
    try {
      b = await runPipeline({
        master: master.address,
        env: {
          ...common,
          ...s3Vars,
          TIDAL_DATANODE_HOST: '127.0.0.1',
          TIDAL_DATANODE_PORT: '0',
          TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(opts.bufferSizeBytes),
          TIDAL_DATANODE_FLUSH_MEMORY_LIMIT_BYTES: String(opts.bufferLimitBytes),
          TIDAL_KAFKA_FETCH_MAX_BYTES: String(opts.fetchMaxBytes),
          TIDAL_LOG_LEVEL: 'info',
        },
        produced,
        kv,
        store,
        nodeArgs: opts.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`],
        pollMs: 50,
        rssSampleMs: 100,
        timeoutMs: opts.timeoutMs,
        onStart: (pid) => {
          datanodePid = pid;
          meter.start();
        },
        onEnd: () => {
          cpu.b = meter.stop();
        },
      });
    } finally {
      await kv.close();
      await store.close();
    }

    // ---- c. raw PutObject ----
    log(`(c) PutObject of the same ${b.groups.length} syncs (${round(b.binlogBytes / MiB, 1)} MiB) to the same S3, ${DATANODE_SYNC_CONCURRENCY} at once`);
    c = await putRaw({ s3: servers.s3, bucket: run.bucket, prefix: 'raw-put', groups: b.groups, concurrency: DATANODE_SYNC_CONCURRENCY, onStart: () => meter.start() });
    cpu.c = meter.stop();
    // A segment's syncs run one after another (SyncManager), so with fewer segments than sync
    // slots the DataNode cannot have syncConcurrency uploads in flight: the same puts at the
    // concurrency it can reach, for comparison (not in the ratio).
    cEffectiveConcurrency = Math.min(DATANODE_SYNC_CONCURRENCY, b.segments);
    if (cEffectiveConcurrency < DATANODE_SYNC_CONCURRENCY) {
      log(`(c') the same PutObjects, ${cEffectiveConcurrency} at once (one per segment), not in the ratio`);
      cEffective = await putRaw({ s3: servers.s3, bucket: run.bucket, prefix: 'raw-put-effective', groups: b.groups, concurrency: cEffectiveConcurrency });
    }

    // ---- c_dn. raw PutObject with the DataNode's request settings ----
    log(`(c_dn) the same PutObjects with the DataNode's request settings (UNSIGNED-PAYLOAD, no checksum), ${DATANODE_SYNC_CONCURRENCY} at once`);
    cDn = await putRaw({ s3: servers.s3, bucket: run.bucket, prefix: 'raw-put-dn', groups: b.groups, concurrency: DATANODE_SYNC_CONCURRENCY, settings: 'datanode', onStart: () => meter.start() });
    cpu.c_dn = meter.stop();

    // ---- d. the ideal relay ----
    log(`(d) ideal relay: kafkajs → PutObject of the values as they are (${opts.bufferSizeBytes / MiB} MiB objects, ${DATANODE_SYNC_CONCURRENCY} at once)`);
    d = await relay({
      brokers: servers.kafka,
      endOffsets,
      groupId: `${runId}-relay`,
      s3: servers.s3,
      bucket: run.bucket,
      prefix: 'relay',
      objectBytes: opts.bufferSizeBytes,
      concurrency: DATANODE_SYNC_CONCURRENCY,
      timeoutMs: opts.timeoutMs,
      onStart: () => meter.start(),
    });
    cpu.d = meter.stop();
  } finally {
    await master?.stop().catch(() => master?.kill());
    log('cleaning up (etcd prefix, topics, bucket)');
    await cleanup(servers, run);
    await servers.close();
  }
  const loadAfter = loadavg();
  const calibrationAfter = await calibrationMs();

  const rows = produced.rows;
  const rawKafkaRowsPerS = (rows * 1000) / a.elapsedMs;
  const rawS3RowsPerS = (rows * 1000) / c.elapsedMs;
  const pipelineRowsPerS = (rows * 1000) / b.elapsedMs;
  const rawS3DnRowsPerS = (rows * 1000) / cDn.elapsedMs;
  const relayRowsPerS = (rows * 1000) / d.elapsedMs;
  const baseline = Math.min(rawKafkaRowsPerS, rawS3RowsPerS);
  const ratio = pipelineRowsPerS / baseline;
  const ratioDn = pipelineRowsPerS / Math.min(rawKafkaRowsPerS, rawS3DnRowsPerS);
  const relayRatio = relayRowsPerS / baseline;
  const mbps = (bytes: number, ms: number) => round(bytes / MiB / (ms / 1000), 1);
  const results = {
    raw_kafka_rows_per_s: round(rawKafkaRowsPerS),
    raw_s3_rows_per_s: round(rawS3RowsPerS),
    pipeline_rows_per_s: round(pipelineRowsPerS),
    ratio: round(ratio, 3),
    peak_rss_mb: round(b.peakRssBytes / MiB, 1),
    buffer_limit_mb: round(opts.bufferLimitBytes / MiB, 1),
    // (c_dn): PutObject as the DataNode sends it (UNSIGNED-PAYLOAD, no checksum); the ratio against it.
    raw_s3_dn_rows_per_s: round(rawS3DnRowsPerS),
    ratio_dn_settings: round(ratioDn, 3),
    // (d): the ideal relay (kafkajs → PutObject, no work); the most a DataNode reaches here.
    relay_rows_per_s: round(relayRowsPerS),
    relay_ratio: round(relayRatio, 3),
    pipeline_vs_relay: round(pipelineRowsPerS / relayRowsPerS, 3),
    pass: { ratio: ratio >= TARGET_RATIO },
    targets: { ratio: TARGET_RATIO },
    baseline: rawKafkaRowsPerS <= rawS3RowsPerS ? 'kafka' : 's3',
    mb_per_s: {
      // Kafka: record payload bytes; S3: object bytes. The pipeline reads the first and writes the second.
      raw_kafka: mbps(a.valueBytes, a.elapsedMs),
      raw_s3: mbps(c.bytes, c.elapsedMs),
      raw_s3_dn: mbps(cDn.bytes, cDn.elapsedMs),
      relay: mbps(d.valueBytes, d.elapsedMs),
      pipeline_in: mbps(a.valueBytes, b.elapsedMs),
      pipeline_out: mbps(b.binlogBytes, b.elapsedMs),
    },
    extras: {
      rows,
      insert_records: produced.insertMessages,
      kafka_records_read: a.records,
      // Largest record on the topics, checked against the broker's 1 MiB limit.
      max_record_bytes: a.maxValueBytes,
      kafka_payload_mb: round(a.valueBytes / MiB, 1),
      raw_kafka_ms: round(a.elapsedMs),
      raw_kafka_first_batch_ms: round(a.firstBatchMs),
      raw_s3_ms: round(c.elapsedMs),
      raw_s3_objects: c.objects,
      // (c') the same puts at min(syncConcurrency, segments) at once; null when that equals syncConcurrency.
      raw_s3_effective_concurrency: cEffectiveConcurrency,
      raw_s3_effective_rows_per_s: cEffective === undefined ? null : round((rows * 1000) / cEffective.elapsedMs),
      raw_s3_effective_mb_per_s: cEffective === undefined ? null : mbps(cEffective.bytes, cEffective.elapsedMs),
      raw_s3_dn_ms: round(cDn.elapsedMs),
      relay_ms: round(d.elapsedMs),
      relay_objects: d.objects,
      relay_records: d.records,
      pipeline_ms: round(b.elapsedMs),
      pipeline_watch_latency_ms: b.watchLatencyMs === null ? null : round(b.watchLatencyMs),
      pipeline_flush_returned_ms: round(b.flushReturnedMs),
      pipeline_checkpoints_ms: round(b.checkpointsMs),
      pipeline_flush_calls: b.flushCalls,
      segments: b.segments,
      insert_logs: b.insertLogs,
      insert_log_mb: { min: round(b.insertLogSizes.min / MiB, 2), median: round(b.insertLogSizes.median / MiB, 2), max: round(b.insertLogSizes.max / MiB, 2) },
      binlog_mb: round(b.binlogBytes / MiB, 1),
      insert_log_total_mb: round(b.insertLogBytes / MiB, 1),
      datanode_start_rss_mb: round(b.startRssBytes / MiB, 1),
      datanode_max_sampled_rss_mb: round(b.maxSampledRssBytes / MiB, 1),
      rss_samples: b.rssSamples,
      datanode_stop_ms: round(b.stopMs),
      datanode_exit: b.exit,
      produce_s: round(produced.elapsedMs / 1000, 1),
    },
    // Percent of one core over each measured window, per process; "other" is background load.
    cpu,
    // CPU seconds per million rows, per process and window: comparable across runs even when
    // background load steals cores (b's DataNode against a's bench = kafkajs and c's bench + s3).
    cpu_s_per_million_rows: Object.fromEntries(
      WINDOWS.map((k) => {
        const u = cpu[k];
        return [k, u === null ? null : Object.fromEntries(Object.entries(u.byName).map(([n, pctOfCore]) => [n, round(((pctOfCore / 100) * (u.wallMs / 1000) * 1e6) / rows, 2)]))];
      }),
    ),
    setup: {
      shards: opts.shards,
      dim: opts.dim,
      buffer_size_mb: opts.bufferSizeBytes / MiB,
      fetch_max_mb: opts.fetchMaxBytes / MiB,
      sync_concurrency: DATANODE_SYNC_CONCURRENCY,
      servers: servers.origin,
      node: process.version,
      cpus: availableParallelism(),
      cpu_model: cpus()[0]?.model ?? 'unknown',
      loadavg_1m_before: round(loadBefore[0]!, 2),
      loadavg_1m_after: round(loadAfter[0]!, 2),
      // ms of a fixed promise/bigint workload (bench/tso/cpu-meter.ts) before and after: higher = slower CPU.
      calibration_ms_before: calibrationBefore,
      calibration_ms_after: calibrationAfter,
      cpu_prof_dir: opts.cpuProfDir ?? null,
      date: new Date().toISOString(),
    },
  };

  const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const m = results.mb_per_s;
  console.table([
    { measurement: '(a) kafkajs consume, no-op', 'rows/s': fmt(results.raw_kafka_rows_per_s), 'MB/s': fmt(m.raw_kafka, 1), seconds: fmt(a.elapsedMs / 1000, 2) },
    { measurement: `(c) PutObject ×${DATANODE_SYNC_CONCURRENCY}`, 'rows/s': fmt(results.raw_s3_rows_per_s), 'MB/s': fmt(m.raw_s3, 1), seconds: fmt(c.elapsedMs / 1000, 2) },
    ...(cEffective === undefined
      ? []
      : [{ measurement: `(c') PutObject ×${cEffectiveConcurrency} (not in ratio)`, 'rows/s': fmt((rows * 1000) / cEffective.elapsedMs), 'MB/s': fmt(mbps(cEffective.bytes, cEffective.elapsedMs), 1), seconds: fmt(cEffective.elapsedMs / 1000, 2) }]),
    { measurement: `(c_dn) PutObject ×${DATANODE_SYNC_CONCURRENCY}, DataNode's settings`, 'rows/s': fmt(results.raw_s3_dn_rows_per_s), 'MB/s': fmt(m.raw_s3_dn, 1), seconds: fmt(cDn.elapsedMs / 1000, 2) },
    { measurement: '(d) ideal relay kafkajs → PutObject', 'rows/s': fmt(results.relay_rows_per_s), 'MB/s': fmt(m.relay, 1), seconds: fmt(d.elapsedMs / 1000, 2) },
    { measurement: '(b) DataNode pipeline', 'rows/s': fmt(results.pipeline_rows_per_s), 'MB/s': `${fmt(m.pipeline_in, 1)} in / ${fmt(m.pipeline_out, 1)} out`, seconds: fmt(b.elapsedMs / 1000, 2) },
  ]);
  console.table([
    { metric: `ratio b / min(a, c) (baseline: ${results.baseline})`, value: fmt(results.ratio, 3), target: `≥ ${TARGET_RATIO}`, result: results.pass.ratio ? 'ok' : 'MISSED' },
    { metric: 'b / min(a, c_dn) (S3 end as the DataNode uses it)', value: fmt(results.ratio_dn_settings, 3), target: '', result: '' },
    { metric: 'd / min(a, c) (ideal relay: the most any DataNode reaches here)', value: fmt(results.relay_ratio, 3), target: '', result: '' },
    { metric: 'b / d (DataNode against the ideal relay)', value: fmt(results.pipeline_vs_relay, 3), target: '', result: '' },
    { metric: 'DataNode peak RSS (VmHWM) MiB', value: fmt(results.peak_rss_mb, 1), target: `buffer limit ${fmt(results.buffer_limit_mb)} MiB`, result: '' },
    { metric: 'insert logs (min / median / max MiB)', value: `${b.insertLogs} (${results.extras.insert_log_mb.min} / ${results.extras.insert_log_mb.median} / ${results.extras.insert_log_mb.max})`, target: '', result: '' },
  ]);
  const cpuRows = WINDOWS.flatMap((k) => {
    const u = cpu[k];
    return u === null ? [] : [{ window: k, ...Object.fromEntries(Object.entries(u.byName).map(([n, v]) => [`${n} %`, v])), 'other %': u.otherPct, 'machine %': u.machinePct }];
  });
  if (cpuRows.length > 0) console.table(cpuRows);
  console.log(
    `rows ${fmt(rows)}, ${produced.insertMessages} Insert records, ${opts.shards} shards, buffer ${opts.bufferSizeBytes / MiB} MiB / limit ${opts.bufferLimitBytes / MiB} MiB, fetch ${opts.fetchMaxBytes / MiB} MiB, node ${process.version}, ${availableParallelism()} cpus, load ${results.setup.loadavg_1m_before} → ${results.setup.loadavg_1m_after}, calibration ${calibrationBefore} → ${calibrationAfter} ms`,
  );
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${opts.out}`);
}

await main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A failed check or bad option: say what, without a stack trace, and fail the command.
    console.error(`bench/ingest failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
