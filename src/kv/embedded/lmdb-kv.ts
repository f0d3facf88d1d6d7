/**
 * LmdbKV: the persistent embedded MetaKV (`kv.backend: embedded`), etcd's semantics on a local
 * directory that survives restarts, SIGKILL included.
 *
 * - State and semantics are {@link MvccStore}'s (revisions, txn compares, watch with history,
 *   leases, compaction); clients are {@link MemoryKV}s. Every change is written by an
 *   {@link LmdbJournal} in one durable LMDB transaction before the writer's call resolves and
 *   before any watcher sees it: puts, deletes, txns, lease grants, revokes and expiries,
 *   compactions. A crash leaves all of a txn or none of it.
 * - Revisions continue across restarts. History is kept on disk and in memory for the last
 *   `historyRevisions` revisions (default 10,000, as etcd's revision auto-compaction; Milvus runs
 *   etcd with 1,000): a watch from a revision inside it works after a restart, one from below the
 *   compaction revision gets `compacted`. The whole key space is held in memory (metadata is small).
 * - One process owns the directory ({@link DirLock}): a second open, from another process or this
 *   one, fails at once with FAILED_PRECONDITION naming the directory and the holder's pid. The
 *   lock of a killed process is taken over.
 * - Leases do not survive their process: nobody can renew a lease granted by a previous process,
 *   so opening the store revokes every lease it finds, each at a new revision whose deletes
 *   watchers see (a watch from an older revision replays them), as etcd would expire them.
 * - {@link LmdbKV.peer} gives another client of the same open store (its own watchers and leases,
 *   like a second etcd client). The store closes when its last client closes.
 * - A failed disk write (disk full, I/O error) closes the store: every later call throws
 *   BACKEND_UNAVAILABLE (not retriable) and watchers get `error`; reopen to continue from the
 *   last durable state.
 *
 * A write costs one synchronous LMDB commit with its flushes (about 0.5-1 ms on this machine's
 * disk); see bench/embedded/kv-speed.ts for the figures.
 */
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { DirLock } from './dir-lock.js';
import { LmdbJournal } from './lmdb-journal.js';
import { MemoryKV, type MemoryKVState } from './memory-kv.js';
import { MvccStore } from './mvcc-store.js';

/** History kept by default, in revisions (see the class comment). */
export const DEFAULT_LMDB_HISTORY_REVISIONS = 10_000;

/** Options of {@link LmdbKV.open}. */
export interface LmdbKVOptions {
  /** The data directory (`kv.localDir`); created when missing. */
  dir: string;
  /** History kept for watchers, in revisions (0: everything). Default {@link DEFAULT_LMDB_HISTORY_REVISIONS}. */
  historyRevisions?: number;
  logger?: Logger;
}

/** One open directory, shared by the clients of it; closed with its last client. */
class SharedStore {
  private clients = 0;

  constructor(
    readonly store: MvccStore,
    private readonly journal: LmdbJournal,
    private readonly lock: DirLock,
  ) {}

  acquire(): void {
    this.clients += 1;
  }

  async release(): Promise<void> {
    this.clients -= 1;
    if (this.clients > 0) return;
    this.store.close();
    try {
      await this.journal.close();
    } finally {
      this.lock.release();
    }
  }
}

/** The persistent embedded MetaKV. See the file comment. */
export class LmdbKV extends MemoryKV {
  private constructor(
    private readonly shared: SharedStore,
    /** The data directory, as an absolute path. */
    readonly dir: string,
    private readonly baseLogger: Logger,
  ) {
    super({ store: shared.store, logger: baseLogger });
    shared.acquire();
  }

  /**
   * Opens the store in `options.dir`, revoking the leases of the previous process. Throws
   * FAILED_PRECONDITION when another live process (or this one) holds the directory, CORRUPTED
   * for a directory this version cannot read, BACKEND_UNAVAILABLE when the disk refuses,
   * INVALID_ARGUMENT for bad options.
   */
  static open(options: LmdbKVOptions): LmdbKV {
    const logger = (options.logger ?? silentLogger).child({ component: 'lmdb-kv' });
    const historyRevisions = options.historyRevisions ?? DEFAULT_LMDB_HISTORY_REVISIONS;
    const lock = DirLock.acquire(options.dir);
    let journal: LmdbJournal | undefined;
    try {
      journal = LmdbJournal.open(lock.dir);
      const snapshot = journal.load();
      const store = new MvccStore({ historyRevisions, journal, snapshot });
      const stale = store.leaseIds();
      for (const id of stale) store.revokeLease(id);
      store.onFailed((err) => logger.error({ err, dir: lock.dir }, 'embedded meta store failed to persist a change; it is closed'));
      logger.info({ dir: lock.dir, revision: store.revision, compactRevision: store.compactRevision, keys: snapshot.kvs.length, revokedLeases: stale.length }, 'embedded meta store opened');
      return new LmdbKV(new SharedStore(store, journal, lock), lock.dir, options.logger ?? silentLogger);
    } catch (err) {
      // Give the directory back (once LMDB is closed, if it was opened); the error to report is
      // the one that stopped the open.
      if (journal === undefined) lock.release();
      else void journal.close().catch(() => undefined).finally(() => lock.release());
      throw err;
    }
  }

  /** Another client of the same open store (its own watchers and leases). Throws CLOSED after close(). */
  peer(): LmdbKV {
    if (this.status === 'closed') throw errors.closed('meta kv');
    return new LmdbKV(this.shared, this.dir, this.baseLogger);
  }

  /** Closes this client (its leases are released, not revoked); the last client closes the store. Safe to call twice. */
  override async close(): Promise<void> {
    const state: MemoryKVState = this.status;
    if (state === 'closed') return;
    await super.close();
    await this.shared.release();
  }
}
