/**
 * LmdbKV, the persistent embedded MetaKV, across close and reopen of its directory (in this
 * process; SIGKILLed and competing processes are in lmdb-kv-process.test.ts). The MetaKV
 * behaviour itself is the conformance suite's (test/conformance/meta-kv.test.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/common/config.js';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { createMetaKV } from '../../../src/kv/create.js';
import { LmdbKV, LOCK_FILE, type MetaKV, type WatchEvent, type Watcher } from '../../../src/kv/index.js';

const dirs: string[] = [];
const open: MetaKV[] = [];
const watchers: Watcher[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidal-lmdb-kv-unit-'));
  dirs.push(dir);
  return dir;
}

function openKv(dir: string, historyRevisions?: number): LmdbKV {
  const kv = LmdbKV.open({ dir, ...(historyRevisions === undefined ? {} : { historyRevisions }) });
  open.push(kv);
  return kv;
}

const show = (e: WatchEvent) => (e.type === 'put' ? `put ${e.key}=${e.value.toString('utf8')}@${e.modRevision}` : `delete ${e.key}@${e.modRevision}`);

/** Everything a watch from `startRevision` delivers until `count` events (or a compaction) arrived. */
async function watchAll(kv: MetaKV, prefix: string, startRevision: number, count: number): Promise<{ events: string[]; compacted: number[] }> {
  const w = kv.watch(prefix, { startRevision });
  watchers.push(w);
  const events: string[] = [];
  const compacted: number[] = [];
  w.on('events', (evs) => events.push(...evs.map(show)));
  w.on('compacted', (rev) => compacted.push(rev));
  const deadline = Date.now() + 10_000;
  while (events.length < count && compacted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { events, compacted };
}

async function thrown(fn: () => unknown): Promise<TidalError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TidalError);
    return err as TidalError;
  }
  throw new Error('expected an error');
}

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  for (const kv of open.splice(0)) await kv.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('lmdb-kv', () => {
  it('lmdb-kv - data, revisions, versions and history survive close and reopen; revisions keep counting', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    const r1 = await kv.put('m/a', '1');
    const r2 = await kv.put('m/b', Buffer.from([0, 1, 2, 255]));
    const r3 = await kv.put('m/a', '2');
    const t = await kv.txn({ compare: [{ key: 'm/a', target: 'version', op: '==', version: 2 }], success: [{ type: 'put', key: 'm/c', value: '' }, { type: 'delete', key: 'm/b' }] });
    expect(t.succeeded).toBe(true);
    const long = `m/${'x'.repeat(5000)}`;
    const r5 = await kv.put(long, 'long key');
    await kv.close();

    const again = openKv(dir);
    expect(await again.revision()).toBe(r5);
    expect(await again.get('m/a')).toMatchObject({ createRevision: r1, modRevision: r3, version: 2 });
    expect((await again.get('m/a'))?.value.toString()).toBe('2');
    expect(await again.get('m/b')).toBeUndefined();
    expect((await again.get('m/c'))?.value).toEqual(Buffer.alloc(0));
    expect((await again.get(long))?.value.toString()).toBe('long key');
    expect((await again.range('m/')).kvs.map((x) => x.key)).toEqual(['m/a', 'm/c', long]);
    const history = await watchAll(again, 'm/', r1, 6);
    expect(history.events).toEqual([`put m/a=1@${r1}`, `put m/b=\u0000\u0001\u0002\ufffd@${r2}`, `put m/a=2@${r3}`, `put m/c=@${t.revision}`, `delete m/b@${t.revision}`, `put ${long}=long key@${r5}`]);
    expect(await again.put('m/d', '4')).toBe(r5 + 1);
  });

  it('lmdb-kv - history is bounded and its compaction survives reopen: below it a watch reports compacted', async () => {
    const dir = tempDir();
    const kv = openKv(dir, 10);
    const first = await kv.put('h/0', '0');
    for (let i = 1; i < 40; i++) await kv.put(`h/${i}`, String(i));
    const last = await kv.revision();
    await kv.close();

    const again = openKv(dir, 10);
    expect(await again.revision()).toBe(last);
    const old = await watchAll(again, 'h/', first, 1);
    expect(old.events).toEqual([]);
    expect(old.compacted).toHaveLength(1);
    const compactRevision = old.compacted[0]!;
    expect(compactRevision).toBeGreaterThan(first);
    expect(last - compactRevision).toBeLessThanOrEqual(11);
    const kept = await watchAll(again, 'h/', compactRevision, last - compactRevision + 1);
    expect(kept.events).toHaveLength(last - compactRevision + 1);
    expect(kept.compacted).toEqual([]);
    expect((await again.range('h/')).kvs).toHaveLength(40);
    // On disk too, history below the compaction revision is gone.
    await again.close();
    const { open: openLmdb } = await import('lmdb');
    const root = openLmdb({ path: join(dir, 'meta.mdb'), maxDbs: 8 });
    const rows = [...root.openDB<unknown, number>('history', {}).getKeys({})];
    await root.close();
    expect(rows).toEqual(Array.from({ length: last - compactRevision + 1 }, (_, i) => compactRevision + i));
  });

  it('lmdb-kv - an explicit compaction is durable', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    const r1 = await kv.put('c/a', '1');
    const r2 = await kv.put('c/b', '2');
    await kv.compact(r2);
    await kv.close();
    const again = openKv(dir);
    expect((await watchAll(again, 'c/', r1, 1)).compacted).toEqual([r2]);
    expect((await watchAll(again, 'c/', r2, 1)).events).toEqual([`put c/b=2@${r2}`]);
  });

  it('lmdb-kv - leases of the previous process are revoked on open, at new revisions that watchers see', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    const lease = await kv.grantLease(3600);
    await lease.put('s/one', '1');
    await kv.put('s/two', '2', { lease: lease.id });
    const plain = await kv.put('s/plain', 'stays');
    const unusedLease = await kv.grantLease(3600);
    // close() releases leases (a crash, as far as they are concerned): they would expire only after their TTL.
    await kv.close();

    const again = openKv(dir);
    expect((await again.range('s/')).kvs.map((x) => x.key)).toEqual(['s/plain']);
    expect(await again.revision()).toBe(plain + 1);
    const seen = await watchAll(again, 's/', plain + 1, 2);
    expect(seen.events).toEqual([`delete s/one@${plain + 1}`, `delete s/two@${plain + 1}`]);
    for (const id of [lease.id, unusedLease.id]) {
      expect((await thrown(() => again.put('s/late', 'x', { lease: id }))).code).toBe(ErrorCode.LeaseLost);
    }
    // Nothing left to revoke: a further reopen changes nothing.
    await again.close();
    const third = openKv(dir);
    expect(await third.revision()).toBe(plain + 1);
    const fresh = await third.grantLease(5);
    expect([lease.id, unusedLease.id]).not.toContain(fresh.id);
  });

  it('lmdb-kv - a second open of a held directory fails at once naming the directory and the pid', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    const err = await thrown(() => LmdbKV.open({ dir }));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toContain(dir);
    expect(err.message).toContain(`pid ${process.pid}`);
    expect(err.context).toMatchObject({ dir, pid: process.pid });
    // A peer is the way to a second client; the first keeps working.
    const peer = kv.peer();
    open.push(peer);
    await peer.put('k', 'v');
    expect((await kv.get('k'))?.value.toString()).toBe('v');
    // Closing every client gives the directory back.
    await kv.close();
    await peer.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const again = openKv(dir);
    expect((await again.get('k'))?.value.toString()).toBe('v');
  });

  it('lmdb-kv - a lock file naming a dead process or holding garbage is taken over', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    await kv.put('k', 'v');
    await kv.close();
    // pid 2^22 + 1 is above Linux's pid_max: no such process can exist.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4_194_305, hostname: hostname() }));
    const again = openKv(dir);
    expect((await again.get('k'))?.value.toString()).toBe('v');
    await again.close();
    writeFileSync(join(dir, LOCK_FILE), 'not a lock');
    const third = openKv(dir);
    expect((await third.get('k'))?.value.toString()).toBe('v');
  });

  it('lmdb-kv - a directory of another format is refused with CORRUPTED', async () => {
    const dir = tempDir();
    const kv = openKv(dir);
    await kv.put('k', 'v');
    await kv.close();
    const { open: openLmdb } = await import('lmdb');
    const root = openLmdb({ path: join(dir, 'meta.mdb'), maxDbs: 8 });
    const info = root.openDB<number, string>('info', {});
    info.transactionSync(() => info.putSync('format', 99));
    await root.close();
    const err = await thrown(() => LmdbKV.open({ dir }));
    expect(err.code).toBe(ErrorCode.Corrupted);
    expect(err.message).toContain(dir);
    // The failed open gave the directory back.
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('lmdb-kv - createMetaKV gives the persistent store for kv.backend embedded, in kv.localDir', async () => {
    const dir = join(tempDir(), 'kv');
    const config = loadConfig({ env: {}, overrides: { kv: { backend: 'embedded', localDir: dir } } });
    const kv = createMetaKV(config);
    open.push(kv);
    expect(kv).toBeInstanceOf(LmdbKV);
    const rev = await kv.put('k', 'v');
    await kv.close();
    const again = createMetaKV(config);
    open.push(again);
    expect(await again.get('k')).toMatchObject({ modRevision: rev });
  });
});
