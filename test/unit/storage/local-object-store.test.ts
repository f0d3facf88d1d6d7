/**
 * What only LocalObjectStore does, beyond the conformance suite: how keys map to files, atomic
 * puts through the temp directory, pruning of emptied directories, and the filesystem's limits
 * (a key cannot also be a directory of other keys).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { LOCAL_TMP_DIR, LocalObjectStore } from '../../../src/storage/index.js';

const title = (behaviour: string) => `local-object-store - ${behaviour}`;

describe('local-object-store', () => {
  let rootDir: string;
  let store: LocalObjectStore;

  beforeEach(async () => {
    rootDir = await mkdtemp(path.join(tmpdir(), 'tidal-local-'));
    store = new LocalObjectStore({ rootDir });
  });

  afterEach(async () => {
    await store.close();
    await rm(rootDir, { recursive: true, force: true });
  });

  it(title('a key is the file of that path under rootDir'), async () => {
    await store.put('insert_log/1/2/3/44.arrow', Buffer.from('bytes'));
    expect((await readFile(path.join(rootDir, 'insert_log', '1', '2', '3', '44.arrow'))).toString()).toBe('bytes');
  });

  it(title('puts leave no temp files behind'), async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`t/${i % 3}`, Buffer.alloc(1000, i))));
    expect(await readdir(path.join(rootDir, LOCAL_TMP_DIR))).toEqual([]);
    expect((await readdir(rootDir)).sort()).toEqual([LOCAL_TMP_DIR, 't']);
  });

  it(title('an in-flight temp file is never listed'), async () => {
    await mkdir(path.join(rootDir, LOCAL_TMP_DIR), { recursive: true });
    await writeFile(path.join(rootDir, LOCAL_TMP_DIR, 'half-written'), 'x');
    await store.put('real', Buffer.from('y'));
    expect((await store.list('')).objects.map((o) => o.key)).toEqual(['real']);
    expect(await store.deletePrefix('')).toBe(1);
  });

  it(title('the temp directory is a reserved key segment'), async () => {
    await expect(store.put(`${LOCAL_TMP_DIR}/x`, Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    await expect(store.get(`${LOCAL_TMP_DIR}/x`)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });

  it(title('a key that is also a directory of keys fails with FAILED_PRECONDITION and changes nothing'), async () => {
    await store.put('a/b', Buffer.from('1'));
    await expect(store.put('a', Buffer.from('2'))).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    await expect(store.put('a/b/c', Buffer.from('3'))).rejects.toMatchObject({ code: ErrorCode.FailedPrecondition });
    expect((await store.list('')).objects.map((o) => o.key)).toEqual(['a/b']);
    expect((await store.get('a/b')).toString()).toBe('1');
    expect(await readdir(path.join(rootDir, LOCAL_TMP_DIR))).toEqual([]);
  });

  it(title('delete and deletePrefix remove the directories they empty'), async () => {
    await store.put('x/y/z/1', Buffer.from('1'));
    await store.put('x/y/2', Buffer.from('2'));
    await store.put('w/1', Buffer.from('3'));
    await store.delete('x/y/z/1');
    expect((await readdir(path.join(rootDir, 'x', 'y'))).sort()).toEqual(['2']);
    expect(await store.deletePrefix('x/')).toBe(1);
    expect((await readdir(rootDir)).sort()).toEqual([LOCAL_TMP_DIR, 'w']);
    // Once emptied, a former directory can become an object.
    await store.put('x', Buffer.from('now a file'));
    expect((await store.get('x')).toString()).toBe('now a file');
  });

  it(title('list orders by UTF-8 bytes as S3 does, not by UTF-16 code units'), async () => {
    // U+1F600 is F0 9F 98 80 in UTF-8 (after U+FF5E's EF BD 9E) but a surrogate pair D83D… in
    // UTF-16 (before FF5E). AWS S3 uses the UTF-8 order; s3proxy 4.1.0 uses Java's UTF-16 order.
    const keys = ['k/\u{1F600}', 'k/\uFF5E', 'k/a', 'k/\u00E9'];
    for (const k of keys) await store.put(k, Buffer.from('1'));
    expect((await store.list('k/')).objects.map((o) => o.key)).toEqual(['k/a', 'k/\u00E9', 'k/\uFF5E', 'k/\u{1F600}']);
  });

  it(title('a continuation token that is not one of ours is rejected'), async () => {
    await store.put('a', Buffer.from('1'));
    for (const token of ['garbage', 'v1.', 'v1.Li4vLi4vZXRj']) {
      await expect(store.list('', { continuationToken: token }), token).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    }
  });

  it(title('a token resumes after the last key of the previous page even if that key is gone'), async () => {
    for (const k of ['a', 'b', 'c', 'd']) await store.put(k, Buffer.from(k));
    const first = await store.list('', { maxKeys: 2 });
    expect(first.objects.map((o) => o.key)).toEqual(['a', 'b']);
    await store.delete('b');
    const second = await store.list('', { maxKeys: 2, continuationToken: first.nextToken });
    expect(second.objects.map((o) => o.key)).toEqual(['c', 'd']);
    expect(second.nextToken).toBeUndefined();
  });
});
