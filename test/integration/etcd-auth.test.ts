/**
 * EtcdKV against an etcd with authentication enabled (`etcd.username` / `etcd.password`): a
 * private etcd of this file's own, since enabling auth on the shared one would lock every other
 * test out. The user may read and write only under its prefix, as an operator would set it up.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { createMetaKV } from '../../src/kv/create.js';
import { EtcdKV } from '../../src/kv/index.js';
import { EtcdServer } from '../harness/etcd.js';
import { rejection } from '../helpers/rejection.js';

const ROOT_PASSWORD = 'root-secret';
const USER = 'tidal';
const PASSWORD = 'tidal-secret';
const PREFIX = 'tidal-auth';

let server: EtcdServer;

beforeAll(async () => {
  server = await EtcdServer.launch();
  const admin = new Etcd3({ hosts: server.endpoints });
  try {
    // etcd enables auth only once a root user with the root role exists.
    await admin.user('root').create(ROOT_PASSWORD);
    await admin.user('root').addRole('root');
    await admin.role('tidal-rw').create();
    await admin.role('tidal-rw').grant({ permission: 'Readwrite', range: admin.range({ prefix: `${PREFIX}/` }) });
    await admin.user(USER).create(PASSWORD);
    await admin.user(USER).addRole('tidal-rw');
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('etcd with authentication', () => {
  it('etcd-auth - with the user and password from the config, reads, writes, transactions, watches and leases work under the root path', async () => {
    const config = loadConfig({
      env: {},
      overrides: { kv: { backend: 'etcd' }, etcd: { endpoints: server.endpoints, rootPath: `${PREFIX}/a`, username: USER, password: PASSWORD } },
    });
    const kv = createMetaKV(config);
    try {
      const watcher = kv.watch('w/');
      await watcher.ready();
      const seen = new Promise<string[]>((resolve) => watcher.once('events', (events) => resolve(events.map((e) => `${e.type} ${e.key}`))));
      await kv.put('w/1', 'one');
      expect(await seen).toEqual(['put w/1']);
      await watcher.close();

      expect((await kv.get('w/1'))?.value.toString()).toBe('one');
      const res = await kv.txn({ compare: [{ key: 'w/1', target: 'value', op: '==', value: 'one' }], success: [{ type: 'put', key: 'w/2', value: 'two' }] });
      expect(res.succeeded).toBe(true);
      expect((await kv.range('w/')).kvs.map((x) => x.key)).toEqual(['w/1', 'w/2']);

      const lease = await kv.grantLease(5);
      await lease.put('session', 'alive');
      await new Promise<void>((resolve) => lease.once('keepalive', resolve));
      expect((await kv.get('session'))?.lease).toBe(lease.id);
      await lease.revoke();
      expect(await kv.get('session')).toBeUndefined();
    } finally {
      await kv.deletePrefix('').catch(() => undefined);
      await kv.close();
    }
  });

  it('etcd-auth - a wrong password, no credentials, and a key outside the user’s permissions fail with a clear, non-retriable error', async () => {
    const wrong = new EtcdKV({ endpoints: server.endpoints, rootPath: `${PREFIX}/b`, auth: { username: USER, password: 'not-it' } });
    const anonymous = new EtcdKV({ endpoints: server.endpoints, rootPath: `${PREFIX}/b` });
    const outside = new EtcdKV({ endpoints: server.endpoints, rootPath: 'elsewhere', auth: { username: USER, password: PASSWORD } });
    try {
      const bad = await rejection(wrong.put('k', 'v'));
      expect(bad.code).toBe(ErrorCode.BackendUnavailable);
      expect(bad.retriable).toBe(false);
      expect(bad.message).toMatch(/^put key k: .*authentication failed/);
      expect(bad.message).not.toContain('not-it');

      const none = await rejection(anonymous.get('k'));
      expect(none.retriable).toBe(false);
      expect(none.message).toMatch(/^get key k: .*user name is empty/);

      const denied = await rejection(outside.put('k', 'v'));
      expect(denied.retriable).toBe(false);
      expect(denied.message).toMatch(/^put key k: .*permission denied/);
    } finally {
      await Promise.all([wrong.close(), anonymous.close(), outside.close()]);
    }
  });

  it('etcd-auth - a password without a username is refused before anything is sent', () => {
    let err: unknown;
    try {
      new EtcdKV({ endpoints: server.endpoints, rootPath: PREFIX, auth: { username: '', password: PASSWORD } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as TidalError).message).toBe('an etcd password was given without a username (etcd.username)');
  });

  it('etcd-auth - after etcd restarts (its tokens are gone), requests, watches and leases carry on with a new token', async () => {
    const kv = new EtcdKV({ endpoints: server.endpoints, rootPath: `${PREFIX}/c`, dialTimeoutMs: 2_000, auth: { username: USER, password: PASSWORD } });
    try {
      await kv.put('k', 'before');
      const watcher = kv.watch('k');
      await watcher.ready();
      const lease = await kv.grantLease(10);
      let lost: Error | undefined;
      lease.on('lost', (e) => (lost = e));

      await server.stop();
      await server.start();

      // The watcher resumes and delivers a write made after the restart.
      const seen = new Promise<string>((resolve) => watcher.on('events', (events) => resolve(events[0]!.value.toString())));
      const deadline = Date.now() + 20_000;
      let wrote = false;
      while (!wrote && Date.now() < deadline) {
        wrote = await kv.put('k', 'after').then(
          () => true,
          // etcd still coming back (refused, no leader yet): try again.
          () => false,
        );
        if (!wrote) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(wrote).toBe(true);
      expect(await seen).toBe('after');

      // The lease is kept alive across the restart (its TTL, 10 s, outlasts the restart).
      await new Promise<void>((resolve) => lease.once('keepalive', resolve));
      expect(lost).toBeUndefined();
      await watcher.close();
      await lease.revoke();
    } finally {
      await kv.deletePrefix('').catch(() => undefined);
      await kv.close();
    }
  }, 60_000);
});
