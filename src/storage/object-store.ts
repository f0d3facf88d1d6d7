/**
 * ObjectStore: the object-storage seam. S3/MinIO in production (`S3ObjectStore`), the local
 * filesystem for standalone (`LocalObjectStore`). Both pass test/conformance/object-store.suite.ts.
 *
 * Keys are '/'-separated strings under the store's root (bucket + root path). Transient errors are
 * retried inside the implementation; what reaches the caller is a TidalError. The key rules both
 * stores enforce are {@link assertValidKey} and {@link assertValidPrefix}.
 */
import { errors } from '../common/errors.js';

/** An object's metadata. */
export interface ObjectInfo {
  key: string;
  /** Size in bytes. */
  size: number;
  lastModified: Date;
  etag?: string;
}

/** Paging of {@link ObjectStore.list}. */
export interface ListOptions {
  /** Page size, 1..1000. Default 1000. */
  maxKeys?: number;
  /** Token from the previous page's `nextToken`. */
  continuationToken?: string;
}

/** One page of a listing, sorted by key. */
export interface ListPage {
  objects: ObjectInfo[];
  /** Present when more objects follow; pass it as `continuationToken`. */
  nextToken?: string;
}

/** The object-storage seam. Throws TidalError: NOT_FOUND for a missing key, BACKEND_UNAVAILABLE for an outage. */
export interface ObjectStore {
  /**
   * Writes an object whole (replacing any object with that key). `body` is the bytes, or the
   * object as a list of parts written one after the other (e.g. an Arrow IPC file as its writer
   * emitted it), so a caller need not join them into one copy. The parts must not change until the
   * promise settles.
   */
  put(key: string, body: ObjectBody): Promise<void>;
  /** Reads an object whole. */
  get(key: string): Promise<Buffer>;
  /**
   * Reads `length` bytes from `offset`, clamped at the object's end: exactly
   * `min(length, max(0, size - offset))` bytes, so an offset at or past the end gives an empty
   * buffer (not an error). NOT_FOUND when the object is missing; INVALID_ARGUMENT for a negative or
   * non-integer offset or length.
   */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Metadata, or undefined when missing. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Whether an object with this key exists. */
  exists(key: string): Promise<boolean>;
  /**
   * One page of the objects whose keys start with `prefix` (string prefix, not only whole
   * segments), sorted by key; keys are relative to the store's root. INVALID_ARGUMENT for a bad
   * prefix, `maxKeys` or token.
   */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** Every object under a prefix, across pages. */
  listAll(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object under a prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Releases clients. Safe to call twice; afterwards every call throws CLOSED. */
  close(): Promise<void>;
}

/** An object's bytes: one array, or parts in order (see {@link ObjectStore.put}). */
export type ObjectBody = Uint8Array | readonly Uint8Array[];

/** The parts of a body (one part for a single array). */
export function bodyParts(body: ObjectBody): readonly Uint8Array[] {
  return body instanceof Uint8Array ? [body] : body;
}

/** Total size of a body in bytes. Throws INVALID_ARGUMENT when it is not a Uint8Array or an array of them. */
export function bodyLength(body: ObjectBody): number {
  if (body instanceof Uint8Array) return body.byteLength;
  if (!Array.isArray(body)) throw errors.invalidArgument('object body must be a Uint8Array or an array of Uint8Array');
  let n = 0;
  for (const part of body as readonly unknown[]) {
    if (!(part instanceof Uint8Array)) throw errors.invalidArgument('every part of an object body must be a Uint8Array');
    n += part.byteLength;
  }
  return n;
}

/** A body as one Buffer: a view when it is one array, else the parts joined (one copy). */
export function joinBody(body: ObjectBody): Buffer {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.concat(body as Uint8Array[], bodyLength(body));
}

/** Longest key, in UTF-8 bytes (S3's limit), root path not included. */
export const MAX_KEY_BYTES = 1024;
/** Largest page a listing returns (S3's limit). */
export const MAX_LIST_KEYS = 1000;

/**
 * Checks a key against the rules both stores share, so a key valid on one is valid on the other:
 * non-empty, at most {@link MAX_KEY_BYTES} UTF-8 bytes, no control characters, '/'-separated
 * segments that are neither empty nor '.' nor '..' (so no leading '/', no '//', no trailing '/',
 * nothing that escapes the root). Throws INVALID_ARGUMENT naming the rule that failed.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw errors.invalidArgument('object key must be a non-empty string', { key });
  checkSegments(key, key.split('/'), 'object key');
}

/**
 * Checks a listing/deletion prefix: '' (everything) or a string whose complete segments (all but
 * the part after the last '/') follow the key rules. The last part may be partial or empty, so
 * `'a/b'` matches `a/b`, `a/bc` and `a/b/c` (S3 string-prefix semantics). Throws INVALID_ARGUMENT.
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw errors.invalidArgument('prefix must be a string', { prefix });
  if (prefix.length === 0) return;
  const segments = prefix.split('/');
  segments.pop(); // the partial last segment: any string without '/' is a valid start of a segment
  checkSegments(prefix, segments, 'prefix');
}

/** The page size a listing asks for: `maxKeys` (an integer 1..1000) or 1000. Throws INVALID_ARGUMENT. */
export function pageSize(options: ListOptions = {}): number {
  const n = options.maxKeys ?? MAX_LIST_KEYS;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_KEYS) {
    throw errors.invalidArgument(`maxKeys must be an integer from 1 to ${MAX_LIST_KEYS}`, { maxKeys: n });
  }
  return n;
}

/**
 * Validates a ranged read: `offset` and `length` non-negative safe integers. Throws INVALID_ARGUMENT.
 */
export function assertValidRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw errors.invalidArgument('range offset and length must be non-negative integers', { offset, length });
  }
}

/** Orders keys as S3 lists them: by their UTF-8 bytes (not by UTF-16 code units as `<` does). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function checkSegments(value: string, segments: string[], what: string): void {
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) {
    throw errors.invalidArgument(`${what} is longer than ${MAX_KEY_BYTES} UTF-8 bytes`, { [what]: value.slice(0, 64) });
  }
  // Control characters cannot travel in S3's XML listings without URL-encoding them: not allowed.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw errors.invalidArgument(`${what} must not contain control characters`, { [what]: value });
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') {
      throw errors.invalidArgument(
        `${what} must be '/'-separated segments that are not empty, '.' or '..' (no leading, trailing or double '/')`,
        { [what]: value },
      );
    }
  }
}
