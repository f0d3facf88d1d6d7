/**
 * Fault: the DataNode PROCESS (`node bin/tidal.js datanode`, real etcd, Kafka and S3) is killed
 * with SIGKILL at six distinct points of its data path, one process after the other, while rows
 * are inserted over two shards; the master (in this process) moves the vchannels to the next
 * process when the dead one's session lapses (TTL 2 s), and that process resumes from the channel
 * checkpoint. The points are reached deterministically with failpoints (src/common/failpoint.ts):
 *
 *  1. while buffering: after the 3rd Insert message is appended, before any sync;
 *  2. mid-upload: a sync's insert log is in S3, its stats log is held back (`pause`), then killed;
 *  3. after upload, before SaveBinlogPaths;
 *  4. after SaveBinlogPaths, before the node records the checkpoint locally;
 *  5. during Flush: the tick reached the flush ts, before the flush sync;
 *  6. during Flush: the flush sync's SaveBinlogPaths stored (segment Flushed), before the node
 *     answers FlushSegments.
 *
 * Rows are also inserted while no DataNode is alive. At the end a clean DataNode runs, Flush
 * completes, and the binlogs referenced by meta (ShowSegments) hold every acknowledged row exactly
 * once (pk, timestamp, vector bytes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { createObjectStore } from '../../src/storage/create.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { cleanupNamespace, masterConfig, masterNamespace, startMaster, type InProcessMaster } from '../integration/helpers/master.js';
import { DataNodeProcess, dataNodeEnv, killAllDataNodes } from './datanode-process.js';
import { Workload } from './datanode-workload.js';

const ns = masterNamespace('fault-dn-kill');
const bucket = uniqueName('fault-dn-kill');
/** Rows per Insert message: about 11 KB each with DIM 8, so 64 KiB buffers sync every ~6 messages per segment. */
const ROWS = 200;
const BUFFER_BYTES = 64 * 1024;

let master: InProcessMaster;
let producer: KafkaMsgStream;
let store: ObjectStore;

beforeAll(async () => {
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  const ep = await endpoints();
  producer = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-fault-dn-kill' });
  const config = await masterConfig(ns, {
    storage: { backend: 's3' },
    s3: { endpoint: ep.s3.endpoint, region: ep.s3.region, accessKeyId: ep.s3.accessKeyId, secretAccessKey: ep.s3.secretAccessKey, bucket, rootPath: 'files' },
  });
  store = createObjectStore(config);
});

afterAll(async () => {
  await killAllDataNodes();
  await master?.close();
  await producer?.close();
  await store?.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
  await store?.close();
  await cleanupNamespace(ns);
});

/** Insert logs in S3 whose stats log (same segment and logID) is not there: a sync cut mid-upload. */
async function halfUploaded(): Promise<string[]> {
  const keys = new Set<string>();
  for await (const o of store.listAll('')) keys.add(o.key);
  return [...keys].filter((k) => k.startsWith('insert_log/') && !keys.has(k.replace(/^insert_log\//, 'stats_log/').replace(/\.arrow$/, '.json')));
}

interface Round {
  point: string;
  failpoints: string;
  /** What makes the node reach the point: inserts only, or inserts then a Flush. */
  flush: boolean;
  /** For `pause`: wait for this before killing the node from here. */
  beforeKill?: () => Promise<void>;
}

describe('fault: DataNode killed with SIGKILL', () => {
  it('datanode-kill - killed at 6 points of the sync path and restarted: binlogs in meta hold every acknowledged row exactly once', async () => {
    const env = (failpoints?: string) =>
      dataNodeEnv({ ns, bucket, failpoints, extra: { TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(BUFFER_BYTES), TIDAL_DATANODE_FLUSH_MEMORY_LIMIT_BYTES: String(8 * 1024 * 1024) } });
    const w = await Workload.create(master.client, producer, 'dn_kill', 2);
    let stray: string[] = [];
    const rounds: Round[] = [
      { point: 'datanode.insert.buffered', failpoints: 'datanode.insert.buffered=kill@3', flush: false },
      {
        point: 'datanode.sync.beforePut',
        failpoints: 'datanode.sync.beforePut=pause@2',
        flush: false,
        beforeKill: async () => {
          const deadline = Date.now() + 15_000;
          while ((stray = await halfUploaded()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        },
      },
      { point: 'datanode.sync.beforeSave', failpoints: 'datanode.sync.beforeSave=kill', flush: false },
      { point: 'datanode.sync.afterSave', failpoints: 'datanode.sync.afterSave=kill', flush: false },
      { point: 'datanode.flush.beforeSync', failpoints: 'datanode.flush.beforeSync=kill', flush: true },
      { point: 'datanode.flush.afterSave', failpoints: 'datanode.flush.afterSave=kill', flush: true },
    ];
    const flushes: Promise<unknown>[] = [];
    const killedBy: string[] = [];

    for (const round of rounds) {
      const node = await DataNodeProcess.spawn(await env(round.failpoints));
      const marker = new RegExp(`failpoint ${round.point.replace(/\./g, '\\.')} (kill|pause)`);
      if (round.flush) {
        for (let i = 0; i < 4; i++) await w.insert(ROWS);
        // The Flush waits for a node that dies; it times out or fails, which is what a client sees.
        flushes.push(master.client.call('flush', { collectionId: w.collectionId }).catch(() => undefined));
      }
      // Insert until the node reaches its failpoint (it first waits for the old session to lapse).
      const deadline = Date.now() + 45_000;
      while (!marker.test(node.log)) {
        if (Date.now() > deadline) throw new Error(`failpoint ${round.point} not reached:\n${node.log}`);
        if (!round.flush) await w.insert(ROWS);
        await new Promise((r) => setTimeout(r, round.flush ? 50 : 20));
      }
      if (round.beforeKill !== undefined) {
        await round.beforeKill();
        await node.kill();
      }
      const signal = await node.waitExit(10_000);
      expect(signal).toBe('SIGKILL');
      killedBy.push(round.point);
      // Acknowledged while no DataNode runs: the next one must pick these up too.
      await w.insert(ROWS);
    }
    expect(killedBy).toEqual(rounds.map((r) => r.point));
    // Round 2 did stop mid-upload: an insert log without its stats log was in S3 when it died.
    expect(stray.length).toBeGreaterThan(0);

    const final = await DataNodeProcess.spawn(await env());
    for (let i = 0; i < 4; i++) await w.insert(ROWS);
    await w.flush(60_000);
    await Promise.all(flushes);
    const { insertLogs, segments } = await w.verify(store);
    expect(insertLogs).toBeGreaterThan(0);
    expect(segments).toBeGreaterThan(0);
    expect(final.alive).toBe(true);
    await final.kill();
  }, 180_000);
});
