/**
 * The DataNode data path on the real servers: a MasterServer and a DataNodeServer (running
 * DataPath) in this process, on the harness's etcd, Kafka and S3. Insert messages are produced
 * onto the Kafka pchannels as the proxy shapes them; after Flush the binlogs are read back from S3
 * with plain apache-arrow and the positions in etcd are compared with the Kafka offsets.
 */
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TidalConfig } from '../../src/common/config.js';
import { silentLogger } from '../../src/common/log.js';
import { createDataPath, type DataPath } from '../../src/datanode/data-path.js';
import { pchannelOf } from '../../src/datanode/pipeline/messages.js';
import { DataNodeServer } from '../../src/datanode/server.js';
import { MsgPosition } from '../../src/gen/common.js';
import { SegmentState } from '../../src/gen/segment.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { KafkaMsgStream } from '../../src/mq/index.js';
import { readStatsLog } from '../../src/storage/binlog/index.js';
import { createObjectStore } from '../../src/storage/create.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { DIM, insertPayload, testSchema, vectorOf, waitFor } from '../unit/datanode/helpers.js';
import { cleanupNamespace, masterConfig, masterNamespace, startMaster, type InProcessMaster } from './helpers/master.js';

const ns = masterNamespace('it-dn-ingest');
let master: InProcessMaster;
let config: TidalConfig;
let node: DataNodeServer;
let dataPath: DataPath;
let producer: KafkaMsgStream;
let store: ObjectStore;
let kv: EtcdKV;

beforeAll(async () => {
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  const ep = await endpoints();
  config = await masterConfig(ns, {
    datanode: { host: '127.0.0.1', port: 0, sessionTtlMs: 2_000, flush: { bufferSizeBytes: 64 * 1024 } },
    storage: { backend: 's3' },
    s3: { endpoint: ep.s3.endpoint, region: ep.s3.region, accessKeyId: ep.s3.accessKeyId, secretAccessKey: ep.s3.secretAccessKey, bucket: uniqueName('it-dn'), rootPath: 'files' },
  });
  node = await DataNodeServer.start({ config, logger: silentLogger, channels: (deps) => (dataPath = createDataPath(deps)), grpcGraceMs: 1_000 });
  producer = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-dn-ingest' });
  store = createObjectStore(config);
  kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
});

afterAll(async () => {
  await node?.close();
  await master?.close();
  await producer?.close();
  await store?.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
  await store?.close();
  await kv?.close();
  await cleanupNamespace(ns);
});

describe('datanode ingest', () => {
  it('datanode-ingest - N rows in M Insert messages over 2 shards, then Flush: S3 binlogs hold exactly the rows; stats logs and etcd positions match Kafka', async () => {
    const schema = testSchema('ingest');
    const created = await master.client.call('createCollection', { collectionName: schema.name, schema, shardsNum: 2 });
    const { collectionId, vchannels } = created;
    await waitFor('vchannels watched', () => dataPath?.status().length === 2, 20_000);

    const expected = new Map<bigint, bigint>();
    const lastOffset = new Map<bigint, bigint>();
    const segOf = new Map<string, bigint>();
    const messages = 16;
    const rowsPerMessage = 300;
    for (let m = 0; m < messages; m++) {
      const vchannel = vchannels[m % 2]!;
      const a = (await master.client.call('assignSegmentId', { segmentIdRequests: [{ count: rowsPerMessage, channelName: vchannel, collectionId }] })).segIdAssignments[0]!;
      const ts = (await master.client.call('allocTimestamp', { count: 1 })).timestamp;
      const pks = Array.from({ length: rowsPerMessage }, (_, i) => BigInt(m * rowsPerMessage + i + 1));
      const msg = insertPayload({ schema, collectionId, partitionId: a.partitionId, segmentId: a.segmentId, vchannel, pks, ts });
      const batch = m === 7 ? [{ payload: Buffer.from('garbage, not a StreamMsg') }, msg] : [msg];
      const positions = await producer.produce(pchannelOf(vchannel)!, batch);
      for (const pk of pks) expected.set(pk, ts);
      lastOffset.set(a.segmentId, positions[positions.length - 1]!.msgId);
      segOf.set(vchannel, a.segmentId);
    }

    await master.client.call('flush', { collectionId });
    const segments = (await master.client.call('showSegments', { collectionId, includeBinlogs: true })).segments;
    expect(segments.length).toBe(2);
    const seen = new Set<bigint>();
    for (const s of segments) {
      expect(s.state).toBe(SegmentState.Flushed);
      expect(s.insertLogs.length).toBeGreaterThan(1);
      for (const [i, log] of s.insertLogs.entries()) {
        expect(log.logPath).toMatch(new RegExp(`^insert_log/${collectionId}/${s.partitionId}/${s.segmentId}/\\d+\\.arrow$`));
        const t = tableFromIPC(await store.get(log.logPath));
        const pks = t.getChild('pk')!.toArray() as BigInt64Array;
        const ts = t.getChild('Timestamp')!.toArray() as BigUint64Array;
        const vec = t.getChild('vec')!;
        for (let r = 0; r < t.numRows; r++) {
          const pk = pks[r]!;
          expect(seen.has(pk), `pk ${pk} twice`).toBe(false);
          seen.add(pk);
          expect(ts[r]).toBe(expected.get(pk));
          const v = (vec.get(r) as { toArray(): Float32Array }).toArray();
          expect(Buffer.from(Float32Array.from(v).buffer).equals(Buffer.from(vectorOf(pk).buffer))).toBe(true);
          expect(v.length).toBe(DIM);
        }
        const { stats } = readStatsLog(await store.get(s.statsLogs[i]!.logPath));
        expect(stats.rowCount).toBe(t.numRows);
        expect(stats.min).toBe(pks.reduce((a, x) => (x < a ? x : a)));
        expect(stats.max).toBe(pks.reduce((a, x) => (x > a ? x : a)));
      }
      expect(s.dmlPosition?.msgId).toBe(lastOffset.get(s.segmentId));
      expect(s.numRows).toBe(BigInt((messages / 2) * rowsPerMessage));
    }
    expect(seen.size).toBe(expected.size);

    // etcd: the channel checkpoint of each vchannel is past its last Insert and within the topic.
    for (const v of vchannels) {
      const raw = await kv.get(`channel/checkpoint/${v}`);
      expect(raw).toBeDefined();
      const cp = MsgPosition.decode(raw!.value);
      const latest = (await producer.offsets(pchannelOf(v)!)).latest;
      expect(cp.channelName).toBe(pchannelOf(v));
      expect(cp.msgId).toBeGreaterThanOrEqual(lastOffset.get(segOf.get(v)!)!);
      expect(cp.msgId).toBeLessThan(latest);
    }
    expect(dataPath.metrics().counters.undecodableRecords).toBe(1);
  });
});
