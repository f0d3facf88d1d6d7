/**
 * Undecodable records on a DML channel (real Kafka, etcd and S3; master and DataNode in this
 * process): bytes that are no StreamMsg, an Insert whose Arrow batch is garbage, an Insert whose
 * timestamps disagree with its row count, and a record whose header type disagrees with its body.
 * Each is skipped with an error log naming its offset and counted (`undecodableRecords`); the
 * Insert messages around them all land in the binlogs, exactly once. GetStatus reports the same
 * counters over gRPC.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataPath, type DataPath } from '../../src/datanode/data-path.js';
import { pchannelOf } from '../../src/datanode/pipeline/messages.js';
import { DataNodeServer } from '../../src/datanode/server.js';
import { MsgType } from '../../src/gen/common.js';
import { DataNodeClient, type GetStatusResponse } from '../../src/gen/datanode.js';
import { StreamMsg } from '../../src/gen/msg.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { createObjectStore } from '../../src/storage/create.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { Workload } from '../fault/datanode-workload.js';
import { insertPayload, testSchema } from '../unit/datanode/helpers.js';
import { cleanupNamespace, masterConfig, masterNamespace, startMaster, type InProcessMaster } from './helpers/master.js';

const ns = masterNamespace('it-dn-bad');
let master: InProcessMaster;
let node: DataNodeServer;
let dataPath: DataPath;
let producer: KafkaMsgStream;
let store: ObjectStore;
/** Every error-level line the DataNode logged. */
const errorLogs: { msg: string; msgId?: string; err?: { message?: string } }[] = [];

beforeAll(async () => {
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  const ep = await endpoints();
  const config = await masterConfig(ns, {
    datanode: { host: '127.0.0.1', port: 0, sessionTtlMs: 2_000, flush: { bufferSizeBytes: 32 * 1024 } },
    storage: { backend: 's3' },
    s3: { endpoint: ep.s3.endpoint, region: ep.s3.region, accessKeyId: ep.s3.accessKeyId, secretAccessKey: ep.s3.secretAccessKey, bucket: uniqueName('it-dn-bad'), rootPath: 'files' },
  });
  const logger = pino({ level: 'error' }, { write: (line: string) => void errorLogs.push(JSON.parse(line) as (typeof errorLogs)[number]) });
  node = await DataNodeServer.start({ config, logger, channels: (deps) => (dataPath = createDataPath(deps)), grpcGraceMs: 1_000 });
  producer = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-dn-bad' });
  store = createObjectStore(config);
});

/** GetStatus of the node over gRPC. */
async function getStatus(): Promise<GetStatusResponse> {
  const client = new DataNodeClient(node.address, credentials.createInsecure());
  try {
    return await new Promise((done, reject) => {
      client.getStatus({ base: undefined }, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (err, res) => (err ? reject(err) : done(res)));
    });
  } finally {
    client.close();
  }
}

afterAll(async () => {
  await node?.close();
  await master?.close();
  await producer?.close();
  await store?.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
  await store?.close();
  await cleanupNamespace(ns);
});

describe('datanode bad records', () => {
  it('datanode-bad-records - four undecodable records on Kafka are skipped, logged with their offsets and counted (in-process and by GetStatus); the rows around them land once', async () => {
    const w = await Workload.create(master.client, producer, 'dn_bad', 1);
    const vchannel = w.vchannels[0]!;
    const pchannel = pchannelOf(vchannel)!;
    const schema = testSchema('dn_bad');
    const insert = () => StreamMsg.decode(insertPayload({ schema, collectionId: w.collectionId, partitionId: 1n, segmentId: 1n, vchannel, pks: [9_000_001n, 9_000_002n], ts: 1n }).payload);

    const brokenArrow = insert();
    if (brokenArrow.body?.$case === 'insert') brokenArrow.body.value.arrowBatch = new Uint8Array([0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0, 1, 2, 3]);
    const wrongTimestamps = insert();
    if (wrongTimestamps.body?.$case === 'insert') wrongTimestamps.body.value.timestamps = new Uint8Array(8);
    const wrongType = insert();
    wrongType.msgType = MsgType.Delete;
    const bad = [Buffer.from('\x0a\xff\xff\xff garbage, not a StreamMsg'), StreamMsg.encode(brokenArrow).finish(), StreamMsg.encode(wrongTimestamps).finish(), StreamMsg.encode(wrongType).finish()];

    const badOffsets: bigint[] = [];
    for (let m = 0; m < 12; m++) {
      await w.insert(100);
      if (m % 3 === 1) {
        const [pos] = await producer.produce(pchannel, [{ payload: bad[badOffsets.length]! }]);
        badOffsets.push(pos!.msgId);
      }
    }
    expect(badOffsets.length).toBe(4);
    await w.flush(60_000);

    await w.verify(store);
    expect(dataPath.metrics().counters.undecodableRecords).toBe(4);
    expect(dataPath.metrics().counters.insertRows).toBe(1_200);
    const logged = errorLogs.filter((l) => /undecodable record/.test(l.msg));
    expect(logged.map((l) => l.msgId).sort()).toEqual(badOffsets.map(String).sort());
    expect(logged.every((l) => typeof l.err?.message === 'string' && l.err.message.length > 0)).toBe(true);

    const res = await getStatus();
    expect(res.status?.code).toBe(0);
    const c = res.counters;
    expect(c).toBeDefined();
    expect(c?.undecodableRecords).toBe(4n);
    expect(c?.insertMessages).toBe(12n);
    expect(c?.insertRows).toBe(1_200n);
    // Every record the test produced was read: 12 inserts, the 4 bad records, and the ticks.
    expect(c?.consumedRecords).toBeGreaterThanOrEqual(16n);
    expect(c?.syncedRows).toBe(1_200n);
    expect(c?.syncsCompleted).toBeGreaterThan(0n);
    expect([c?.skippedRows, c?.lateSkippedRows, c?.syncsFailed, c?.flowgraphFailures]).toEqual([0n, 0n, 0n, 0n]);
  });
});
