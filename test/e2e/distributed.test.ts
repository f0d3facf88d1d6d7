/**
 * End to end, distributed: a `tidal master` process and a `tidal datanode` process on the real
 * etcd, Kafka and S3, and a proxy (TidalClient) in this process producing to Kafka. Rows go in
 * several batches over 2 shards, then a delete; after Flush the binlogs ShowSegments lists are
 * read back from S3 and hold exactly the inserted rows (pk, row id, timestamp, vector bytes) and
 * the deletes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { TidalClient } from '../../src/proxy/index.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { createObjectStore } from '../../src/storage/create.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { cleanupNamespace, masterNamespace } from '../integration/helpers/master.js';
import { collectionRequest, expectExactly, Ledger, pkRange, readBinlogs } from './helpers/rows.js';
import { DATANODE_LISTENING, killAllTidalProcesses, MASTER_LISTENING, TidalProcess } from './helpers/tidal-process.js';

const ns = masterNamespace('e2e-dist');
const bucket = uniqueName('e2e-dist');
let env: Record<string, string>;
let master: TidalProcess;
let dataNode: TidalProcess;
let masterClient: MasterClient;
let stream: KafkaMsgStream;
let client: TidalClient;
let store: ObjectStore;

beforeAll(async () => {
  const ep = await endpoints();
  env = {
    TIDAL_KV_BACKEND: 'etcd',
    TIDAL_MQ_BACKEND: 'kafka',
    TIDAL_STORAGE_BACKEND: 's3',
    TIDAL_ETCD_ENDPOINTS: ep.etcd.join(','),
    TIDAL_ETCD_ROOT_PATH: ns.rootPath,
    TIDAL_KAFKA_BROKERS: ep.kafka.join(','),
    TIDAL_S3_ENDPOINT: ep.s3.endpoint,
    TIDAL_S3_REGION: ep.s3.region,
    TIDAL_S3_ACCESS_KEY_ID: ep.s3.accessKeyId,
    TIDAL_S3_SECRET_ACCESS_KEY: ep.s3.secretAccessKey,
    TIDAL_S3_BUCKET: bucket,
    TIDAL_S3_ROOT_PATH: 'files',
    TIDAL_MASTER_HOST: '127.0.0.1',
    TIDAL_MASTER_PORT: '0',
    TIDAL_MASTER_CHANNEL_PREFIX: ns.channelPrefix,
    TIDAL_MASTER_DML_CHANNEL_NUM: '2',
    TIDAL_MASTER_SESSION_TTL_MS: '2000',
    TIDAL_MASTER_TIME_TICK_INTERVAL_MS: '100',
    TIDAL_MASTER_SEGMENT_ALLOCATION_EXPIRE_MS: '500',
    TIDAL_DATANODE_HOST: '127.0.0.1',
    TIDAL_DATANODE_PORT: '0',
    TIDAL_DATANODE_SESSION_TTL_MS: '2000',
    // Small buffers: each segment is synced in several insert logs.
    TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(256 * 1024),
    TIDAL_LOG_LEVEL: 'warn',
  };
  master = await TidalProcess.spawn(['master'], env, MASTER_LISTENING);
  dataNode = await TidalProcess.spawn(['datanode'], env, DATANODE_LISTENING);
  const address = `127.0.0.1:${master.match![1]}`;
  masterClient = new MasterClient(address, { deadlineMs: 30_000 });
  stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-e2e-dist' });
  client = await TidalClient.connect({ master: address, stream });
  store = createObjectStore(loadConfig({ env: {}, overrides: { storage: { backend: 's3' }, s3: { endpoint: ep.s3.endpoint, region: ep.s3.region, accessKeyId: ep.s3.accessKeyId, secretAccessKey: ep.s3.secretAccessKey, bucket, rootPath: 'files' } } }));
});

afterAll(async () => {
  await client?.close();
  masterClient?.close();
  await stream?.close();
  await dataNode?.stop('SIGTERM');
  await master?.stop('SIGTERM');
  await killAllTidalProcesses();
  await store?.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
  await store?.close();
  await cleanupNamespace(ns);
});

describe('e2e: distributed (master and DataNode processes, etcd + Kafka + S3)', () => {
  it('e2e-distributed - 24,000 rows in 12 batches over 2 shards and a delete, flushed: the S3 binlogs hold exactly those rows and deletes', { timeout: 180_000 }, async () => {
    const created = await masterClient.call('createCollection', collectionRequest('e2e_dist', 2));
    const { schema } = await masterClient.call('describeCollection', { collectionName: 'e2e_dist' });
    const ledger = new Ledger('e2e_dist');
    const BATCHES = 12;
    const BATCH_ROWS = 2_000;
    for (let b = 0; b < BATCHES; b++) await ledger.insert(client, pkRange(b * BATCH_ROWS, BATCH_ROWS));
    await ledger.delete(client, [...pkRange(0, 50), ...pkRange(BATCH_ROWS * 5 + 3, 50)]);

    await masterClient.call('flush', { collectionId: created.collectionId });
    const found = await readBinlogs(masterClient, store, created.collectionId, schema!);
    expect(found.segments).toBeGreaterThanOrEqual(2);
    expect(found.insertLogs).toBeGreaterThan(2);
    expect(found.deltaLogs).toBeGreaterThanOrEqual(1);
    expectExactly(found, ledger);
    expect(ledger.rows.size).toBe(BATCHES * BATCH_ROWS);

    // Both processes shut down cleanly on SIGTERM.
    expect(await dataNode.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await master.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
