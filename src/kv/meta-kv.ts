/**
 * MetaKV: the metadata key-value seam. etcd in production (`EtcdKV`), an embedded store for
 * standalone and unit tests. Both pass test/conformance/meta-kv.suite.ts.
 *
 * Keys are non-empty strings, ordered as etcd orders them: by their UTF-8 bytes. Values are bytes
 * (strings are stored as UTF-8). Revisions are etcd's int64 revisions, held as JS numbers (exact
 * below 2^53, i.e. for any real cluster's lifetime); every change bumps the store-wide revision,
 * and all writes of one transaction share one revision.
 */
import type { EventEmitter } from 'node:events';

/** One stored key with its revisions. */
export interface KeyValue {
  key: string;
  value: Buffer;
  /** Revision of the put that created this key (since its last deletion). */
  createRevision: number;
  /** Revision of the last put to this key. */
  modRevision: number;
  /** Number of puts since creation (1 after the first put). */
  version: number;
  /** Lease the key is attached to, or undefined. */
  lease?: string;
}

/** Options for {@link MetaKV.range}. */
export interface RangeOptions {
  /** Most keys to return. 0 or undefined: no limit. */
  limit?: number;
  /** Only keys strictly greater than this one (for pagination: pass the last key of a page). */
  startAfter?: string;
  /** Return keys without values (value is an empty buffer). */
  keysOnly?: boolean;
}

/** One page of a range read, sorted by key ascending. */
export interface RangeResult {
  kvs: KeyValue[];
  /** True when more keys match beyond this page. */
  more: boolean;
  /** Store revision at the time of the read. */
  revision: number;
}

/**
 * A transaction condition: "the key's target <op> the given value". All compares of a txn must hold
 * for its `success` branch to run. As in etcd, a missing key has version, createRevision and
 * modRevision 0, and a `value` compare on a missing key never holds (not even `!=`).
 */
export type Compare =
  | { key: string; target: 'value'; op: CompareOp; value: string | Buffer }
  | { key: string; target: 'version'; op: CompareOp; version: number }
  | { key: string; target: 'createRevision'; op: CompareOp; revision: number }
  | { key: string; target: 'modRevision'; op: CompareOp; revision: number };

/** How a {@link Compare} compares: values byte-wise, versions and revisions as numbers. */
export type CompareOp = '==' | '!=' | '<' | '>';

/**
 * An operation inside a transaction. Ops run in order and see the writes before them. Within one
 * branch a key may be written once: two puts of a key, or a put of a key the branch also deletes,
 * make the txn fail with INVALID_ARGUMENT (etcd's rule).
 */
export type TxnOp =
  | { type: 'put'; key: string; value: string | Buffer; lease?: string }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string }
  | { type: 'get'; key: string };

/** A transaction: compares, then one branch of ops, all applied atomically at one revision. */
export interface TxnRequest {
  compare: Compare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

/** What a transaction did. */
export interface TxnResult {
  /** True when every compare held and `success` ran; false when `failure` ran. */
  succeeded: boolean;
  /** Store revision after the txn (its writes' revision when it wrote anything). */
  revision: number;
  /** For each `get` op of the branch that ran, in order: the key's value or undefined. */
  gets: (KeyValue | undefined)[];
}

/** A change seen by a watch. */
export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** New value for puts; empty for deletes. */
  value: Buffer;
  modRevision: number;
}

/** Events of a {@link Watcher}. */
export interface WatcherEvents {
  /** Changes, in revision order, never repeated or skipped across reconnects. */
  events: [events: WatchEvent[]];
  /**
   * The requested start (or resume) revision was compacted; the watcher is closed. Re-read and
   * watch again from the read's revision + 1. The argument is the store's compaction revision.
   */
  compacted: [compactRevision: number];
  /** The connection to the store was lost; the watcher will resume from where it was. */
  disconnected: [cause: Error];
  /** The watch is (again) established. */
  connected: [];
  /**
   * A failure the watcher cannot recover from; the watcher is closed. Emitted only when there is a
   * listener (otherwise logged), so a watcher never throws an unhandled 'error' event.
   */
  error: [error: Error];
}

/** A live prefix watch. Events are emitted asynchronously, never inside the writer's call. */
export interface Watcher extends EventEmitter<WatcherEvents> {
  /** Resolves once the watch is established on the server. */
  ready(): Promise<void>;
  /** Stops the watch. Safe to call twice. */
  close(): Promise<void>;
}

/** Options for {@link MetaKV.watch}. */
export interface WatchOptions {
  /** First revision to deliver (inclusive, at least 1). Default: changes after the watch is established. */
  startRevision?: number;
}

/** Events of a {@link Lease}. */
export interface LeaseEvents {
  /** The lease expired or could not be kept alive; its keys are (or will be) deleted. */
  lost: [error: Error];
  /** A keepalive succeeded. */
  keepalive: [];
}

/** A granted lease, kept alive automatically until revoked, released or lost. */
export interface Lease extends EventEmitter<LeaseEvents> {
  /** The lease id (etcd's int64, as a decimal string). */
  readonly id: string;
  /** TTL in seconds, as granted: etcd raises TTLs below its minimum (2 s by default). */
  readonly ttlSec: number;
  /** Puts a key attached to this lease. Throws LEASE_LOST once the lease is lost or revoked. */
  put(key: string, value: string | Buffer): Promise<void>;
  /** Revokes the lease: its keys are deleted now. No `lost` event follows. Safe to call twice. */
  revoke(): Promise<void>;
  /**
   * Stops keepalives without revoking: the lease expires after its TTL (a crash, on purpose), and
   * `lost` is emitted then.
   */
  release(): void;
  /** True once the lease is lost or revoked. */
  readonly lost: boolean;
}

/** The metadata KV seam. Every method throws TidalError (BackendUnavailable, Closed, ...). */
export interface MetaKV {
  /** Reads one key; undefined when it does not exist. */
  get(key: string): Promise<KeyValue | undefined>;
  /** Writes a key; returns the store revision of the write. LEASE_LOST if `lease` no longer exists. */
  put(key: string, value: string | Buffer, options?: { lease?: string }): Promise<number>;
  /** Deletes a key; returns how many keys were deleted (0 or 1). */
  delete(key: string): Promise<number>;
  /** Deletes every key under a prefix (the empty prefix: every key) at one revision; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Reads keys under a prefix, sorted by key, one page at a time. */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /** Atomically: if every compare holds, run `success`, else `failure`. */
  txn(request: TxnRequest): Promise<TxnResult>;
  /** Watches every key under a prefix (a key is its own prefix). Throws INVALID_ARGUMENT and CLOSED synchronously. */
  watch(prefix: string, options?: WatchOptions): Watcher;
  /** Grants a lease with the TTL in seconds (at least 1) and keeps it alive. */
  grantLease(ttlSec: number): Promise<Lease>;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Closes the client, its watchers and leases (leases are released, not revoked). Safe to call twice. */
  close(): Promise<void>;
}
