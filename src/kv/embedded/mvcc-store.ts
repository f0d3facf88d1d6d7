/**
 * MvccStore: the core of the embedded MetaKV, with etcd's semantics and no I/O.
 *
 * One global revision counter; each key carries its createRevision, modRevision and version; every
 * change is recorded in a history of revisions that watchers replay from (until compacted); leases
 * own keys and expire at a deadline unless renewed. All methods are synchronous and either apply
 * completely or throw before changing anything. Storage is deliberately out of this file: a
 * persistent store passes a {@link MvccJournal}, which is handed every change ({@link MvccChange})
 * synchronously, before watchers see it and before the writer's call returns, and starts the
 * store from what it wrote ({@link MvccSnapshot}). A journal that fails a write fails the store:
 * the change is already applied in memory but not on disk, so every later call (reads included)
 * throws that failure, and the store must be reopened from its last durable state.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { checkKey, checkPrefix, checkRangeOptions, checkTtl, checkTxn, compareKeys, valueBytes } from '../kv-input.js';
import type { Compare, KeyValue, RangeOptions, RangeResult, TxnOp, TxnRequest, TxnResult, WatchEvent } from '../meta-kv.js';

/** Every change of one revision, in the order the writes ran. */
export interface ChangeRecord {
  revision: number;
  events: WatchEvent[];
}

/**
 * One change of the store's state, as a journal persists it: all of it in one atomic write. A txn
 * gives `record` and `puts`; a lease grant `grantedLease`; a revoke or expiry `revokedLease` and
 * (when the lease had keys) `record`; a compaction, explicit or automatic, `compactRevision`.
 */
export interface MvccChange {
  /** The new revision's changes. */
  record?: ChangeRecord;
  /** The new state of every key `record` puts (its put events, in order). */
  puts?: KeyValue[];
  /** History below this revision was dropped. */
  compactRevision?: number;
  /** A lease was granted; `nextLeaseId` is the id the store will grant next. */
  grantedLease?: { id: string; ttlSec: number; nextLeaseId: number };
  /** A lease was revoked or expired (its keys' deletes are in `record`). */
  revokedLease?: string;
}

/** Persists an {@link MvccStore}'s changes. */
export interface MvccJournal {
  /** Writes one change durably, all or nothing, before returning. Throwing fails the store. */
  write(change: MvccChange): void;
}

/** A store's state as its journal wrote it, to start a store from. */
export interface MvccSnapshot {
  revision: number;
  compactRevision: number;
  kvs: KeyValue[];
  /** History records with revision ≥ `compactRevision`, oldest first. */
  history: ChangeRecord[];
  /** Leases that existed; they start with a full TTL. */
  leases: { id: string; ttlSec: number }[];
  /** The next lease id to grant; undefined: a random one (a store that never granted a lease). */
  nextLeaseId?: number;
}

/** Options of {@link MvccStore}. */
export interface MvccStoreOptions {
  /**
   * History kept for watchers, in revisions: older changes are compacted away automatically (as
   * etcd's revision-mode auto-compaction does). Default 100,000. 0 keeps everything.
   */
  historyRevisions?: number;
  /** Persists every change (see the file comment). Default: none, the store lives in memory. */
  journal?: MvccJournal;
  /** State to start from (what `journal` wrote before). Default: an empty store at revision 1. */
  snapshot?: MvccSnapshot;
}

interface StoredKey {
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease?: string;
}

interface LeaseEntry {
  ttlSec: number;
  /** Wall-clock ms at which the lease expires unless renewed. */
  deadline: number;
  keys: Set<string>;
}

const DEFAULT_HISTORY_REVISIONS = 100_000;

/** The embedded store's state machine. See the file comment. */
export class MvccStore {
  private rev = 1;
  private compactRev = 0;
  private readonly kvs = new Map<string, StoredKey>();
  /** Keys in etcd order (UTF-8 bytes), for ranges. */
  private readonly sorted: string[] = [];
  /** Changes with revision ≥ compactRev, oldest first. */
  private history: ChangeRecord[] = [];
  private readonly leases = new Map<string, LeaseEntry>();
  private nextLeaseId = Math.floor(Math.random() * 2 ** 40) + 1;
  private readonly commitListeners = new Set<(record: ChangeRecord) => void>();
  private readonly expiryListeners = new Set<(leaseId: string) => void>();
  private readonly failureListeners = new Set<(error: TidalError) => void>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly historyRevisions: number;
  private readonly journal: MvccJournal | undefined;
  private closed = false;
  private failure: TidalError | undefined;

  constructor(options: MvccStoreOptions = {}) {
    const keep = options.historyRevisions ?? DEFAULT_HISTORY_REVISIONS;
    if (!Number.isInteger(keep) || keep < 0) throw errors.invalidArgument('historyRevisions must be a whole number, 0 or more', { historyRevisions: keep });
    this.historyRevisions = keep;
    this.journal = options.journal;
    if (options.snapshot !== undefined) this.restore(options.snapshot);
  }

  /** Current revision (1 for an empty store, as in etcd). */
  get revision(): number {
    return this.rev;
  }

  /** Revision the history was last compacted at (0: never). Watches must start at or above it. */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** Calls `listener` synchronously after each committed revision. Returns the unsubscribe function. */
  onCommit(listener: (record: ChangeRecord) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Calls `listener` once if the journal fails a write (the store is then closed). Returns the unsubscribe function. */
  onFailed(listener: (error: TidalError) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** The journal failure that closed the store, or undefined. */
  get failed(): TidalError | undefined {
    return this.failure;
  }

  /** Ids of the leases that exist now. */
  leaseIds(): string[] {
    return [...this.leases.keys()];
  }

  /** Calls `listener` after a lease expired (its keys are already deleted). Returns the unsubscribe function. */
  onLeaseExpired(listener: (leaseId: string) => void): () => void {
    this.expiryListeners.add(listener);
    return () => this.expiryListeners.delete(listener);
  }

  /** The key's current value, or undefined. */
  get(key: string): KeyValue | undefined {
    this.checkNotFailed();
    checkKey(key);
    const kv = this.kvs.get(key);
    return kv === undefined ? undefined : toKeyValue(key, kv, false);
  }

  /** One page of the keys under `prefix`, in key order. */
  range(prefix: string, options: RangeOptions = {}): RangeResult {
    this.checkNotFailed();
    checkPrefix(prefix);
    const limit = checkRangeOptions(options);
    const kvs: KeyValue[] = [];
    let more = false;
    let i = this.lowerBound(prefix);
    if (options.startAfter !== undefined && compareKeys(options.startAfter, prefix) >= 0) i = this.upperBound(options.startAfter);
    for (; i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      if (!key.startsWith(prefix)) break;
      if (limit > 0 && kvs.length === limit) {
        more = true;
        break;
      }
      kvs.push(toKeyValue(key, this.kvs.get(key)!, options.keysOnly === true));
    }
    return { kvs, more, revision: this.rev };
  }

  /** Runs a transaction atomically; throws (changing nothing) on bad input or a put under a missing lease. */
  txn(request: TxnRequest): TxnResult {
    this.checkOpen();
    checkTxn(request);
    const succeeded = request.compare.every((c) => this.holds(c));
    const ops = succeeded ? request.success : (request.failure ?? []);
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) {
        throw new TidalError(ErrorCode.LeaseLost, `lease ${op.lease} is expired or revoked`, { context: { key: op.key, lease: op.lease } });
      }
    }
    const { gets, record, puts } = this.apply(ops);
    if (record !== undefined) this.commit({ record, puts });
    return { succeeded, revision: this.rev, gets };
  }

  /** Grants a lease; returns its id. */
  grantLease(ttlSec: number): string {
    this.checkOpen();
    checkTtl(ttlSec);
    const id = String(this.nextLeaseId++);
    this.leases.set(id, { ttlSec, deadline: Date.now() + ttlSec * 1000, keys: new Set() });
    this.persist({ grantedLease: { id, ttlSec, nextLeaseId: this.nextLeaseId } });
    this.scheduleExpiry();
    return id;
  }

  /** Pushes the lease's deadline to now + TTL. False when the lease no longer exists. */
  renewLease(id: string): boolean {
    const lease = this.leases.get(id);
    if (lease === undefined || this.closed) return false;
    lease.deadline = Date.now() + lease.ttlSec * 1000;
    this.scheduleExpiry();
    return true;
  }

  /** True while the lease exists. */
  hasLease(id: string): boolean {
    return this.leases.has(id);
  }

  /** Deletes the lease and its keys (in one revision). False when it did not exist. Throws CLOSED after close(). */
  revokeLease(id: string): boolean {
    this.checkOpen();
    const lease = this.leases.get(id);
    if (lease === undefined) return false;
    const keys = [...lease.keys].sort(compareKeys);
    this.leases.delete(id);
    const { record, puts } = this.apply(keys.map((key) => ({ type: 'delete', key })));
    this.commit({ ...(record === undefined ? {} : { record, puts }), revokedLease: id });
    this.scheduleExpiry();
    return true;
  }

  /**
   * Changes at or after `fromRevision` that touch keys under `prefix` (events of other keys left
   * out, revisions without any left out). Throws COMPACTED when `fromRevision` was compacted away.
   */
  changesSince(fromRevision: number, prefix: string): ChangeRecord[] {
    this.checkNotFailed();
    if (fromRevision < this.compactRev) {
      throw new TidalError(ErrorCode.Compacted, `revision ${fromRevision} is compacted (compacted at ${this.compactRev})`, {
        context: { revision: fromRevision, compactRevision: this.compactRev },
      });
    }
    const out: ChangeRecord[] = [];
    for (let i = this.historyIndex(fromRevision); i < this.history.length; i++) {
      const record = this.history[i]!;
      const events = record.events.filter((e) => e.key.startsWith(prefix));
      if (events.length > 0) out.push({ revision: record.revision, events });
    }
    return out;
  }

  /**
   * Drops the history below `revision`: watches from an older revision then report COMPACTED.
   * Throws INVALID_ARGUMENT for a future revision, COMPACTED if already compacted at or above it.
   */
  compact(revision: number): void {
    this.checkOpen();
    if (!Number.isSafeInteger(revision) || revision < 1) throw errors.invalidArgument('compact revision must be a whole number, at least 1', { revision });
    if (revision > this.rev) throw errors.invalidArgument(`compact revision ${revision} is in the future (current ${this.rev})`, { revision });
    if (revision <= this.compactRev) {
      throw new TidalError(ErrorCode.Compacted, `already compacted at ${this.compactRev}`, { context: { revision, compactRevision: this.compactRev } });
    }
    this.dropHistory(revision);
    this.persist({ compactRevision: revision });
  }

  /** Stops the lease expiry timer and refuses further writes. Safe to call twice. */
  close(): void {
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  private checkOpen(): void {
    this.checkNotFailed();
    if (this.closed) throw errors.closed('embedded meta store');
  }

  private checkNotFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Starts from a journal's snapshot (constructor only). */
  private restore(snapshot: MvccSnapshot): void {
    this.rev = snapshot.revision;
    this.compactRev = snapshot.compactRevision;
    for (const lease of snapshot.leases) this.leases.set(lease.id, { ttlSec: lease.ttlSec, deadline: Date.now() + lease.ttlSec * 1000, keys: new Set() });
    for (const kv of snapshot.kvs) {
      const stored: StoredKey = { value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
      if (kv.lease !== undefined) {
        const lease = this.leases.get(kv.lease);
        if (lease === undefined) throw errors.corrupted(`stored key ${JSON.stringify(kv.key)} is attached to lease ${kv.lease}, which the store does not have`, undefined, { key: kv.key, lease: kv.lease });
        lease.keys.add(kv.key);
        stored.lease = kv.lease;
      }
      this.kvs.set(kv.key, stored);
      this.sorted.push(kv.key);
    }
    this.sorted.sort(compareKeys);
    this.history = snapshot.history.filter((r) => r.revision >= this.compactRev);
    if (snapshot.nextLeaseId !== undefined) this.nextLeaseId = snapshot.nextLeaseId;
    this.scheduleExpiry();
  }

  /** Hands `change` to the journal; on failure, fails the store (see the file comment) and throws. */
  private persist(change: MvccChange): void {
    if (this.journal === undefined) return;
    try {
      this.journal.write(change);
    } catch (err) {
      this.failure = new TidalError(
        ErrorCode.BackendUnavailable,
        'the embedded meta store could not persist a change and is closed; reopen it to continue from its last durable state',
        { cause: err, retriable: false },
      );
      this.close();
      for (const listener of [...this.failureListeners]) listener(this.failure);
      throw this.failure;
    }
  }

  private dropHistory(revision: number): void {
    this.compactRev = revision;
    this.history = this.history.slice(this.historyIndex(revision));
  }

  /** Whether one compare holds, by etcd's rules (a value compare on a missing key never holds). */
  private holds(c: Compare): boolean {
    const kv = this.kvs.get(c.key);
    let diff: number;
    switch (c.target) {
      case 'value':
        if (kv === undefined) return false;
        diff = Buffer.compare(kv.value, valueBytes(c.value));
        break;
      case 'version':
        diff = (kv?.version ?? 0) - c.version;
        break;
      case 'createRevision':
        diff = (kv?.createRevision ?? 0) - c.revision;
        break;
      case 'modRevision':
        diff = (kv?.modRevision ?? 0) - c.revision;
        break;
    }
    switch (c.op) {
      case '==':
        return diff === 0;
      case '!=':
        return diff !== 0;
      case '<':
        return diff < 0;
      case '>':
        return diff > 0;
    }
  }

  /** Runs checked ops in order at the next revision; the caller commits the record, if any. */
  private apply(ops: TxnOp[]): { gets: (KeyValue | undefined)[]; record?: ChangeRecord; puts: KeyValue[] } {
    const next = this.rev + 1;
    const events: WatchEvent[] = [];
    const gets: (KeyValue | undefined)[] = [];
    const puts: KeyValue[] = [];
    const remove = (key: string) => {
      const old = this.kvs.get(key);
      if (old === undefined) return;
      this.detachLease(key, old.lease);
      this.kvs.delete(key);
      this.sorted.splice(this.lowerBound(key), 1);
      events.push({ type: 'delete', key, value: Buffer.alloc(0), modRevision: next });
    };
    for (const op of ops) {
      switch (op.type) {
        case 'put': {
          const old = this.kvs.get(op.key);
          const value = Buffer.from(valueBytes(op.value, op.key));
          if (old === undefined) this.sorted.splice(this.lowerBound(op.key), 0, op.key);
          else this.detachLease(op.key, old.lease);
          const stored: StoredKey = {
            value,
            createRevision: old?.createRevision ?? next,
            modRevision: next,
            version: (old?.version ?? 0) + 1,
            ...(op.lease === undefined ? {} : { lease: op.lease }),
          };
          this.kvs.set(op.key, stored);
          puts.push({ key: op.key, ...stored });
          if (op.lease !== undefined) this.leases.get(op.lease)!.keys.add(op.key);
          events.push({ type: 'put', key: op.key, value: Buffer.from(value), modRevision: next });
          break;
        }
        case 'delete':
          remove(op.key);
          break;
        case 'deletePrefix': {
          const keys: string[] = [];
          for (let i = this.lowerBound(op.prefix); i < this.sorted.length && this.sorted[i]!.startsWith(op.prefix); i++) keys.push(this.sorted[i]!);
          for (const key of keys) remove(key);
          break;
        }
        case 'get': {
          const kv = this.kvs.get(op.key);
          gets.push(kv === undefined ? undefined : toKeyValue(op.key, kv, false));
          break;
        }
      }
    }
    return events.length > 0 ? { gets, record: { revision: next, events }, puts } : { gets, puts };
  }

  /** Makes a change current: the record's revision, history (compacted as configured), journal, then listeners. */
  private commit(change: MvccChange): void {
    const { record } = change;
    if (record !== undefined) {
      this.rev = record.revision;
      this.history.push(record);
      if (this.historyRevisions > 0 && this.rev - Math.max(this.compactRev, 1) > this.historyRevisions * 1.1) {
        this.dropHistory(this.rev - this.historyRevisions);
        change.compactRevision = this.compactRev;
      }
    }
    this.persist(change);
    if (record !== undefined) for (const listener of [...this.commitListeners]) listener(record);
  }

  private detachLease(key: string, lease: string | undefined): void {
    if (lease !== undefined) this.leases.get(lease)?.keys.delete(key);
  }

  /** One timer, set for the earliest lease deadline. */
  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.closed || this.leases.size === 0) return;
    let earliest = Infinity;
    for (const lease of this.leases.values()) earliest = Math.min(earliest, lease.deadline);
    this.expiryTimer = setTimeout(() => this.expireLeases(), Math.max(0, earliest - Date.now()));
    // Lease expiry must not keep a process alive that has nothing else to do.
    this.expiryTimer.unref();
  }

  private expireLeases(): void {
    this.expiryTimer = undefined;
    const now = Date.now();
    const expired = [...this.leases].filter(([, lease]) => lease.deadline <= now).map(([id]) => id);
    try {
      for (const id of expired) this.revokeLease(id);
    } catch (err) {
      // Only a journal failure gets here: the store is failed and closed, and its failure
      // listeners have been told. A timer callback has no caller to throw to.
      if (this.failure === undefined) throw err;
      return;
    }
    this.scheduleExpiry();
    for (const id of expired) for (const listener of [...this.expiryListeners]) listener(id);
  }

  /** Index of the first key ≥ `key` in `sorted`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first key > `key` in `sorted`. */
  private upperBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid]!, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first history record with revision ≥ `revision`. */
  private historyIndex(revision: number): number {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function toKeyValue(key: string, kv: StoredKey, keysOnly: boolean): KeyValue {
  return {
    key,
    value: keysOnly ? Buffer.alloc(0) : Buffer.from(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    ...(kv.lease === undefined ? {} : { lease: kv.lease }),
  };
}
