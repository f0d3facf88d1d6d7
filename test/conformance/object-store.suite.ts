/**
 * The ObjectStore conformance suite: every implementation (S3, local filesystem) must pass it
 * unchanged. `objectStoreConformance(name, fixture)` registers the tests; each test gets a fresh,
 * isolated store (its own root), so tests never see each other's objects.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import { compareKeys, type ObjectInfo, type ObjectStore } from '../../src/storage/index.js';

/** How the suite gets stores of one implementation. */
export interface ObjectStoreFixture {
  /** A fresh, empty store that no other test uses. */
  create(): Promise<ObjectStore>;
  /** Removes what the test left behind (after the store is closed). */
  dispose?(store: ObjectStore): Promise<void>;
}

const MiB = 1024 * 1024;

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of it) keys.push(o.key);
  return keys;
}

/** Pages through a listing with `maxKeys`, checking each page's size; returns the keys and the page count. */
async function pageThrough(store: ObjectStore, prefix: string, maxKeys: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await store.list(prefix, { maxKeys, continuationToken: token });
    pages += 1;
    expect(page.objects.length).toBeLessThanOrEqual(maxKeys);
    keys.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
    expect(pages).toBeLessThan(10_000); // a token that never ends would loop forever
  } while (token !== undefined);
  return { keys, pages };
}

const sortedByBytes = (keys: string[]) => [...keys].sort(compareKeys);

/** Registers the conformance tests for one implementation. */
export function objectStoreConformance(name: string, fixture: ObjectStoreFixture): void {
  const title = (behaviour: string) => `object-store (${name}) - ${behaviour}`;

  describe(`object-store (${name})`, () => {
    let store: ObjectStore;

    beforeEach(async () => {
      store = await fixture.create();
    });

    afterEach(async () => {
      await store.close();
      await fixture.dispose?.(store);
    });

    it(title('binary data round-trips byte for byte'), async () => {
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const random = randomBytes(64 * 1024);
      await store.put('bin/every-byte', every);
      await store.put('bin/random', new Uint8Array(random));
      expect((await store.get('bin/every-byte')).equals(every)).toBe(true);
      expect((await store.get('bin/random')).equals(random)).toBe(true);
    });

    it(title('an empty object round-trips with size 0'), async () => {
      await store.put('empty', new Uint8Array(0));
      expect((await store.get('empty')).length).toBe(0);
      expect(await store.head('empty')).toMatchObject({ key: 'empty', size: 0 });
      expect(await store.exists('empty')).toBe(true);
      expect((await store.getRange('empty', 0, 10)).length).toBe(0);
    });

    it(title('a 5 MiB object round-trips'), async () => {
      const big = randomBytes(5 * MiB + 17);
      await store.put('big/object.bin', big);
      const got = await store.get('big/object.bin');
      expect(got.length).toBe(big.length);
      expect(got.equals(big)).toBe(true);
      expect((await store.head('big/object.bin'))?.size).toBe(big.length);
    });

    it(title('keys with spaces, unicode and punctuation round-trip and list'), async () => {
      const keys = ['odd/a b+c&d=e', 'odd/ключ-ü-日本', 'odd/#%?!~*()\'', 'odd/a.b/c-d_e'];
      for (const [i, key] of keys.entries()) await store.put(key, Buffer.from(`v${i}`));
      for (const [i, key] of keys.entries()) expect((await store.get(key)).toString()).toBe(`v${i}`);
      expect(await collect(store.listAll('odd/'))).toEqual(sortedByBytes(keys));
    });

    it(title('get of a missing key throws NOT_FOUND'), async () => {
      await expect(store.get('missing/key')).rejects.toMatchObject({ code: ErrorCode.NotFound, retriable: false });
      await store.put('missing/other', Buffer.from('x'));
      await expect(store.get('missing/key')).rejects.toMatchObject({ code: ErrorCode.NotFound });
      // A "directory" of other keys is not an object.
      await expect(store.get('missing')).rejects.toMatchObject({ code: ErrorCode.NotFound });
    });

    it(title('ranged get returns exactly the bytes asked for'), async () => {
      const size = 100_003;
      const data = randomBytes(size);
      await store.put('range/obj', data);
      const cases: Array<[offset: number, length: number]> = [
        [0, 1],
        [0, 10],
        [1, 1],
        [7, 4096],
        [12_345, 54_321],
        [0, size],
        [size - 1, 1], // the last byte
        [size - 10, 10], // ends exactly at the end
        [size - 10, 1000], // clamped at the end
        [0, size + 1000], // whole object, clamped
        [500, 0], // nothing asked, nothing returned
      ];
      for (const [offset, length] of cases) {
        const got = await store.getRange('range/obj', offset, length);
        const want = data.subarray(offset, Math.min(size, offset + length));
        expect({ offset, length, got: got.length }).toEqual({ offset, length, got: want.length });
        expect(got.equals(want), `bytes of range ${offset}+${length}`).toBe(true);
      }
    });

    it(title('ranged get at or past the end returns an empty buffer'), async () => {
      await store.put('range/small', Buffer.from('0123456789'));
      expect((await store.getRange('range/small', 10, 5)).length).toBe(0);
      expect((await store.getRange('range/small', 11, 1)).length).toBe(0);
      expect((await store.getRange('range/small', 1_000_000, 100)).length).toBe(0);
      expect((await store.getRange('range/small', 9, 100)).toString()).toBe('9');
    });

    it(title('ranged get of a missing key throws NOT_FOUND'), async () => {
      await expect(store.getRange('range/missing', 0, 10)).rejects.toMatchObject({ code: ErrorCode.NotFound });
      await expect(store.getRange('range/missing', 1000, 10)).rejects.toMatchObject({ code: ErrorCode.NotFound });
      await expect(store.getRange('range/missing', 0, 0)).rejects.toMatchObject({ code: ErrorCode.NotFound });
    });

    it(title('ranged get rejects a negative or fractional offset or length'), async () => {
      await store.put('range/x', Buffer.from('abc'));
      for (const [o, l] of [[-1, 1], [0, -1], [0.5, 1], [0, Number.NaN]] as const) {
        await expect(store.getRange('range/x', o, l)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      }
    });

    it(title('head and exists report an object, and nothing for a missing one'), async () => {
      const before = Date.now();
      await store.put('meta/obj', Buffer.from('hello world'));
      const info = await store.head('meta/obj');
      expect(info).toMatchObject({ key: 'meta/obj', size: 11 });
      // S3 keeps modification times to the second.
      expect(info?.lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 2000);
      expect(info?.lastModified.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
      expect(await store.exists('meta/obj')).toBe(true);
      expect(await store.head('meta/none')).toBeUndefined();
      expect(await store.exists('meta/none')).toBe(false);
      expect(await store.exists('meta')).toBe(false);
    });

    it(title('overwriting a key replaces its content and size'), async () => {
      await store.put('ow/key', randomBytes(10_000));
      const second = Buffer.from('short');
      await store.put('ow/key', second);
      expect((await store.get('ow/key')).equals(second)).toBe(true);
      expect((await store.head('ow/key'))?.size).toBe(5);
      expect((await store.list('ow/')).objects.map((o) => [o.key, o.size])).toEqual([['ow/key', 5]]);
    });

    it(title('concurrent puts of one key leave one whole object, never a torn one'), async () => {
      const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024, i + 1));
      await Promise.all(bodies.map((b) => store.put('race/key', b)));
      const got = await store.get('race/key');
      expect(bodies.some((b) => b.equals(got))).toBe(true);
    });

    it(title('list pages past 1,000 objects return every key exactly once, sorted'), async () => {
      const total = 1_100;
      const keys = Array.from({ length: total }, (_, i) => `many/obj-${String(i).padStart(5, '0')}`);
      await forEachLimit(keys, 32, (k) => store.put(k, Buffer.from(k)));
      await store.put('other/not-listed', Buffer.from('x'));

      const full = await pageThrough(store, 'many/', 1000);
      expect(full.pages).toBeGreaterThanOrEqual(2);
      expect(full.keys).toEqual(keys);

      const small = await pageThrough(store, 'many/', 300);
      expect(small.pages).toBeGreaterThanOrEqual(4);
      expect(small.keys).toEqual(keys);

      const first = await store.list('many/');
      expect(first.objects.length).toBeGreaterThan(0);
      expect(first.nextToken).toBeDefined();
      expect(first.objects[0]).toMatchObject({ key: 'many/obj-00000', size: 'many/obj-00000'.length });

      // listAll crosses pages on its own (default page size 1,000).
      expect(await collect(store.listAll('many/'))).toEqual(keys);

      // deletePrefix also crosses pages (DeleteObjects takes at most 1,000 keys).
      expect(await store.deletePrefix('many/')).toBe(total);
      expect((await store.list('many/')).objects).toEqual([]);
      expect(await store.exists('other/not-listed')).toBe(true);
    });

    it(title('list sorts by the keys\' bytes across nested paths'), async () => {
      // '-' < '.' < '/' < '0' < 'A' < 'a' < 'é' in UTF-8; a directory-order walk would get this wrong.
      const keys = ['s/a0', 's/a/b', 's/a.b', 's/a-b', 's/aA', 's/aa', 's/aé', 's/a/a/z', 's/b'];
      for (const k of keys) await store.put(k, Buffer.from(k));
      const listed = (await store.list('s/')).objects.map((o) => o.key);
      expect(listed).toEqual(sortedByBytes(keys));
      expect(listed).toEqual(['s/a-b', 's/a.b', 's/a/a/z', 's/a/b', 's/a0', 's/aA', 's/aa', 's/aé', 's/b']);
      expect((await pageThrough(store, 's/', 2)).keys).toEqual(listed);
    });

    it(title('list by prefix returns only keys with that prefix'), async () => {
      // No key is also a "directory" of other keys: a filesystem (s3proxy's, the local store's)
      // cannot hold both `p/a` and `p/a/x`.
      const keys = ['p/ab', 'p/a1', 'p/a/x', 'p/a/y/z', 'p/b', 'p/ba', 'q/a', 'pa'];
      for (const k of keys) await store.put(k, Buffer.from(k));
      const listKeys = async (prefix: string) => (await store.list(prefix)).objects.map((o) => o.key);
      expect(await listKeys('p/a')).toEqual(['p/a/x', 'p/a/y/z', 'p/a1', 'p/ab']);
      expect(await listKeys('p/a/')).toEqual(['p/a/x', 'p/a/y/z']);
      expect(await listKeys('p/a/y')).toEqual(['p/a/y/z']);
      expect(await listKeys('p/b')).toEqual(['p/b', 'p/ba']);
      expect(await listKeys('p/')).toEqual(['p/a/x', 'p/a/y/z', 'p/a1', 'p/ab', 'p/b', 'p/ba']);
      expect(await listKeys('p')).toEqual(['p/a/x', 'p/a/y/z', 'p/a1', 'p/ab', 'p/b', 'p/ba', 'pa']);
      expect(await listKeys('')).toEqual(sortedByBytes(keys));
      expect(await listKeys('p/c')).toEqual([]);
      expect(await listKeys('none/')).toEqual([]);
      expect((await store.list('none/')).nextToken).toBeUndefined();
      expect(await collect(store.listAll('p/a/'))).toEqual(['p/a/x', 'p/a/y/z']);
    });

    it(title('list reports each object\'s size'), async () => {
      await store.put('sz/one', Buffer.alloc(1));
      await store.put('sz/thousand', Buffer.alloc(1000));
      const page = await store.list('sz/');
      expect(page.objects.map((o) => [o.key, o.size])).toEqual([['sz/one', 1], ['sz/thousand', 1000]]);
      for (const o of page.objects) expect(o.lastModified).toBeInstanceOf(Date);
    });

    it(title('list rejects maxKeys outside 1..1000'), async () => {
      for (const maxKeys of [0, -1, 1001, 1.5]) {
        await expect(store.list('', { maxKeys })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      }
    });

    it(title('delete removes an object and is idempotent'), async () => {
      await store.put('del/a', Buffer.from('a'));
      await store.put('del/b', Buffer.from('b'));
      await store.delete('del/a');
      expect(await store.exists('del/a')).toBe(false);
      await expect(store.get('del/a')).rejects.toMatchObject({ code: ErrorCode.NotFound });
      await store.delete('del/a');
      await store.delete('del/never-existed');
      expect((await store.list('del/')).objects.map((o) => o.key)).toEqual(['del/b']);
      // The key can be written again after its delete.
      await store.put('del/a', Buffer.from('again'));
      expect((await store.get('del/a')).toString()).toBe('again');
    });

    it(title('deletePrefix returns the count and leaves other prefixes'), async () => {
      const doomed = ['dp/x/1', 'dp/x/2', 'dp/x/deep/3', 'dp/xy'];
      const kept = ['dp/y/1', 'dp/w', 'other/x/1'];
      for (const k of [...doomed, ...kept]) await store.put(k, Buffer.from(k));
      expect(await store.deletePrefix('dp/x')).toBe(doomed.length);
      expect(await collect(store.listAll(''))).toEqual(sortedByBytes(kept));
      for (const k of kept) expect((await store.get(k)).toString()).toBe(k);
      expect(await store.deletePrefix('dp/x')).toBe(0);
      expect(await store.deletePrefix('nothing/here/')).toBe(0);
    });

    it(title('keys that are empty, absolute or escape the root are rejected'), async () => {
      const bad = ['', '/abs', '../up', 'a/../../up', 'a/..', './a', 'a/./b', 'a//b', 'a/', 'nul\0byte', 'x'.repeat(1025)];
      for (const key of bad) {
        await expect(store.put(key, Buffer.from('x')), JSON.stringify(key)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
        await expect(store.get(key)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
        await expect(store.head(key)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
        await expect(store.delete(key)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      }
      for (const prefix of ['/abs', '../', 'a/../', 'a//']) {
        await expect(store.list(prefix), JSON.stringify(prefix)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
        await expect(store.deletePrefix(prefix)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      }
      expect((await store.list('')).objects).toEqual([]);
    });

    it(title('two stores do not see each other\'s objects'), async () => {
      const other = await fixture.create();
      try {
        await store.put('iso/key', Buffer.from('mine'));
        await other.put('iso/key', Buffer.from('theirs'));
        expect((await store.get('iso/key')).toString()).toBe('mine');
        expect((await other.get('iso/key')).toString()).toBe('theirs');
        await other.put('iso/only-other', Buffer.from('x'));
        expect((await store.list('')).objects.map((o) => o.key)).toEqual(['iso/key']);
        expect(await store.deletePrefix('')).toBe(1);
        expect(await other.exists('iso/key')).toBe(true);
      } finally {
        await other.close();
        await fixture.dispose?.(other);
      }
    });

    it(title('close is idempotent and later calls throw CLOSED'), async () => {
      await store.put('c/k', Buffer.from('x'));
      await store.close();
      await store.close();
      await expect(store.get('c/k')).rejects.toMatchObject({ code: ErrorCode.Closed });
      await expect(store.put('c/k', Buffer.from('y'))).rejects.toMatchObject({ code: ErrorCode.Closed });
      await expect(store.list('')).rejects.toMatchObject({ code: ErrorCode.Closed });
    });
  });
}
