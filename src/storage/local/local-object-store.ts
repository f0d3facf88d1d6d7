/**
 * LocalObjectStore: the ObjectStore on the local filesystem, for `tidal standalone` and tests.
 *
 * Key `a/b/c` is the file `rootDir/a/b/c`. A put writes a temp file under `rootDir/.tidal-tmp/`,
 * fsyncs it, renames it into place and fsyncs the directory, so a reader sees the old object or the
 * new one, never a torn one, and an acknowledged put survives a crash. Deleting an object removes
 * the directories it leaves empty.
 *
 * Differences from S3, by nature of a filesystem: a key cannot also be a "directory" of other keys
 * (`a` and `a/b` cannot both exist: FAILED_PRECONDITION), the top-level segment `.tidal-tmp` is
 * reserved (INVALID_ARGUMENT), and a listing page walks the prefix's directory (O(objects under it)
 * per page), which is fine at standalone scale. Objects carry no ETag.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, type FileHandle, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { retry, type RetryOptions } from '../../common/retry.js';
import {
  bodyLength,
  bodyParts,
  type ObjectBody,
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  pageSize,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
} from '../object-store.js';

/** Where the store keeps its objects. */
export interface LocalObjectStoreOptions {
  /** Directory holding the objects; created if missing. */
  rootDir: string;
  /** Retry policy for transient filesystem errors (EMFILE, EAGAIN, EBUSY). Defaults: `DEFAULT_RETRY`. */
  retry?: RetryOptions;
}

/** Top-level directory of in-flight puts; not a valid first key segment. */
export const LOCAL_TMP_DIR = '.tidal-tmp';
const TOKEN_PREFIX = 'v1.';
/** Filesystem error codes that may pass if tried again. */
const TRANSIENT_FS_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR']);

/** The ObjectStore on a local directory. Throws TidalError; never lets a key escape `rootDir`. */
export class LocalObjectStore implements ObjectStore {
  private readonly rootDir: string;
  private readonly tmpDir: string;
  private readonly retryOptions: RetryOptions;
  private closed = false;

  /** Resolves `rootDir` to an absolute path; creates nothing until the first put. */
  constructor(options: LocalObjectStoreOptions) {
    if (typeof options.rootDir !== 'string' || options.rootDir === '') throw errors.invalidArgument('rootDir must be a non-empty path');
    this.rootDir = path.resolve(options.rootDir);
    this.tmpDir = path.join(this.rootDir, LOCAL_TMP_DIR);
    this.retryOptions = options.retry ?? {};
  }

  /** Writes the object atomically (temp file, fsync, rename, fsync of the directory). */
  async put(key: string, body: ObjectBody): Promise<void> {
    const file = this.fileOf(key);
    bodyLength(body); // INVALID_ARGUMENT for a body that is not bytes, before any file is made
    const parts = bodyParts(body);
    await this.run('put', key, async () => {
      await mkdir(this.tmpDir, { recursive: true });
      const tmp = path.join(this.tmpDir, randomUUID());
      try {
        const fh = await open(tmp, 'w');
        try {
          for (const part of parts) await writeAll(fh, part);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await this.renameIntoPlace(tmp, file, key);
      } catch (err) {
        await unlink(tmp).catch(() => {
          // The temp file is gone already (renamed) or never existed: nothing to clean up.
        });
        throw err;
      }
      await fsyncDir(path.dirname(file));
    });
  }

  /** Reads the object whole. NOT_FOUND when missing. */
  async get(key: string): Promise<Buffer> {
    const file = this.fileOf(key);
    return this.run('get', key, () => readFile(file));
  }

  /** Reads `min(length, size - offset)` bytes from `offset`; empty at or past the end. */
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const file = this.fileOf(key);
    assertValidRange(offset, length);
    return this.run('getRange', key, async () => {
      const fh = await open(file, 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw notFound(key);
        const n = Math.min(length, Math.max(0, st.size - offset));
        const out = Buffer.alloc(n);
        let done = 0;
        while (done < n) {
          const { bytesRead } = await fh.read(out, done, n - done, offset + done);
          if (bytesRead === 0) break; // the file shrank under us: return what is there
          done += bytesRead;
        }
        return done === n ? out : out.subarray(0, done);
      } finally {
        await fh.close();
      }
    });
  }

  /** Size and modification time, or undefined when missing. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.fileOf(key);
    return this.run('head', key, async () => {
      try {
        const st = await stat(file);
        return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : undefined;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    });
  }

  /** Whether the object exists. */
  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** One page, sorted by the keys' UTF-8 bytes; the token is opaque (it encodes the last key). */
  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const maxKeys = pageSize(options);
    const after = options.continuationToken ? decodeToken(options.continuationToken) : undefined;
    return this.run('list', prefix, async () => {
      const keys = sortedAfter(await this.keysUnder(prefix), after);
      const objects: ObjectInfo[] = [];
      let i = 0;
      for (; i < keys.length && objects.length < maxKeys; i++) {
        const key = keys[i] as string;
        const st = await stat(this.fileOf(key)).catch((err: unknown) => {
          if (isMissing(err)) return undefined; // deleted since the walk: not part of this page
          throw err;
        });
        if (st?.isFile()) objects.push({ key, size: st.size, lastModified: st.mtime });
      }
      // Resume after the last key considered (even one deleted since the walk), not the last returned.
      return { objects, nextToken: i < keys.length && i > 0 ? encodeToken(keys[i - 1] as string) : undefined };
    });
  }

  /** Every object under the prefix, page by page. */
  async *listAll(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.list(prefix, { continuationToken: token });
      yield* page.objects;
      token = page.nextToken;
    } while (token !== undefined);
  }

  /** Deletes the object and the directories it leaves empty; a missing key is not an error. */
  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    await this.run('delete', key, async () => {
      if (await unlinkIfPresent(file)) await this.pruneEmptyDirs(path.dirname(file));
    });
  }

  /** Deletes every object under the prefix; returns how many it removed. */
  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    return this.run('deletePrefix', prefix, async () => {
      const keys = await this.keysUnder(prefix);
      let deleted = 0;
      const dirs = new Set<string>();
      for (const key of keys) {
        const file = this.fileOf(key);
        if (await unlinkIfPresent(file)) {
          deleted += 1;
          dirs.add(path.dirname(file));
        }
      }
      // Deepest first, so a parent is only tried once its children are gone.
      for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.pruneEmptyDirs(dir);
      return deleted;
    });
  }

  /** Marks the store closed; there is nothing to release. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
  }

  /** The file of a key, after checking the key rules; never outside rootDir. */
  private fileOf(key: string): string {
    assertValidKey(key);
    const segments = key.split('/');
    if (segments[0] === LOCAL_TMP_DIR) throw errors.invalidArgument(`the top-level segment ${LOCAL_TMP_DIR} is reserved by the local object store`, { key });
    const file = path.join(this.rootDir, ...segments);
    const rel = path.relative(this.rootDir, file);
    // Belt and braces: the key rules already exclude '..' and absolute keys.
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw errors.invalidArgument('object key escapes the store root', { key });
    return file;
  }

  /** Every key starting with `prefix` (unsorted): a walk of the deepest directory the prefix names. */
  private async keysUnder(prefix: string): Promise<string[]> {
    const cut = prefix.lastIndexOf('/');
    const baseKey = cut < 0 ? '' : prefix.slice(0, cut);
    const out: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const key = keyPrefix === '' ? e.name : `${keyPrefix}/${e.name}`;
        if (keyPrefix === '' && e.name === LOCAL_TMP_DIR) continue;
        if (e.isDirectory()) {
          // Only descend where keys starting with the prefix can live.
          const asDir = `${key}/`;
          if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) await walk(path.join(dir, e.name), key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(baseKey === '' ? this.rootDir : path.join(this.rootDir, ...baseKey.split('/')), baseKey);
    return out;
  }

  /** Renames the temp file onto the key's file, creating its directory (again, if a delete pruned it). */
  private async renameIntoPlace(tmp: string, file: string, key: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await rename(tmp, file);
        return;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOTDIR' || code === 'EEXIST') throw conflict(key, 'a parent of this key is an object', err);
        if (code === 'EISDIR') throw conflict(key, 'this key is a directory of other objects', err);
        // A concurrent delete removed the (then empty) directory between mkdir and rename.
        if (code === 'ENOENT' && attempt < 5) continue;
        throw err;
      }
    }
  }

  /** Removes `dir` and its ancestors while they are empty, stopping at rootDir. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    let d = dir;
    while (d !== this.rootDir && d.startsWith(this.rootDir + path.sep)) {
      try {
        await rmdir(d);
      } catch {
        // Not empty (other objects, or a put racing us), or already gone: stop pruning here.
        return;
      }
      d = path.dirname(d);
    }
  }

  /** Runs one operation: closed check, filesystem errors mapped to TidalError, transient ones retried. */
  private run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(errors.closed('LocalObjectStore'));
    return retry(async () => {
      try {
        return await fn();
      } catch (err) {
        throw toTidalError(err, op, key);
      }
    }, this.retryOptions);
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** ENOENT, or ENOTDIR (a parent is a file) / EISDIR (the key is a directory): no such object. */
function isMissing(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

function notFound(key: string): TidalError {
  return errors.notFound(`object not found: ${key}`, { key });
}

function conflict(key: string, why: string, cause: unknown): TidalError {
  return new TidalError(ErrorCode.FailedPrecondition, `cannot store object on the local filesystem: ${why}`, { cause, context: { key } });
}

function toTidalError(err: unknown, op: string, key: string): TidalError {
  if (err instanceof TidalError) return err;
  if (isMissing(err)) return notFound(key);
  const code = errnoOf(err);
  const context = { op, key, errno: code };
  if (code === 'ENOSPC' || code === 'EDQUOT') return new TidalError(ErrorCode.ResourceExhausted, `${op} failed: disk full`, { cause: err, context });
  if (code === 'ENAMETOOLONG') return new TidalError(ErrorCode.InvalidArgument, `${op} failed: a key segment is too long for the filesystem`, { cause: err, context });
  return errors.backend(`${op} failed: filesystem error ${code ?? ''}`.trimEnd(), err, code !== undefined && TRANSIENT_FS_CODES.has(code), context);
}

async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (err) {
    // EISDIR/EPERM: the key names a directory of other objects, which is no object at all.
    if (isMissing(err) || errnoOf(err) === 'EPERM') return false;
    throw err;
  }
}

/** fsyncs a directory so a rename in it is durable. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory (EINVAL); the rename is then as durable as they allow.
    if (errnoOf(err) !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}

/** The keys greater than `after` (all when undefined), sorted by their UTF-8 bytes as S3 does. */
function sortedAfter(keys: string[], after: string | undefined): string[] {
  const afterBytes = after === undefined ? undefined : Buffer.from(after, 'utf8');
  return keys
    .map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }))
    .filter((k) => afterBytes === undefined || Buffer.compare(k.bytes, afterBytes) > 0)
    .sort((x, y) => Buffer.compare(x.bytes, y.bytes))
    .map((k) => k.key);
}

function encodeToken(lastKey: string): string {
  return TOKEN_PREFIX + Buffer.from(lastKey, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  const bad = () => errors.invalidArgument('invalid continuation token: pass the nextToken of the previous page', { continuationToken: token });
  if (!token.startsWith(TOKEN_PREFIX)) throw bad();
  const key = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8');
  try {
    assertValidKey(key);
  } catch {
    throw bad();
  }
  return key;
}

/** Writes every byte of `part` at the file's current position (a write may take fewer bytes). */
async function writeAll(fh: FileHandle, part: Uint8Array): Promise<void> {
  let at = 0;
  while (at < part.byteLength) {
    const { bytesWritten } = await fh.write(part, at, part.byteLength - at);
    at += bytesWritten;
  }
}
