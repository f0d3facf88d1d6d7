/**
 * Fault: ingestion faster than S3 accepts. The DataNode PROCESS writes to a private s3proxy behind
 * a proxy that lets uploads through at UPLOAD_BYTES_PER_SEC, while Insert messages arrive on Kafka
 * far faster. Its write buffers fill to `memoryLimitBytes`, consumption pauses, and the process's
 * RSS (VmRSS from /proc, sampled every 50 ms through the run) stays within the buffer limit plus the
 * margin below. Every acknowledged row is in the flushed segments at the end.
 *
 * Margin over the buffer limit, from the design (defaults unless set here), per term:
 *  - baseline: the process's RSS once it watches its vchannels, before any row (Node, tsx, gRPC,
 *    kafkajs, the AWS SDK), measured (~155 MiB here);
 *  - syncs: sync concurrency (4, set below) × 2 × (buffer size + 2 messages): kept as the bound
 *    from before insert logs were uploaded as views of the payload (its payload itself is counted
 *    in the budget until the sync is durable; the remaining joined columns and the encoder's
 *    temporaries are well inside it);
 *  - flowgraph queues: vchannels (2) × 2 queues before the insert node reserves memory (input → dd,
 *    dd → insert) × queue capacity × one push (at most one Kafka fetch, 1 MiB: about two messages);
 *  - Kafka read-ahead: pchannels (2) × (the fetch handed over + the next one) × fetchMaxBytes (1 MiB);
 *  - garbage: V8 frees ArrayBuffers (fetch buffers, column copies, encoded binlogs) only at a GC,
 *    which it starts once external memory has grown by its soft limit (64 MiB) since the last one,
 *    and the JS heap grows with the allocation rate of decoded messages (measured: 29 → 73 MiB, so
 *    48 MiB), and glibc keeps freed pages: V8_GARBAGE_BYTES = 64 + 48 MiB.
 * Measured on this machine: peak RSS 105–148 MiB above the baseline (bound: 188 MiB above it);
 * the buffers' budget in use (GetStatus memoryUsedBytes, buffered + syncing) peaked at the limit.
 * Without the bound (consumption never pausing) the node could hold up to all ~100 MB produced,
 * on top of the same garbage, and cross the bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegmentState } from '../../src/gen/segment.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { S3ProxyServer } from '../harness/s3proxy.js';
import { cleanupNamespace, masterNamespace, startMaster, type InProcessMaster } from '../integration/helpers/master.js';
import { waitFor } from '../unit/datanode/helpers.js';
import { DataNodeProcess, dataNodeEnv, killAllDataNodes } from './datanode-process.js';
import { ThrottleProxy } from './datanode-throttle.js';
import { Workload, type PreparedRows } from './datanode-workload.js';

const MiB = 1024 * 1024;
const MEMORY_LIMIT_BYTES = 16 * MiB;
const BUFFER_SIZE_BYTES = 4 * MiB;
const UPLOAD_BYTES_PER_SEC = 12 * MiB;
/** Rows per Insert message: 9,000 rows × (8 + 32 + 16) bytes ≈ 0.5 MB, under Kafka's 1 MiB. */
const ROWS_PER_MESSAGE = 9_000;
const MESSAGE_BYTES = ROWS_PER_MESSAGE * 56;
const MESSAGES = 200;
/** Distinct row batches, sent in turn (the row count is what is checked here, not pks). */
const BATCHES = 8;
/** Insert messages in flight at once. */
const PRODUCERS = 4;
const SYNC_CONCURRENCY = 4;
const VCHANNELS = 2;
/** flowgraph.maxQueueLength, set low here so that the margin stays below the data volume. */
const QUEUE_CAPACITY = 4;
const FETCH_MAX_BYTES = 1 * MiB;
const V8_GARBAGE_BYTES = (64 + 48) * MiB;

const MARGIN_BYTES =
  SYNC_CONCURRENCY * 2 * (BUFFER_SIZE_BYTES + 2 * MESSAGE_BYTES) +
  VCHANNELS * 2 * QUEUE_CAPACITY * FETCH_MAX_BYTES +
  VCHANNELS * 2 * FETCH_MAX_BYTES +
  V8_GARBAGE_BYTES;

const ns = masterNamespace('fault-dn-mem');
const bucket = uniqueName('fault-dn-mem');
let s3: S3ProxyServer;
let throttle: ThrottleProxy;
let master: InProcessMaster;
let producer: KafkaMsgStream;

beforeAll(async () => {
  s3 = await S3ProxyServer.launch();
  throttle = await ThrottleProxy.start(s3.port, UPLOAD_BYTES_PER_SEC);
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  const ep = await endpoints();
  producer = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-fault-dn-mem' });
}, 120_000);

afterAll(async () => {
  await killAllDataNodes();
  await master?.close();
  await producer?.close();
  await throttle?.close();
  await s3?.close();
  await cleanupNamespace(ns);
});

describe('fault: ingestion faster than S3', () => {
  it('datanode-memory - uploads throttled: RSS stays within the buffer limit plus the stated margin, every row flushed', async () => {
    const w = await Workload.create(master.client, producer, 'dn_mem', VCHANNELS);
    // Rows built ahead (encoding is CPU-bound in this process), so they are produced at Kafka speed.
    const prepared: PreparedRows[] = [];
    for (let i = 0; i < BATCHES; i++) prepared.push(w.prepare(ROWS_PER_MESSAGE));
    const node = await DataNodeProcess.spawn(
      await dataNodeEnv({
        ns,
        bucket,
        s3: { ...s3.s3, endpoint: throttle.endpoint },
        extra: { TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(BUFFER_SIZE_BYTES), TIDAL_DATANODE_FLUSH_MEMORY_LIMIT_BYTES: String(MEMORY_LIMIT_BYTES), TIDAL_DATANODE_FLOWGRAPH_MAX_QUEUE_LENGTH: String(QUEUE_CAPACITY), TIDAL_DATANODE_FLUSH_SYNC_CONCURRENCY: String(SYNC_CONCURRENCY) },
      }),
    );
    await waitFor('vchannels watched', async () => (await node.status()).channels.length === VCHANNELS, 30_000);
    const baseline = node.rssBytes()!;
    const bound = baseline + MEMORY_LIMIT_BYTES + MARGIN_BYTES;

    let peak = 0;
    let peakBuffered = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rss = node.rssBytes();
        if (rss !== undefined) {
          samples++;
          peak = Math.max(peak, rss);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const statusPoller = (async () => {
      while (sampling) {
        const st = await node.status().catch(() => undefined);
        if (st !== undefined) peakBuffered = Math.max(peakBuffered, Number(st.memoryUsedBytes));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    await Promise.all(
      Array.from({ length: PRODUCERS }, async (_, k) => {
        for (let i = k; i < MESSAGES; i += PRODUCERS) await w.send(prepared[i % BATCHES]!);
      }),
    );
    const producedBytes = MESSAGES * MESSAGE_BYTES;
    await w.flush(120_000);
    sampling = false;
    await Promise.all([sampler, statusPoller]);

    const figures = {
      baselineMiB: +(baseline / MiB).toFixed(1),
      peakMiB: +(peak / MiB).toFixed(1),
      boundMiB: +(bound / MiB).toFixed(1),
      peakBufferedMiB: +(peakBuffered / MiB).toFixed(1),
      producedMiB: +(producedBytes / MiB).toFixed(1),
      uploadedMiB: +(throttle.uploaded / MiB).toFixed(1),
      samples,
    };
    console.info('datanode-memory figures', figures);
    const segments = await w.segments();
    const rows = segments.filter((s) => s.state !== SegmentState.Dropped).reduce((n, s) => n + s.numRows, 0n);
    expect(rows, node.log).toBe(BigInt(w.ackedRows));
    expect(w.ackedRows).toBe(MESSAGES * ROWS_PER_MESSAGE);
    // Ingestion outran S3: the buffers reached the limit (consumption paused at it).
    expect(peakBuffered).toBeGreaterThan(MEMORY_LIMIT_BYTES / 2);
    expect(peakBuffered).toBeLessThanOrEqual(MEMORY_LIMIT_BYTES);
    expect(samples).toBeGreaterThan(50);
    expect(peak, JSON.stringify(figures)).toBeLessThanOrEqual(bound);

    expect(node.alive, node.log).toBe(true);
    await node.kill();
  }, 180_000);
});
