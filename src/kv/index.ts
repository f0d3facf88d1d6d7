/**
 * Public surface of src/kv: the MetaKV seam and its implementations (etcd, embedded).
 * Other folders import from here (`../kv/index.js`).
 */
export * from './meta-kv.js';
export { compareKeys } from './kv-input.js';
export { EtcdKV, prefixRangeEnd, type EtcdKVOptions, type EtcdKVState } from './etcd/etcd-kv.js';
export { fromEtcdError } from './etcd/etcd-errors.js';
export type { EtcdLease, EtcdLeaseState } from './etcd/etcd-lease.js';
export { DEFAULT_WATCH_BACKOFF, type EtcdWatcher, type EtcdWatcherState, type WatchBackoff } from './etcd/etcd-watcher.js';
export { allocateServerId, SERVER_ID_KEY } from './server-id.js';
export { MemoryKV, type MemoryKVOptions, type MemoryKVState } from './embedded/memory-kv.js';
export { MvccStore, type ChangeRecord, type MvccChange, type MvccJournal, type MvccSnapshot, type MvccStoreOptions } from './embedded/mvcc-store.js';
export { LmdbKV, DEFAULT_LMDB_HISTORY_REVISIONS, type LmdbKVOptions } from './embedded/lmdb-kv.js';
export { LmdbJournal, LMDB_FILE } from './embedded/lmdb-journal.js';
export { DirLock, LOCK_FILE, type LockOwner } from './embedded/dir-lock.js';
export type { MemoryLease, MemoryLeaseState } from './embedded/memory-lease.js';
export type { MemoryWatcher, MemoryWatcherState } from './embedded/memory-watcher.js';
