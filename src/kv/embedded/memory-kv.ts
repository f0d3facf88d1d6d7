/**
 * MemoryKV: the embedded MetaKV's client, with etcd's semantics (see {@link MvccStore}). On its own
 * store it lives in memory (unit tests, in-memory use); `kv.backend: embedded` uses LmdbKV, this
 * client on a store journaled to disk (lmdb-kv.ts).
 *
 * A MemoryKV is one client of a store. By default it owns a fresh store; several MemoryKVs given
 * the same `store` behave like several clients of one etcd (each with its own watchers and
 * leases; closing one releases its leases, which then expire after their TTL).
 * `simulateDisconnect()` is the test hook for a dropped connection: watchers report
 * `disconnected`, then resume after the last revision they delivered.
 */
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { checkKey, checkPrefix, checkRevision, checkTtl } from '../kv-input.js';
import type { KeyValue, Lease, MetaKV, RangeOptions, RangeResult, TxnRequest, TxnResult, Watcher, WatchOptions } from '../meta-kv.js';
import { MemoryLease } from './memory-lease.js';
import { MemoryWatcher } from './memory-watcher.js';
import { MvccStore, type MvccStoreOptions } from './mvcc-store.js';

/** Options of {@link MemoryKV}. */
export interface MemoryKVOptions extends MvccStoreOptions {
  /** The store to be a client of (shared with other MemoryKVs). Default: a new store of its own. */
  store?: MvccStore;
  logger?: Logger;
}

/** Lifecycle of a MemoryKV. */
export type MemoryKVState = 'open' | 'closed';

/** The embedded MetaKV. Methods throw TidalError (INVALID_ARGUMENT, LEASE_LOST, CLOSED after close()). */
export class MemoryKV implements MetaKV {
  /** The store this client reads and writes. */
  readonly store: MvccStore;
  private readonly log: Logger;
  private readonly watchers = new Set<MemoryWatcher>();
  private readonly leases = new Set<MemoryLease>();
  private state: MemoryKVState = 'open';

  constructor(options: MemoryKVOptions = {}) {
    this.store = options.store ?? new MvccStore(options);
    this.log = (options.logger ?? silentLogger).child({ component: 'memory-kv' });
  }

  /** Current lifecycle state. */
  get status(): MemoryKVState {
    return this.state;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    return this.store.get(key);
  }

  async put(key: string, value: string | Buffer, options: { lease?: string } = {}): Promise<number> {
    this.checkOpen();
    checkKey(key);
    const op = options.lease === undefined ? { type: 'put' as const, key, value } : { type: 'put' as const, key, value, lease: options.lease };
    return this.store.txn({ compare: [], success: [op] }).revision;
  }

  async delete(key: string): Promise<number> {
    this.checkOpen();
    checkKey(key);
    const res = this.store.txn({ compare: [], success: [{ type: 'get', key }, { type: 'delete', key }] });
    return res.gets[0] === undefined ? 0 : 1;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.checkOpen();
    checkPrefix(prefix);
    const before = this.store.range(prefix, { keysOnly: true }).kvs.length;
    this.store.txn({ compare: [], success: [{ type: 'deletePrefix', prefix }] });
    return before;
  }

  async range(prefix: string, options?: RangeOptions): Promise<RangeResult> {
    this.checkOpen();
    return this.store.range(prefix, options);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.checkOpen();
    return this.store.txn(request);
  }

  watch(prefix: string, options: WatchOptions = {}): Watcher {
    this.checkOpen();
    checkPrefix(prefix);
    if (options.startRevision !== undefined) checkRevision(options.startRevision, 'startRevision');
    const watcher = new MemoryWatcher(this.store, prefix, options.startRevision, (w) => this.watchers.delete(w));
    this.watchers.add(watcher);
    return watcher;
  }

  async grantLease(ttlSec: number): Promise<Lease> {
    this.checkOpen();
    checkTtl(ttlSec);
    const id = this.store.grantLease(ttlSec);
    const lease = new MemoryLease(this.store, id, ttlSec, (key, value, leaseId) => this.put(key, value, { lease: leaseId }));
    this.leases.add(lease);
    const forget = () => this.leases.delete(lease);
    lease.once('lost', forget);
    return lease;
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.store.revision;
  }

  /**
   * Compacts the store's history below `revision` (etcd's Compact): later watches from an older
   * revision report `compacted`. Throws INVALID_ARGUMENT for a future revision, COMPACTED if the
   * store is already compacted at or above it.
   */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    this.store.compact(revision);
  }

  /**
   * Test hook: every watcher of this client loses its connection now and gets it back after
   * `downMs` ms (default 200), resuming after the last revision it delivered. Writes keep working
   * meanwhile; watchers catch up on them when they reconnect.
   */
  simulateDisconnect(downMs = 200): void {
    this.checkOpen();
    this.log.info({ watchers: this.watchers.size, downMs }, 'simulating a disconnect');
    for (const w of this.watchers) w.simulateDisconnect(downMs);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all([...this.watchers].map((w) => w.close()));
    for (const lease of this.leases) lease.detach();
    this.leases.clear();
    // The store stays open: other clients may share it, and its leases (ours too, now released)
    // must still expire. Its only timer is the lease expiry timer, which does not hold a process.
  }

  private checkOpen(): void {
    if (this.state === 'closed') throw errors.closed('meta kv');
  }
}
