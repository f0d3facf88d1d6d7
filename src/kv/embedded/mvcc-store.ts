/**
 * MvccStore: the core of the embedded MetaKV, with etcd's semantics and no I/O.
 *
 * One global revision counter; each key carries its createRevision, modRevision and version; every
 * change is recorded in a history of revisions that watchers replay from (until compacted); leases
 * own keys and expire at a deadline unless renewed. All methods are synchronous and either apply
 * completely or throw before changing anything. Storage is deliberately out of this file: a
 * persistent store can log each {@link ChangeRecord} handed to `onCommit` listeners and rebuild
 * from a snapshot plus that log.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { checkKey, checkPrefix, checkRangeOptions, checkTtl, checkTxn, compareKeys, valueBytes } from '../kv-input.js';
import type { Compare, KeyValue, RangeOptions, RangeResult, TxnOp, TxnRequest, TxnResult, WatchEvent } from '../meta-kv.js';

/** Every change of one revision, in the order the writes ran. */
export interface ChangeRecord {
  revision: number;
  events: WatchEvent[];
}

/** Options of {@link MvccStore}. */
export interface MvccStoreOptions {
  /**
   * History kept for watchers, in revisions: older changes are compacted away automatically (as
   * etcd's revision-mode auto-compaction does). Default 100,000. 0 keeps everything.
   */
  historyRevisions?: number;
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
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly historyRevisions: number;
  private closed = false;

  constructor(options: MvccStoreOptions = {}) {
    const keep = options.historyRevisions ?? DEFAULT_HISTORY_REVISIONS;
    if (!Number.isInteger(keep) || keep < 0) throw errors.invalidArgument('historyRevisions must be a whole number, 0 or more', { historyRevisions: keep });
    this.historyRevisions = keep;
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

  /** Calls `listener` after a lease expired (its keys are already deleted). Returns the unsubscribe function. */
  onLeaseExpired(listener: (leaseId: string) => void): () => void {
    this.expiryListeners.add(listener);
    return () => this.expiryListeners.delete(listener);
  }

  /** The key's current value, or undefined. */
  get(key: string): KeyValue | undefined {
    checkKey(key);
    const kv = this.kvs.get(key);
    return kv === undefined ? undefined : toKeyValue(key, kv, false);
  }

  /** One page of the keys under `prefix`, in key order. */
  range(prefix: string, options: RangeOptions = {}): RangeResult {
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
    const gets = this.apply(ops);
    return { succeeded, revision: this.rev, gets };
  }

  /** Grants a lease; returns its id. */
  grantLease(ttlSec: number): string {
    this.checkOpen();
    checkTtl(ttlSec);
    const id = String(this.nextLeaseId++);
    this.leases.set(id, { ttlSec, deadline: Date.now() + ttlSec * 1000, keys: new Set() });
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

  /** Deletes the lease and its keys (in one revision). False when it did not exist. */
  revokeLease(id: string): boolean {
    const lease = this.leases.get(id);
    if (lease === undefined) return false;
    const keys = [...lease.keys].sort(compareKeys);
    this.leases.delete(id);
    this.apply(keys.map((key) => ({ type: 'delete', key })));
    this.scheduleExpiry();
    return true;
  }

  /**
   * Changes at or after `fromRevision` that touch keys under `prefix` (events of other keys left
   * out, revisions without any left out). Throws COMPACTED when `fromRevision` was compacted away.
   */
  changesSince(fromRevision: number, prefix: string): ChangeRecord[] {
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
    if (!Number.isSafeInteger(revision) || revision < 1) throw errors.invalidArgument('compact revision must be a whole number, at least 1', { revision });
    if (revision > this.rev) throw errors.invalidArgument(`compact revision ${revision} is in the future (current ${this.rev})`, { revision });
    if (revision <= this.compactRev) {
      throw new TidalError(ErrorCode.Compacted, `already compacted at ${this.compactRev}`, { context: { revision, compactRevision: this.compactRev } });
    }
    this.compactRev = revision;
    this.history = this.history.slice(this.historyIndex(revision));
  }

  /** Stops the lease expiry timer and refuses further writes. Safe to call twice. */
  close(): void {
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  private checkOpen(): void {
    if (this.closed) throw errors.closed('embedded meta store');
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

  /** Runs checked ops in order at the next revision; commits that revision if anything changed. */
  private apply(ops: TxnOp[]): (KeyValue | undefined)[] {
    const next = this.rev + 1;
    const events: WatchEvent[] = [];
    const gets: (KeyValue | undefined)[] = [];
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
          this.kvs.set(op.key, {
            value,
            createRevision: old?.createRevision ?? next,
            modRevision: next,
            version: (old?.version ?? 0) + 1,
            ...(op.lease === undefined ? {} : { lease: op.lease }),
          });
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
    if (events.length > 0) this.commit({ revision: next, events });
    return gets;
  }

  private commit(record: ChangeRecord): void {
    this.rev = record.revision;
    this.history.push(record);
    if (this.historyRevisions > 0 && this.rev - Math.max(this.compactRev, 1) > this.historyRevisions * 1.1) {
      this.compact(this.rev - this.historyRevisions);
    }
    for (const listener of [...this.commitListeners]) listener(record);
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
    for (const id of expired) this.revokeLease(id);
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
