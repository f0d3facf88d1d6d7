/**
 * Runs the MetaKV conformance suite against every implementation: etcd (the real server of this
 * test run, never a mock; a private etcd of this file's own for restarts and compaction, so the
 * shared one is never restarted or compacted), the embedded in-memory store and the persistent
 * embedded store (LmdbKV, each test in a temp directory of its own; its real restarts are in
 * test/unit/kv/lmdb-kv.test.ts). Also the etcd-only behaviour that has no embedded counterpart:
 * requests while etcd is down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { EtcdKV, LmdbKV, MemoryKV, type MetaKV } from '../../src/kv/index.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { EtcdServer } from '../harness/etcd.js';
import { metaKvConformance } from './meta-kv.suite.js';

let privateEtcd: Promise<EtcdServer> | undefined;
/** This file's own etcd, started on first use. */
const isolatedEtcd = () => (privateEtcd ??= EtcdServer.launch());

/** Temp directories of the LmdbKV stores, removed after the file (the suite closes the stores). */
const lmdbDirs: string[] = [];

afterAll(async () => {
  if (privateEtcd !== undefined) await (await privateEtcd).close();
  for (const dir of lmdbDirs) rmSync(dir, { recursive: true, force: true });
});

/** Which server each EtcdKV of this file talks to. */
const serverOf = new WeakMap<MetaKV, string[]>();

const etcdKv = (hosts: string[], rootPath: string, isolated = false): EtcdKV => {
  // On the private server, watchers wait about 2 s before reconnecting, so the writes the restart
  // test makes as soon as etcd is back land before the watcher returns: it must catch up on them
  // from its last delivered revision, not merely follow live changes.
  const kv = new EtcdKV({ endpoints: hosts, rootPath, dialTimeoutMs: 2_000, ...(isolated ? { watchBackoff: { minMs: 2_000, maxMs: 2_000 } } : {}) });
  serverOf.set(kv, hosts);
  return kv;
};

metaKvConformance('etcd', {
  create: async (options) => {
    const hosts = options?.isolatedServer ? (await isolatedEtcd()).endpoints : (await endpoints()).etcd;
    return etcdKv(hosts, uniqueName('meta-kv-conformance'), options?.isolatedServer === true);
  },
  peer: async (kv) => etcdKv(serverOf.get(kv)!, (kv as EtcdKV).root),
  restartServer: async () => {
    const server = await isolatedEtcd();
    await server.stop();
    await server.start();
  },
  // Compaction is cluster-wide: done on the private etcd through a plain etcd3 client of its own.
  compact: async (kv, revision) => {
    const client = new Etcd3({ hosts: serverOf.get(kv)! });
    try {
      await client.kv.compact({ revision, physical: true });
    } finally {
      client.close();
    }
  },
});

metaKvConformance('memory', {
  create: async () => new MemoryKV(),
  peer: async (kv) => new MemoryKV({ store: (kv as MemoryKV).store }),
  restartServer: async (kv) => (kv as MemoryKV).simulateDisconnect(300),
  compact: (kv, revision) => (kv as MemoryKV).compact(revision),
});

metaKvConformance('lmdb', {
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidal-lmdb-kv-'));
    lmdbDirs.push(dir);
    return LmdbKV.open({ dir });
  },
  peer: async (kv) => (kv as LmdbKV).peer(),
  // No server to restart (real reopen of the directory: test/unit/kv/lmdb-kv.test.ts): watchers
  // lose their connection and resume, as for the in-memory store.
  restartServer: async (kv) => (kv as LmdbKV).simulateDisconnect(300),
  compact: (kv, revision) => (kv as LmdbKV).compact(revision),
});

describe('meta-kv (etcd) only', () => {
  it('meta-kv (etcd) - requests while etcd is down fail with a retriable BACKEND_UNAVAILABLE, and work again once it is back', async () => {
    const server = await isolatedEtcd();
    const kv = etcdKv(server.endpoints, uniqueName('meta-kv-down'));
    try {
      await kv.put('k', 'before');
      await server.stop();
      let err: unknown;
      try {
        await kv.get('k');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TidalError);
      expect((err as TidalError).code).toBe(ErrorCode.BackendUnavailable);
      expect((err as TidalError).retriable).toBe(true);
      await server.start();
      const deadline = Date.now() + 15_000;
      let value: string | undefined;
      while (value === undefined && Date.now() < deadline) {
        value = await kv.get('k').then(
          (x) => x?.value.toString(),
          // Not back yet (refused, or the channel still reconnecting): ask again.
          () => undefined,
        );
        if (value === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(value).toBe('before');
    } finally {
      // Cleanup only: a failure here must not hide the test's own result.
      await kv.deletePrefix('').catch(() => undefined);
      await kv.close();
    }
  });

  it('meta-kv (etcd) - a lease whose keepalives fail past its TTL (etcd down) emits lost', async () => {
    const server = await isolatedEtcd();
    const kv = etcdKv(server.endpoints, uniqueName('meta-kv-lease-down'));
    try {
      const lease = await kv.grantLease(1);
      await lease.put('session', 'alive');
      const lost = new Promise<Error>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no lost event')), lease.ttlSec * 1000 + 10_000);
        lease.once('lost', (err) => {
          clearTimeout(timer);
          resolve(err);
        });
      });
      await server.stop();
      try {
        const err = await lost;
        expect(err).toBeInstanceOf(TidalError);
        expect((err as TidalError).code).toBe(ErrorCode.LeaseLost);
        expect(lease.lost).toBe(true);
      } finally {
        await server.start();
      }
    } finally {
      await kv.close();
    }
  });

  it('meta-kv (etcd) - keys live under the root path, with a slash added when missing', async () => {
    const root = uniqueName('meta-kv-root');
    const kv = new EtcdKV({ endpoints: (await endpoints()).etcd, rootPath: root });
    const raw = new Etcd3({ hosts: (await endpoints()).etcd });
    try {
      expect(kv.root).toBe(`${root}/`);
      await kv.put('a/b', 'v');
      expect(await raw.get(`${root}/a/b`).string()).toBe('v');
      expect((await kv.range('')).kvs.map((x) => x.key)).toEqual(['a/b']);
    } finally {
      await kv.deletePrefix('');
      await kv.close();
      raw.close();
    }
  });
});
