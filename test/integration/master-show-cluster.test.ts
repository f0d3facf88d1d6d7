/**
 * ShowChannels and ShowNodes on real etcd, Kafka and S3: an in-process master and a DataNode with
 * its real data path; rows inserted through the proxy client move the checkpoint, and the lag
 * drops back once the DataNode has consumed them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TidalConfig } from '../../src/common/config.js';
import { silentLogger } from '../../src/common/log.js';
import { createDataPath } from '../../src/datanode/data-path.js';
import { DataNodeServer } from '../../src/datanode/server.js';
import { DataType } from '../../src/gen/schema.js';
import { KafkaMsgStream } from '../../src/mq/kafka/kafka-msg-stream.js';
import { MasterConnection } from '../../src/cli/master-connection.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { MasterSession, masterSessionKey } from '../../src/master/master-session.js';
import { TidalClient } from '../../src/proxy/tidal-client.js';
import { createObjectStore } from '../../src/storage/create.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { cleanupNamespace, ErrorCode, failure, masterConfig, masterNamespace, startMaster, type InProcessMaster } from './helpers/master.js';

const ns = masterNamespace('it-show');
let master: InProcessMaster;
let conn: MasterConnection;
let dnConfig: TidalConfig;
let node: DataNodeServer;
let stream: KafkaMsgStream;

const schema = {
  name: 'c',
  description: '',
  autoId: false,
  version: 0,
  fields: [
    { fieldId: 0n, name: 'id', isPrimaryKey: true, description: '', dataType: DataType.Int64, dim: 0, maxLength: 0, autoId: false, nullable: false },
    { fieldId: 0n, name: 'vec', isPrimaryKey: false, description: '', dataType: DataType.FloatVector, dim: 4, maxLength: 0, autoId: false, nullable: false },
  ],
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  master = await startMaster(ns, { overrides: { master: { timeTickIntervalMs: 100, segment: { allocationExpireMs: 500 } } } });
  conn = await MasterConnection.connect(master.address);
  const ep = await endpoints();
  dnConfig = await masterConfig(ns, {
    datanode: { host: '127.0.0.1', port: 0, sessionTtlMs: 2_000 },
    storage: { backend: 's3' },
    s3: { endpoint: ep.s3.endpoint, region: ep.s3.region, accessKeyId: ep.s3.accessKeyId, secretAccessKey: ep.s3.secretAccessKey, bucket: uniqueName('it-show'), rootPath: 'files' },
  });
  node = await DataNodeServer.start({ config: dnConfig, logger: silentLogger, channels: createDataPath, grpcGraceMs: 1_000 });
  stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-show' });
});

afterAll(async () => {
  conn?.close();
  await node?.close();
  await master?.close();
  await stream?.close();
  if (dnConfig !== undefined) {
    const store = createObjectStore(dnConfig);
    await store.deletePrefix('').catch(() => undefined); // best-effort: the bucket is unique to this run
    await store.close();
  }
  await cleanupNamespace(ns);
});

describe('master ShowNodes', () => {
  it('master-show - lists the leader master and the live DataNode with the vchannels it owns', async () => {
    await conn.client.call('createCollection', { collectionName: 'nodes_c', schema: { ...schema, name: 'nodes_c' }, shardsNum: 2 });
    const desc = await conn.client.call('describeCollection', { collectionName: 'nodes_c' });
    const res = await until('both vchannels owned by the DataNode', async () => {
      const r = await conn.client.call('showNodes', {});
      const dn = r.nodes.find((n) => n.role === 'datanode');
      return dn !== undefined && desc.vchannels.every((v) => dn.channels.includes(v)) ? r : undefined;
    });
    const masters = res.nodes.filter((n) => n.role === 'master');
    expect(masters).toEqual([{ nodeId: master.server.serverId, role: 'master', address: master.server.address, leader: true, channels: [] }]);
    const dns = res.nodes.filter((n) => n.role === 'datanode');
    expect(dns).toHaveLength(1);
    expect(dns[0]!.nodeId).toBe(node.serverId);
    expect(dns[0]!.address).toBe(`127.0.0.1:${node.port}`);
    expect(dns[0]!.channels).toEqual([...desc.vchannels].sort());
    // Masters first, then DataNodes.
    expect(res.nodes.map((n) => n.role)).toEqual(['master', 'datanode']);
  });

  it('master-show - filters by role and rejects an unknown role', async () => {
    const dn = await conn.client.call('showNodes', { role: 'datanode' });
    expect(dn.nodes.every((n) => n.role === 'datanode')).toBe(true);
    const ms = await conn.client.call('showNodes', { role: 'master' });
    expect(ms.nodes.map((n) => n.role)).toEqual(['master']);
    expect(await failure(conn.client.call('showNodes', { role: 'proxy' }))).toEqual({
      code: ErrorCode.InvalidArgument,
      message: 'role must be one of master, datanode (or empty for both), got "proxy"',
    });
  });
});

describe('master sessions', () => {
  it('master-show - a master whose session lease is revoked behind its back registers again', async () => {
    const ep = await endpoints();
    const kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
    try {
      const key = masterSessionKey(master.server.serverId);
      const before = await kv.get(key);
      expect(before?.lease).toBeDefined();
      // What an etcd outage longer than the TTL does: the lease and the key are gone.
      const { Etcd3 } = await import('etcd3');
      const raw = new Etcd3({ hosts: ep.etcd });
      try {
        await raw.leaseClient.leaseRevoke({ ID: before!.lease! });
      } finally {
        raw.close();
      }
      const again = await until('the session key under a new lease', async () => {
        const kvNow = await kv.get(key);
        return kvNow !== undefined && kvNow.lease !== before!.lease ? kvNow : undefined;
      });
      expect(JSON.parse(again.value.toString())).toEqual({ serverId: master.server.serverId.toString(), address: master.server.address });
      const nodes = await conn.client.call('showNodes', { role: 'master' });
      expect(nodes.nodes.map((n) => n.nodeId)).toEqual([master.server.serverId]);
    } finally {
      await kv.close();
    }
  });

  it('master-show - a second master server registers its session: listed as a follower, gone once it closes', async () => {
    const follower = await startMaster(ns, { waitForLeader: false });
    try {
      const listed = await until('the follower in ShowNodes', async () => {
        const r = await conn.client.call('showNodes', { role: 'master' });
        return r.nodes.some((n) => n.nodeId === follower.server.serverId) ? r : undefined;
      });
      expect(listed.nodes).toEqual([
        { nodeId: master.server.serverId, role: 'master', address: master.server.address, leader: true, channels: [] },
        { nodeId: follower.server.serverId, role: 'master', address: follower.server.address, leader: false, channels: [] },
      ]);
    } finally {
      await follower.close();
    }
    const after = await conn.client.call('showNodes', { role: 'master' });
    expect(after.nodes.map((n) => n.nodeId)).toEqual([master.server.serverId]);
  });

  it('master-show - a master with a session is listed as a follower until its session is revoked', async () => {
    const ep = await endpoints();
    const kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
    try {
      const session = await MasterSession.register({ kv, serverId: 999_999n, address: 'follower.example:53100', ttlSec: 5 });
      const f = await failure(MasterSession.register({ kv, serverId: 999_999n, address: 'other:1', ttlSec: 5 }));
      expect(f).toEqual({ code: ErrorCode.FailedPrecondition, message: 'session key session/master/999999 already exists: server id 999999 is in use' });
      const listed = await conn.client.call('showNodes', { role: 'master' });
      expect(listed.nodes).toEqual([
        { nodeId: master.server.serverId, role: 'master', address: master.server.address, leader: true, channels: [] },
        { nodeId: 999_999n, role: 'master', address: 'follower.example:53100', leader: false, channels: [] },
      ]);
      await session.revoke();
      await session.revoke();
      const after = await conn.client.call('showNodes', { role: 'master' });
      expect(after.nodes.map((n) => n.nodeId)).toEqual([master.server.serverId]);
    } finally {
      await kv.close();
    }
  });
});

describe('master ShowChannels', () => {
  it('master-show - reports owner, checkpoint and lag, and the checkpoint follows inserted rows', async () => {
    await conn.client.call('createCollection', { collectionName: 'chan_c', schema: { ...schema, name: 'chan_c' }, shardsNum: 2 });
    const desc = await conn.client.call('describeCollection', { collectionName: 'chan_c' });
    const before = await until('the vchannels owned', async () => {
      const r = await conn.client.call('showChannels', { collectionName: 'chan_c' });
      return r.channels.every((c) => c.nodeId === node.serverId) ? r : undefined;
    });
    expect(before.channels.map((c) => c.vchannel)).toEqual([...desc.vchannels].sort());
    for (const c of before.channels) {
      const i = desc.vchannels.indexOf(c.vchannel);
      expect(c).toMatchObject({ pchannel: desc.pchannels[i], collectionId: desc.collectionId, collectionName: 'chan_c', nodeAddress: `127.0.0.1:${node.port}` });
      expect(c.checkpoint).toBeDefined();
      expect(c.latestOffset).toBeGreaterThan(0n);
      expect(c.lagMessages).toBeGreaterThanOrEqual(0n);
    }

    const client = await TidalClient.connect({ master: master.address, stream, logger: silentLogger });
    try {
      const n = 200;
      const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i + 1));
      const vec = Float32Array.from({ length: n * 4 }, (_, i) => i / 10);
      const res = await client.insert('chan_c', { columns: { id: ids, vec } });
      const lastOffset = res.positions.reduce((m, p) => (p.msgId > m ? p.msgId : m), -1n);
      // Once the DataNode has consumed and checkpointed past the inserts, every vchannel's stored
      // checkpoint is beyond the last insert message and its lag is only the ticks after it.
      const after = await until('checkpoints past the inserted rows', async () => {
        await conn.client.call('flush', { collectionName: 'chan_c' });
        const r = await conn.client.call('showChannels', { collectionName: 'chan_c' });
        return r.channels.every((c) => c.checkpointStored && c.checkpoint!.msgId >= lastOffset) ? r : undefined;
      });
      for (const c of after.channels) {
        expect(c.lagMessages).toBe(c.latestOffset - 1n - c.checkpoint!.msgId < 0n ? 0n : c.latestOffset - 1n - c.checkpoint!.msgId);
        expect(c.lagMs).toBeGreaterThanOrEqual(0n);
      }
    } finally {
      await client.close();
    }
  });

  it('master-show - lists every collection when none is named, ordered by collection then vchannel', async () => {
    const res = await conn.client.call('showChannels', {});
    const names = res.channels.map((c) => c.collectionName);
    expect(new Set(names)).toEqual(new Set(['chan_c', 'nodes_c']));
    expect(names).toEqual([...names].sort());
  });

  it('master-show - answers NOT_FOUND for an unknown collection', async () => {
    const f = await failure(conn.client.call('showChannels', { collectionName: 'no_such' }));
    expect(f.code).toBe(ErrorCode.NotFound);
    expect(f.message).toContain('no_such');
  });
});
