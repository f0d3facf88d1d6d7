/**
 * ObjectStore: the object-storage seam. S3/MinIO in production (`S3ObjectStore`), the local
 * filesystem for standalone (`LocalObjectStore`). Both pass test/conformance/object-store.suite.ts.
 *
 * Keys are '/'-separated strings under the store's root (bucket + root path). Transient errors are
 * retried inside the implementation; what reaches the caller is a TidalError.
 */

/** An object's metadata. */
export interface ObjectInfo {
  key: string;
  /** Size in bytes. */
  size: number;
  lastModified: Date;
  etag?: string;
}

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
  /** Writes an object whole (replacing any object with that key). */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Reads an object whole. */
  get(key: string): Promise<Buffer>;
  /** Reads `length` bytes from `offset` (clamped at the object's end). */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Metadata, or undefined when missing. */
  head(key: string): Promise<ObjectInfo | undefined>;
  exists(key: string): Promise<boolean>;
  /** One page of the objects under a prefix. */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** Every object under a prefix, across pages. */
  listAll(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object under a prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Releases clients. Safe to call twice. */
  close(): Promise<void>;
}
