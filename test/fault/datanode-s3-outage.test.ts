/**
 * Fault: the S3 server (a private s3proxy of this test, so the shared one is never touched) is
 * stopped for 30 s while rows keep arriving on two shards. The DataNode PROCESS does not crash,
 * its syncs retry, and no channel checkpoint in etcd moves while S3 is down (a checkpoint never
 * passes data that is not in S3). Once S3 is back, Flush completes and the binlogs in meta hold
 * every acknowledged row exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MsgPosition } from '../../src/gen/common.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { createObjectStore } from '../../src/storage/create.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { S3ProxyServer } from '../harness/s3proxy.js';
import { cleanupNamespace, masterConfig, masterNamespace, startMaster, type InProcessMaster } from '../integration/helpers/master.js';
import { DataNodeProcess, dataNodeEnv, killAllDataNodes } from './datanode-process.js';
import { Workload } from './datanode-workload.js';

const OUTAGE_MS = 30_000;
const ROWS = 200;

const ns = masterNamespace('fault-dn-s3');
const bucket = uniqueName('fault-dn-s3');
let s3: S3ProxyServer;
let master: InProcessMaster;
let producer: KafkaMsgStream;
let store: ObjectStore;
let kv: EtcdKV;

beforeAll(async () => {
  s3 = await S3ProxyServer.launch();
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  const ep = await endpoints();
  producer = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-fault-dn-s3' });
  kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
  const config = await masterConfig(ns, { storage: { backend: 's3' }, s3: { ...s3.s3, bucket, rootPath: 'files' } });
  store = createObjectStore(config);
}, 120_000);

afterAll(async () => {
  await killAllDataNodes();
  await master?.close();
  await producer?.close();
  await store?.close();
  await kv?.close();
  await s3?.close();
  await cleanupNamespace(ns);
});

async function checkpoints(vchannels: string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const v of vchannels) {
    const raw = await kv.get(`channel/checkpoint/${v}`);
    out.set(v, raw === undefined ? -1n : MsgPosition.decode(raw.value).msgId);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault: S3 down during ingestion', () => {
  it('datanode-s3-outage - S3 stopped for 30 s: no crash, no checkpoint advance while down, every row present once it is back', async () => {
    const w = await Workload.create(master.client, producer, 'dn_s3', 2);
    const node = await DataNodeProcess.spawn(
      await dataNodeEnv({ ns, bucket, s3: s3.s3, extra: { TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(64 * 1024), TIDAL_DATANODE_FLUSH_MEMORY_LIMIT_BYTES: String(8 * 1024 * 1024) } }),
    );
    // Before the outage: rows flow and checkpoints move.
    const initial = await checkpoints(w.vchannels);
    for (let i = 0; i < 24; i++) await w.insert(ROWS);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const now = await checkpoints(w.vchannels);
      if (w.vchannels.every((v) => now.get(v)! > initial.get(v)!)) break;
      if (Date.now() > deadline) throw new Error(`checkpoints did not move before the outage:\n${node.log}`);
      await sleep(100);
    }

    await s3.stop();
    // The node is known to see the outage once a sync step fails; a sync whose puts finished just
    // before the stop may still store its SaveBinlogPaths, so the baseline is taken once two reads
    // a second apart agree.
    const seenBy = Date.now() + 60_000;
    while (!/sync step failed; retrying/.test(node.log)) {
      if (Date.now() > seenBy) throw new Error(`the DataNode never saw the outage (no failed sync step):\n${node.log}`);
      await w.insert(ROWS);
      await sleep(200);
    }
    let before = await checkpoints(w.vchannels);
    for (let settled = false; !settled; ) {
      await sleep(1_000);
      const again = await checkpoints(w.vchannels);
      settled = w.vchannels.every((v) => again.get(v) === before.get(v));
      before = again;
    }
    const stoppedAt = Date.now();
    let samples = 0;
    const advanced: string[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      await w.insert(ROWS);
      const now = await checkpoints(w.vchannels);
      samples++;
      for (const v of w.vchannels) if (now.get(v)! !== before.get(v)!) advanced.push(`${v}: ${before.get(v)} → ${now.get(v)}`);
      expect(node.alive, node.log).toBe(true);
      await sleep(200);
    }
    expect(advanced).toEqual([]);
    expect(samples).toBeGreaterThan(20);
    // The node saw the outage and kept retrying its syncs.
    expect(node.log).toMatch(/sync step failed; retrying/);

    await s3.start();
    for (let i = 0; i < 4; i++) await w.insert(ROWS);
    await w.flush(90_000);
    const after = await checkpoints(w.vchannels);
    for (const v of w.vchannels) expect(after.get(v)!).toBeGreaterThan(before.get(v)!);
    await w.verify(store);
    expect(node.alive, node.log).toBe(true);
    await node.kill();
  }, 150_000);
});
