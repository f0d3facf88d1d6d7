/**
 * MetaKV: the metadata key-value seam. etcd in production (`EtcdKV`), an embedded store for
 * standalone and unit tests. Both pass test/conformance/meta-kv.suite.ts.
 *
 * Keys are strings; values are bytes (strings are stored as UTF-8). Revisions are etcd's int64
 * revisions, held as JS numbers (exact below 2^53, i.e. for any real cluster's lifetime).
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

/** A transaction condition. All compares of a txn must hold for its `success` branch to run. */
export type Compare =
  | { key: string; target: 'value'; op: CompareOp; value: string | Buffer }
  | { key: string; target: 'version'; op: CompareOp; version: number }
  | { key: string; target: 'createRevision'; op: CompareOp; revision: number }
  | { key: string; target: 'modRevision'; op: CompareOp; revision: number };

export type CompareOp = '==' | '!=' | '<' | '>';

/** A write inside a transaction. */
export type TxnOp =
  | { type: 'put'; key: string; value: string | Buffer; lease?: string }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string }
  | { type: 'get'; key: string };

export interface TxnRequest {
  compare: Compare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

export interface TxnResult {
  succeeded: boolean;
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
  /** The requested start revision was compacted; the watcher is closed. Re-read and watch again. */
  compacted: [compactRevision: number];
  /** The connection to the store was lost; the watcher will resume from where it was. */
  disconnected: [cause: Error];
  /** The watch is (again) established. */
  connected: [];
  /** A failure the watcher cannot recover from; the watcher is closed. */
  error: [error: Error];
}

/** A live prefix watch. */
export interface Watcher extends EventEmitter<WatcherEvents> {
  /** Resolves once the watch is established on the server. */
  ready(): Promise<void>;
  /** Stops the watch. Safe to call twice. */
  close(): Promise<void>;
}

export interface WatchOptions {
  /** First revision to deliver (inclusive). Default: changes after now. */
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
  /** TTL in seconds. */
  readonly ttlSec: number;
  /** Puts a key attached to this lease. */
  put(key: string, value: string | Buffer): Promise<void>;
  /** Revokes the lease: its keys are deleted now. Safe to call twice. */
  revoke(): Promise<void>;
  /** Stops keepalives without revoking: the lease expires after its TTL (a crash, on purpose). */
  release(): void;
  /** True once the lease is lost or revoked. */
  readonly lost: boolean;
}

/** The metadata KV seam. Every method throws TidalError (BackendUnavailable, Closed, ...). */
export interface MetaKV {
  get(key: string): Promise<KeyValue | undefined>;
  /** Writes a key; returns the store revision of the write. */
  put(key: string, value: string | Buffer, options?: { lease?: string }): Promise<number>;
  /** Deletes a key; returns how many keys were deleted (0 or 1). */
  delete(key: string): Promise<number>;
  /** Deletes every key under a prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Reads keys under a prefix, sorted by key, one page at a time. */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /** Atomically: if every compare holds, run `success`, else `failure`. */
  txn(request: TxnRequest): Promise<TxnResult>;
  /** Watches every key under a prefix. */
  watch(prefix: string, options?: WatchOptions): Watcher;
  /** Grants a lease with the TTL in seconds (at least 1) and keeps it alive. */
  grantLease(ttlSec: number): Promise<Lease>;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Closes the client, its watchers and leases (leases are released, not revoked). Safe to call twice. */
  close(): Promise<void>;
}
