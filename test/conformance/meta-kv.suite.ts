/**
 * The MetaKV conformance suite: every implementation (etcd, embedded) must pass it unchanged.
 * `metaKvConformance(name, fixture)` registers the tests; each test opens fresh stores through the
 * fixture (etcd: a unique root; embedded: a new store), so tests never see each other's data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { retry } from '../../src/common/retry.js';
import type { Compare, KeyValue, Lease, MetaKV, WatchEvent, Watcher } from '../../src/kv/index.js';

/** How the suite gets stores of one implementation. */
export interface MetaKvFixture {
  /**
   * A fresh, open store, isolated from every other test's. With `isolatedServer`, on a server of
   * the fixture's own that the suite may restart and compact (etcd: a private etcd, never the
   * shared one). The suite deletes its keys and closes it after the test.
   */
  create(options?: { isolatedServer?: boolean }): Promise<MetaKV>;
  /** A second client of the same store as `kv` (same server and root). The suite closes it. */
  peer(kv: MetaKV): Promise<MetaKV>;
  /**
   * Stops and starts the server under `kv` (created with `isolatedServer`), resolving once it
   * accepts clients again. The embedded store has no server: its watchers lose their connection
   * and get it back a little later, while writes go on.
   */
  restartServer(kv: MetaKV): Promise<void>;
  /** Compacts the history of `kv`'s store (created with `isolatedServer`) below `revision`. */
  compact(kv: MetaKV, revision: number): Promise<void>;
}

/** Longest a test waits for something that should happen (events, expiry): generous, never hit when passing. */
const WAIT_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `cond` until it holds; fails after `timeoutMs` naming what it waited for. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Everything a watcher reports, recorded as it arrives. */
interface Recorded {
  events: WatchEvent[];
  batches: number;
  connected: number;
  disconnected: number;
  compacted: number[];
  errors: Error[];
}

function record(w: Watcher): Recorded {
  const r: Recorded = { events: [], batches: 0, connected: 0, disconnected: 0, compacted: [], errors: [] };
  w.on('events', (evs) => {
    r.batches += 1;
    r.events.push(...evs);
  });
  w.on('connected', () => (r.connected += 1));
  w.on('disconnected', () => (r.disconnected += 1));
  w.on('compacted', (rev) => r.compacted.push(rev));
  w.on('error', (err) => r.errors.push(err));
  return r;
}

/** An event as `put key=value@rev` / `delete key@rev`, for readable comparisons. */
const show = (e: WatchEvent) => (e.type === 'put' ? `put ${e.key}=${e.value.toString('utf8')}@${e.modRevision}` : `delete ${e.key}@${e.modRevision}`);
const text = (kv: KeyValue | undefined) => kv?.value.toString('utf8');
/** Deletes one key and returns the revision of the delete (`delete()` returns a count). */
const deleteAt = async (kv: MetaKV, key: string) => (await kv.txn({ compare: [], success: [{ type: 'delete', key }] })).revision;

/** The rejection of `p`, which must be a TidalError with `code`. */
async function rejectsWith(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<TidalError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a TidalError ${code}`).toBeInstanceOf(TidalError);
  expect((err as TidalError).code).toBe(code);
  return err as TidalError;
}

/** The lease's `lost` event, or a failure after `timeoutMs`. */
function lostEvent(lease: Lease, timeoutMs = WAIT_MS): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no lost event within ${timeoutMs} ms`)), timeoutMs);
    lease.once('lost', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

/** Registers the conformance tests for one implementation. */
export function metaKvConformance(name: string, fixture: MetaKvFixture): void {
  const title = (behaviour: string) => `meta-kv (${name}) - ${behaviour}`;

  describe(`meta-kv (${name})`, () => {
    const opened: MetaKV[] = [];
    const open = async (options?: { isolatedServer?: boolean }) => {
      const kv = await fixture.create(options);
      opened.push(kv);
      return kv;
    };
    const peerOf = async (kv: MetaKV) => {
      const p = await fixture.peer(kv);
      opened.push(p);
      return p;
    };
    const watchers: Watcher[] = [];
    const watch = (kv: MetaKV, ...args: Parameters<MetaKV['watch']>) => {
      const w = kv.watch(...args);
      watchers.push(w);
      return w;
    };

    afterEach(async () => {
      await Promise.all(watchers.splice(0).map((w) => w.close()));
      for (const kv of opened.splice(0).reverse()) {
        try {
          await kv.deletePrefix('');
        } catch {
          // Closed by the test itself (or its server is gone): nothing left to clean through it.
        }
        await kv.close();
      }
    });

    it(title('put then get returns the value with its revisions and version'), async () => {
      const kv = await open();
      expect(await kv.get('a')).toBeUndefined();
      const r1 = await kv.put('a', 'one');
      const first = await kv.get('a');
      expect(first).toMatchObject({ key: 'a', createRevision: r1, modRevision: r1, version: 1 });
      expect(text(first)).toBe('one');
      expect(first!.lease).toBeUndefined();
      const r2 = await kv.put('a', Buffer.from([0, 1, 2, 255]));
      expect(r2).toBeGreaterThan(r1);
      const second = await kv.get('a');
      expect(second).toMatchObject({ key: 'a', createRevision: r1, modRevision: r2, version: 2 });
      expect([...second!.value]).toEqual([0, 1, 2, 255]);
      expect(await kv.revision()).toBeGreaterThanOrEqual(r2);
      await kv.put('é/ключ/😀', '');
      expect(text(await kv.get('é/ключ/😀'))).toBe('');
    });

    it(title('delete removes a key and says how many it deleted; a new put starts a new life'), async () => {
      const kv = await open();
      const r1 = await kv.put('k', 'v');
      await kv.put('k', 'v2');
      expect(await kv.delete('k')).toBe(1);
      expect(await kv.get('k')).toBeUndefined();
      expect(await kv.delete('k')).toBe(0);
      const r3 = await kv.put('k', 'v3');
      expect(await kv.get('k')).toMatchObject({ createRevision: r3, modRevision: r3, version: 1 });
      expect(r3).toBeGreaterThan(r1);
    });

    it(title('range returns the keys under a prefix sorted by key, page by page with startAfter'), async () => {
      const kv = await open();
      const keys = Array.from({ length: 250 }, (_, i) => `r/k${String(i).padStart(3, '0')}`);
      const shuffled = [...keys].sort(() => Math.random() - 0.5);
      for (let i = 0; i < shuffled.length; i += 50) await Promise.all(shuffled.slice(i, i + 50).map((k) => kv.put(k, `v-${k}`)));
      // Neighbours that share bytes with the prefix but are not under it.
      await Promise.all(['r', 'r0', 'q/k1', 'rr/k1'].map((k) => kv.put(k, 'decoy')));

      const all = await kv.range('r/');
      expect(all.more).toBe(false);
      expect(all.kvs.map((x) => x.key)).toEqual(keys);
      expect(all.kvs.every((x) => x.value.toString() === `v-${x.key}` && x.version === 1)).toBe(true);

      const pages: string[][] = [];
      const mores: boolean[] = [];
      let startAfter: string | undefined;
      for (;;) {
        const page = await kv.range('r/', { limit: 100, ...(startAfter === undefined ? {} : { startAfter }) });
        pages.push(page.kvs.map((x) => x.key));
        mores.push(page.more);
        if (!page.more) break;
        startAfter = page.kvs[page.kvs.length - 1]!.key;
      }
      expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
      expect(mores).toEqual([true, true, false]);
      expect(pages.flat()).toEqual(keys);

      const keysOnly = await kv.range('r/', { limit: 3, keysOnly: true });
      expect(keysOnly.kvs.map((x) => x.key)).toEqual(keys.slice(0, 3));
      expect(keysOnly.kvs.every((x) => x.value.length === 0)).toBe(true);
      expect(keysOnly.more).toBe(true);
      expect(keysOnly.revision).toBeGreaterThanOrEqual(all.revision);

      // startAfter below the prefix starts at the prefix; above it, nothing is left.
      expect((await kv.range('r/', { startAfter: 'a', limit: 1 })).kvs.map((x) => x.key)).toEqual([keys[0]]);
      expect(await kv.range('r/', { startAfter: 's' })).toMatchObject({ kvs: [], more: false });
      expect((await kv.range('r/', { startAfter: keys[248]! })).kvs.map((x) => x.key)).toEqual([keys[249]]);
      expect((await kv.range('nothing/')).kvs).toEqual([]);
    });

    it(title('range orders keys by their UTF-8 bytes, as etcd does'), async () => {
      const kv = await open();
      const keys = ['u/Z', 'u/a', 'u/é', 'u/\uE000', 'u/😀', 'u/a/b', 'u/a0'];
      for (const k of keys) await kv.put(k, k);
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      // JavaScript's own order puts the emoji (a surrogate pair) before U+E000: the bytes do not.
      expect(expected.indexOf('u/\uE000')).toBeLessThan(expected.indexOf('u/😀'));
      expect((await kv.range('u/')).kvs.map((x) => x.key)).toEqual(expected);
      expect((await kv.range('u/', { startAfter: 'u/\uE000' })).kvs.map((x) => x.key)).toEqual(['u/😀']);
    });

    it(title('deletePrefix deletes exactly the keys under the prefix'), async () => {
      const kv = await open();
      for (const k of ['d/a', 'd/b', 'd/c/x', 'd', 'dd/a', 'c/d/a']) await kv.put(k, 'x');
      expect(await kv.deletePrefix('d/')).toBe(3);
      expect((await kv.range('')).kvs.map((x) => x.key)).toEqual(['c/d/a', 'd', 'dd/a']);
      expect(await kv.deletePrefix('d/')).toBe(0);
    });

    it(title('a txn whose compares hold runs its success ops in order, at one revision'), async () => {
      const kv = await open();
      await kv.put('t/c', 'old');
      const res = await kv.txn({
        compare: [{ key: 't/a', target: 'createRevision', op: '==', revision: 0 }],
        success: [
          { type: 'put', key: 't/a', value: 'a1' },
          { type: 'put', key: 't/b', value: 'b1' },
          { type: 'delete', key: 't/c' },
          { type: 'get', key: 't/a' },
          { type: 'get', key: 't/c' },
        ],
        failure: [{ type: 'put', key: 't/failed', value: 'yes' }],
      });
      expect(res.succeeded).toBe(true);
      expect(res.gets).toHaveLength(2);
      expect(text(res.gets[0])).toBe('a1');
      expect(res.gets[0]!.modRevision).toBe(res.revision);
      expect(res.gets[1]).toBeUndefined();
      expect(await kv.get('t/a')).toMatchObject({ modRevision: res.revision, createRevision: res.revision });
      expect(await kv.get('t/b')).toMatchObject({ modRevision: res.revision });
      expect(await kv.get('t/c')).toBeUndefined();
      expect(await kv.get('t/failed')).toBeUndefined();
      expect(await kv.revision()).toBeGreaterThanOrEqual(res.revision);
    });

    it(title('a txn whose compare fails changes nothing (and runs its failure ops)'), async () => {
      const kv = await open();
      const r1 = await kv.put('f/a', '1');
      await kv.put('f/keep', 'k');
      // Other clients may write elsewhere in the store: "nothing changed" is checked on the keys
      // and on a watch of the prefix, which must see only the failure branch's put.
      const w = watch(kv, 'f/');
      const got = record(w);
      await w.ready();
      const res = await kv.txn({
        compare: [
          { key: 'f/a', target: 'version', op: '==', version: 1 },
          { key: 'f/a', target: 'value', op: '==', value: '2' },
        ],
        success: [
          { type: 'put', key: 'f/a', value: '3' },
          { type: 'put', key: 'f/b', value: 'b' },
          { type: 'deletePrefix', prefix: 'f/k' },
        ],
        failure: [
          { type: 'put', key: 'f/flag', value: 'failed' },
          { type: 'get', key: 'f/a' },
        ],
      });
      expect(res.succeeded).toBe(false);
      expect(res.gets.map(text)).toEqual(['1']);
      expect(await kv.get('f/a')).toMatchObject({ modRevision: r1, version: 1 });
      expect(text(await kv.get('f/a'))).toBe('1');
      expect(await kv.get('f/b')).toBeUndefined();
      expect(text(await kv.get('f/keep'))).toBe('k');
      expect(text(await kv.get('f/flag'))).toBe('failed');

      // No failure ops: nothing at all happens.
      const none = await kv.txn({ compare: [{ key: 'f/a', target: 'value', op: '!=', value: '1' }], success: [{ type: 'delete', key: 'f/a' }] });
      expect(none).toMatchObject({ succeeded: false, gets: [] });
      expect(none.revision).toBeGreaterThanOrEqual(res.revision);
      expect(text(await kv.get('f/a'))).toBe('1');
      const marker = await kv.put('f/marker', 'end');
      await until('the marker event', () => got.events.some((e) => e.key === 'f/marker'));
      expect(got.events.map(show)).toEqual([`put f/flag=failed@${res.revision}`, `put f/marker=end@${marker}`]);
    });

    it(title('txn compares on value, version, createRevision and modRevision follow etcd'), async () => {
      const kv = await open();
      const created = await kv.put('c/k', 'v1');
      const modified = await kv.put('c/k', 'v2');
      const holds = async (c: Compare | Compare[]) => (await kv.txn({ compare: Array.isArray(c) ? c : [c], success: [] })).succeeded;
      const k = 'c/k';
      const cases: [Compare, boolean][] = [
        [{ key: k, target: 'value', op: '==', value: 'v2' }, true],
        [{ key: k, target: 'value', op: '==', value: Buffer.from('v2') }, true],
        [{ key: k, target: 'value', op: '!=', value: 'v2' }, false],
        [{ key: k, target: 'value', op: '<', value: 'v3' }, true],
        [{ key: k, target: 'value', op: '>', value: 'v3' }, false],
        [{ key: k, target: 'value', op: '>', value: 'v10' }, true],
        [{ key: k, target: 'version', op: '==', version: 2 }, true],
        [{ key: k, target: 'version', op: '>', version: 1 }, true],
        [{ key: k, target: 'version', op: '<', version: 2 }, false],
        [{ key: k, target: 'version', op: '!=', version: 2 }, false],
        [{ key: k, target: 'createRevision', op: '==', revision: created }, true],
        [{ key: k, target: 'createRevision', op: '<', revision: modified }, true],
        [{ key: k, target: 'createRevision', op: '>', revision: created }, false],
        [{ key: k, target: 'createRevision', op: '==', revision: 0 }, false],
        [{ key: k, target: 'modRevision', op: '==', revision: modified }, true],
        [{ key: k, target: 'modRevision', op: '!=', revision: created }, true],
        [{ key: k, target: 'modRevision', op: '<', revision: modified }, false],
        [{ key: k, target: 'modRevision', op: '>', revision: created }, true],
        // A missing key has version and revisions 0, and no value: a value compare never holds.
        [{ key: 'c/none', target: 'createRevision', op: '==', revision: 0 }, true],
        [{ key: 'c/none', target: 'modRevision', op: '<', revision: 1 }, true],
        [{ key: 'c/none', target: 'version', op: '==', version: 0 }, true],
        [{ key: 'c/none', target: 'value', op: '==', value: '' }, false],
        [{ key: 'c/none', target: 'value', op: '!=', value: 'x' }, false],
      ];
      const results: string[] = [];
      for (const [c, expected] of cases) {
        const got = await holds(c);
        if (got !== expected) results.push(`${JSON.stringify(c)}: expected ${expected}, got ${got}`);
      }
      expect(results).toEqual([]);
      // Every compare must hold.
      expect(await holds([cases[0]![0], cases[6]![0]])).toBe(true);
      expect(await holds([cases[0]![0], cases[2]![0]])).toBe(false);
    });

    it(title('a txn that writes one key twice is rejected with INVALID_ARGUMENT and changes nothing'), async () => {
      const kv = await open();
      await kv.put('x/a', 'orig');
      const w = watch(kv, 'x/');
      const got = record(w);
      await w.ready();
      await rejectsWith(
        kv.txn({ compare: [], success: [{ type: 'put', key: 'x/b', value: '1' }, { type: 'put', key: 'x/a', value: '1' }, { type: 'put', key: 'x/a', value: '2' }] }),
        ErrorCode.InvalidArgument,
      );
      await rejectsWith(
        kv.txn({ compare: [], success: [{ type: 'deletePrefix', prefix: 'x/' }, { type: 'put', key: 'x/a', value: '3' }] }),
        ErrorCode.InvalidArgument,
      );
      expect(text(await kv.get('x/a'))).toBe('orig');
      expect(await kv.get('x/b')).toBeUndefined();
      const marker = await kv.put('x/marker', 'end');
      await until('the marker event', () => got.events.length > 0);
      expect(got.events.map(show)).toEqual([`put x/marker=end@${marker}`]);
    });

    it(title('bad input is rejected with INVALID_ARGUMENT'), async () => {
      const kv = await open();
      await rejectsWith(kv.put('', 'v'), ErrorCode.InvalidArgument);
      await rejectsWith(kv.get(''), ErrorCode.InvalidArgument);
      await rejectsWith(kv.range('p/', { limit: -1 }), ErrorCode.InvalidArgument);
      await rejectsWith(kv.grantLease(0), ErrorCode.InvalidArgument);
      await rejectsWith(kv.grantLease(1.5), ErrorCode.InvalidArgument);
      await rejectsWith(() => kv.watch('p/', { startRevision: 0 }), ErrorCode.InvalidArgument);
      expect((await kv.range('')).kvs).toEqual([]);
    });

    it(title('watch delivers puts and deletes in order from a past revision, then live changes'), async () => {
      const kv = await open();
      const r1 = await kv.put('w/a', '1');
      const r2 = await kv.put('w/b', '2');
      await kv.put('other/x', 'not watched');
      const r3 = await deleteAt(kv, 'w/a');
      const r4 = await kv.put('w/b', '3');
      const r5 = (await kv.txn({ compare: [], success: [{ type: 'put', key: 'w/c', value: '4' }, { type: 'deletePrefix', prefix: 'w/b' }] })).revision;
      const w = watch(kv, 'w/', { startRevision: r1 });
      const got = record(w);
      await w.ready();
      const past = [`put w/a=1@${r1}`, `put w/b=2@${r2}`, `delete w/a@${r3}`, `put w/b=3@${r4}`, `put w/c=4@${r5}`, `delete w/b@${r5}`];
      await until('the past events', () => got.events.length >= past.length);
      expect(got.events.map(show)).toEqual(past);
      const r6 = await kv.put('w/d', '5');
      await kv.put('wx', 'not under w/');
      const r7 = await deleteAt(kv, 'w/d');
      await until('the live events', () => got.events.length >= past.length + 2);
      await sleep(100);
      expect(got.events.map(show)).toEqual([...past, `put w/d=5@${r6}`, `delete w/d@${r7}`]);
      expect(got.connected).toBe(1);
      expect(got.disconnected).toBe(0);
      expect(got.errors).toEqual([]);
    });

    it(title('watch without a start revision delivers only changes made after it is ready'), async () => {
      const kv = await open();
      await kv.put('n/before', '0');
      const w = watch(kv, 'n/');
      const got = record(w);
      await w.ready();
      const r = await kv.put('n/after', '1');
      await until('the event', () => got.events.length >= 1);
      await sleep(100);
      expect(got.events.map(show)).toEqual([`put n/after=1@${r}`]);
    });

    it(title('watch sees the writes of another client, and stops after close'), async () => {
      const kv = await open();
      const other = await peerOf(kv);
      const w = watch(kv, 'p/');
      const got = record(w);
      await w.ready();
      const r = await other.put('p/x', 'from peer');
      await until('the peer write', () => got.events.length >= 1);
      expect(got.events.map(show)).toEqual([`put p/x=from peer@${r}`]);
      await w.close();
      await w.close();
      await other.put('p/y', 'after close');
      await sleep(200);
      expect(got.events).toHaveLength(1);
    });

    it(title('watch resumes after the server is restarted: every change exactly once, in order'), async () => {
      const kv = await open({ isolatedServer: true });
      const r1 = await kv.put('s/a1', '1');
      const r2 = await kv.put('s/a2', '2');
      // From a past revision, so a resume from the start revision would repeat a1 and a2.
      const w = watch(kv, 's/', { startRevision: r1 });
      const got = record(w);
      await w.ready();
      await until('the first events', () => got.events.length >= 2);

      await fixture.restartServer(kv);
      await until('the disconnect', () => got.disconnected >= 1);
      // Written as soon as the server takes writes (the watcher may not be back yet). Guarded,
      // so a retried write whose first attempt did land is not applied twice.
      const write = (key: string, value: string) =>
        retry(
          async () => {
            const res = await kv.txn({ compare: [{ key, target: 'version', op: '==', version: 0 }], success: [{ type: 'put', key, value }], failure: [{ type: 'get', key }] });
            return res.succeeded ? res.revision : res.gets[0]!.modRevision;
          },
          { retries: 50, minTimeoutMs: 100, maxTimeoutMs: 300 },
        );
      const r3 = await write('s/a3', '3');
      const r4 = await write('s/a4', '4');
      const r5 = await deleteAt(kv, 's/a1');
      await until('the events after the restart', () => got.events.length >= 5);
      await sleep(300);
      expect(got.events.map(show)).toEqual([`put s/a1=1@${r1}`, `put s/a2=2@${r2}`, `put s/a3=3@${r3}`, `put s/a4=4@${r4}`, `delete s/a1@${r5}`]);
      expect(got.connected).toBeGreaterThanOrEqual(2);
      expect(got.compacted).toEqual([]);
      expect(got.errors).toEqual([]);
    });

    it(title('watch from a compacted revision reports compaction and delivers nothing'), async () => {
      const kv = await open({ isolatedServer: true });
      const r1 = await kv.put('z/a', '1');
      await kv.put('z/b', '2');
      const r3 = await kv.put('z/c', '3');
      await fixture.compact(kv, r3);

      const old = watch(kv, 'z/', { startRevision: r1 });
      const got = record(old);
      await until('the compacted event', () => got.compacted.length > 0);
      expect(got.compacted).toEqual([r3]);
      await kv.put('z/d', '4');
      // From the compaction revision on, history is still there.
      const fresh = watch(kv, 'z/', { startRevision: r3 });
      const ok = record(fresh);
      await until('events from the compaction revision', () => ok.events.length >= 2);
      expect(ok.events.map((e) => e.key)).toEqual(['z/c', 'z/d']);
      expect(got.events).toEqual([]);
      expect(ok.compacted).toEqual([]);
    });

    it(title('a kept-alive lease outlives its TTL, and its keys carry the lease id'), async () => {
      const kv = await open();
      const lease = await kv.grantLease(1);
      expect(lease.ttlSec).toBeGreaterThanOrEqual(1);
      let keepalives = 0;
      lease.on('keepalive', () => (keepalives += 1));
      await lease.put('l/k', 'v');
      await kv.put('l/k2', 'v2', { lease: lease.id });
      await sleep(lease.ttlSec * 1000 + 1_200);
      expect(await kv.get('l/k')).toMatchObject({ lease: lease.id });
      expect(await kv.get('l/k2')).toMatchObject({ lease: lease.id });
      expect(keepalives).toBeGreaterThanOrEqual(2);
      expect(lease.lost).toBe(false);
      await lease.revoke();
    });

    it(title('lease expiry deletes its keys'), async () => {
      const kv = await open();
      const lease = await kv.grantLease(1);
      await lease.put('e/k1', 'v1');
      await kv.txn({ compare: [], success: [{ type: 'put', key: 'e/k2', value: 'v2', lease: lease.id }] });
      await kv.put('e/plain', 'stays');
      lease.release();
      expect(text(await kv.get('e/k1'))).toBe('v1');
      await until('the leased keys to expire', async () => (await kv.range('e/')).kvs.length === 1, lease.ttlSec * 1000 + WAIT_MS);
      expect((await kv.range('e/')).kvs.map((x) => x.key)).toEqual(['e/plain']);
    });

    it(title('a lease that expires emits lost, and watchers see its keys deleted'), async () => {
      const kv = await open();
      const lease = await kv.grantLease(1);
      const r = await kv.put('o/k', 'v', { lease: lease.id });
      const w = watch(kv, 'o/', { startRevision: r });
      const got = record(w);
      const lost = lostEvent(lease, lease.ttlSec * 1000 + WAIT_MS);
      lease.release();
      const err = await lost;
      expect(err).toBeInstanceOf(TidalError);
      expect((err as TidalError).code).toBe(ErrorCode.LeaseLost);
      expect(lease.lost).toBe(true);
      await rejectsWith(lease.put('o/again', 'v'), ErrorCode.LeaseLost);
      await until('the delete event', () => got.events.length >= 2);
      expect(got.events.map((e) => `${e.type} ${e.key}`)).toEqual(['put o/k', 'delete o/k']);
      expect(await kv.get('o/k')).toBeUndefined();
    });

    it(title('revoking a lease deletes its keys at once; the lease is then unusable'), async () => {
      const kv = await open();
      const lease = await kv.grantLease(10);
      await lease.put('v/a', '1');
      await lease.put('v/b', '2');
      await kv.put('v/c', '3');
      let lostEvents = 0;
      lease.on('lost', () => (lostEvents += 1));
      await lease.revoke();
      expect((await kv.range('v/')).kvs.map((x) => x.key)).toEqual(['v/c']);
      expect(lease.lost).toBe(true);
      await lease.revoke();
      await rejectsWith(lease.put('v/d', '4'), ErrorCode.LeaseLost);
      await rejectsWith(kv.put('v/e', '5', { lease: lease.id }), ErrorCode.LeaseLost);
      await rejectsWith(kv.txn({ compare: [], success: [{ type: 'put', key: 'v/f', value: '6', lease: lease.id }, { type: 'put', key: 'v/g', value: '7' }] }), ErrorCode.LeaseLost);
      expect((await kv.range('v/')).kvs.map((x) => x.key)).toEqual(['v/c']);
      expect(lostEvents).toBe(0);
    });

    it(title('closing a client releases its leases: their keys expire after the TTL'), async () => {
      const kv = await open();
      const other = await peerOf(kv);
      const lease = await kv.grantLease(1);
      await lease.put('q/session', 'alive');
      await kv.close();
      expect(text(await other.get('q/session'))).toBe('alive');
      await until('the session key to expire', async () => (await other.get('q/session')) === undefined, lease.ttlSec * 1000 + WAIT_MS);
    });

    it(title('close is safe twice; calls after close fail with CLOSED'), async () => {
      const kv = await open();
      const w = kv.watch('k');
      await w.ready();
      await kv.close();
      await kv.close();
      await rejectsWith(kv.get('k'), ErrorCode.Closed);
      await rejectsWith(kv.put('k', 'v'), ErrorCode.Closed);
      await rejectsWith(kv.grantLease(5), ErrorCode.Closed);
      await rejectsWith(() => kv.watch('k'), ErrorCode.Closed);
      await w.close();
    });

    it(title('stores are isolated from each other'), async () => {
      const a = await open();
      const b = await open();
      await a.put('iso/k', 'a');
      expect(await b.get('iso/k')).toBeUndefined();
      expect((await b.range('')).kvs).toEqual([]);
      expect(text(await (await peerOf(a)).get('iso/k'))).toBe('a');
    });
  });
}
