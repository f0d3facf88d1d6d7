/**
 * LmdbJournal: the durable side of the persistent embedded MetaKV, an {@link MvccJournal} on LMDB.
 *
 * One LMDB environment, `meta.mdb` in the data directory, with four databases:
 *
 * | db        | key                          | value                                                   |
 * |-----------|------------------------------|---------------------------------------------------------|
 * | `info`    | `format`, `revision`, `compactRevision`, `nextLeaseId` | numbers                       |
 * | `keys`    | SHA-256 of the key's UTF-8   | `[key, value, createRevision, modRevision, version, lease \| null]` |
 * | `history` | revision (number)            | the revision's events: `[key]` (delete), `[key, value]` (put) |
 * | `leases`  | lease id                     | TTL in seconds                                          |
 *
 * Keys are stored by hash so that any key length works (LMDB keys stop near 2 KB); the store
 * keeps its own key order in memory. Every {@link MvccChange} is one synchronous LMDB
 * transaction with LMDB's default durable commit (data and meta page flushed before the commit
 * returns), so a change is on disk before the store lets anyone see it, and a crash leaves all of
 * it or none. Values go through lmdb's MessagePack encoding (Buffers stay Buffers).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { errors, TidalError, ErrorCode } from '../../common/errors.js';
import type { KeyValue, WatchEvent } from '../meta-kv.js';
import type { ChangeRecord, MvccChange, MvccJournal, MvccSnapshot } from './mvcc-store.js';

/** The file of the LMDB environment inside the data directory. */
export const LMDB_FILE = 'meta.mdb';

/** Version of the layout above; a directory written by another version is refused. */
const FORMAT = 1;

type StoredKeyRow = [key: string, value: Buffer, createRevision: number, modRevision: number, version: number, lease: string | null];
type EventRow = [key: string] | [key: string, value: Buffer];

/** The LMDB environment of one data directory. Open it with {@link LmdbJournal.open}. */
export class LmdbJournal implements MvccJournal {
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly root: RootDatabase,
    private readonly info: Database<number, string>,
    private readonly keys: Database<StoredKeyRow, Buffer>,
    private readonly history: Database<EventRow[], number>,
    private readonly leases: Database<number, string>,
    /** The compaction revision on disk: history rows below it are deleted up to the next one. */
    private compactRevision: number,
  ) {}

  /**
   * Opens (creating when empty) the environment in `dir`, which must exist and be held by this
   * process (see DirLock). Throws CORRUPTED for a directory of another format, BACKEND_UNAVAILABLE
   * when LMDB cannot open it.
   */
  static open(dir: string): LmdbJournal {
    let root: RootDatabase;
    try {
      root = open({ path: join(dir, LMDB_FILE), maxDbs: 8 });
    } catch (err) {
      throw errors.backend(`cannot open the embedded meta store in ${dir}`, err, false, { dir });
    }
    try {
      const info = root.openDB<number, string>('info', {});
      const keys = root.openDB<StoredKeyRow, Buffer>('keys', { keyEncoding: 'binary' });
      const history = root.openDB<EventRow[], number>('history', {});
      const leases = root.openDB<number, string>('leases', {});
      const format = info.get('format');
      if (format === undefined) {
        if (keys.getKeysCount() > 0 || history.getKeysCount() > 0) throw errors.corrupted(`the embedded meta store in ${dir} has data but no format version`, undefined, { dir });
        info.transactionSync(() => info.putSync('format', FORMAT));
      } else if (format !== FORMAT) {
        throw errors.corrupted(`the embedded meta store in ${dir} has format ${String(format)}; this version reads format ${FORMAT}`, undefined, { dir, format });
      }
      return new LmdbJournal(dir, root, info, keys, history, leases, info.get('compactRevision') ?? 0);
    } catch (err) {
      // Opened but unusable: close it (the failure to report is the one above).
      void root.close().catch(() => undefined);
      if (err instanceof TidalError) throw err;
      throw errors.backend(`cannot open the embedded meta store in ${dir}`, err, false, { dir });
    }
  }

  /** Reads the whole state back. Throws CORRUPTED when a row is not what this file writes. */
  load(): MvccSnapshot {
    const revision = this.info.get('revision') ?? 1;
    const kvs: KeyValue[] = [];
    for (const { value: row } of this.keys.getRange({})) kvs.push(this.toKeyValue(row));
    const history: ChangeRecord[] = [];
    for (const { key, value } of this.history.getRange({ start: this.compactRevision })) history.push(this.toRecord(key, value));
    const leases: { id: string; ttlSec: number }[] = [];
    for (const { key, value } of this.leases.getRange({})) {
      if (typeof key !== 'string' || !Number.isInteger(value) || value < 1) throw this.corrupt('lease', { lease: key });
      leases.push({ id: key, ttlSec: value });
    }
    const nextLeaseId = this.info.get('nextLeaseId');
    return { revision, compactRevision: this.compactRevision, kvs, history, leases, ...(nextLeaseId === undefined ? {} : { nextLeaseId }) };
  }

  /** Writes one change in one durable LMDB transaction. */
  write(change: MvccChange): void {
    if (this.closed) throw errors.closed('embedded meta store journal');
    const { record, compactRevision, grantedLease, revokedLease } = change;
    this.root.transactionSync(() => {
      if (record !== undefined) {
        const puts = new Map((change.puts ?? []).map((kv) => [kv.key, kv]));
        const rows: EventRow[] = [];
        for (const event of record.events) {
          if (event.type === 'put') {
            const kv = puts.get(event.key);
            if (kv === undefined) throw new TidalError(ErrorCode.Internal, `change of revision ${record.revision} puts ${JSON.stringify(event.key)} without its new state`);
            this.keys.putSync(keyHash(kv.key), [kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease ?? null]);
            rows.push([event.key, event.value]);
          } else {
            this.keys.removeSync(keyHash(event.key));
            rows.push([event.key]);
          }
        }
        this.history.putSync(record.revision, rows);
        this.info.putSync('revision', record.revision);
      }
      if (compactRevision !== undefined && compactRevision > this.compactRevision) {
        for (const revision of [...this.history.getKeys({ start: this.compactRevision, end: compactRevision })]) this.history.removeSync(revision);
        this.info.putSync('compactRevision', compactRevision);
      }
      if (grantedLease !== undefined) {
        this.leases.putSync(grantedLease.id, grantedLease.ttlSec);
        this.info.putSync('nextLeaseId', grantedLease.nextLeaseId);
      }
      if (revokedLease !== undefined) this.leases.removeSync(revokedLease);
    });
    if (compactRevision !== undefined && compactRevision > this.compactRevision) this.compactRevision = compactRevision;
  }

  /** Closes the environment. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  private toKeyValue(row: unknown): KeyValue {
    if (!Array.isArray(row) || row.length !== 6) throw this.corrupt('key row');
    const [key, value, createRevision, modRevision, version, lease] = row as unknown[];
    if (typeof key !== 'string' || !Buffer.isBuffer(value) || !isRevision(createRevision) || !isRevision(modRevision) || !isRevision(version) || (lease !== null && typeof lease !== 'string')) {
      throw this.corrupt('key row', { key });
    }
    return { key, value, createRevision, modRevision, version, ...(lease === null ? {} : { lease }) };
  }

  private toRecord(revision: unknown, rows: unknown): ChangeRecord {
    if (!isRevision(revision) || !Array.isArray(rows) || rows.length === 0) throw this.corrupt('history row', { revision });
    const events: WatchEvent[] = rows.map((row: unknown) => {
      if (!Array.isArray(row) || typeof row[0] !== 'string' || (row.length === 2 && !Buffer.isBuffer(row[1])) || row.length > 2) throw this.corrupt('history event', { revision });
      return row.length === 2
        ? { type: 'put', key: row[0], value: row[1] as Buffer, modRevision: revision }
        : { type: 'delete', key: row[0], value: Buffer.alloc(0), modRevision: revision };
    });
    return { revision, events };
  }

  private corrupt(what: string, context: Record<string, unknown> = {}): TidalError {
    return errors.corrupted(`the embedded meta store in ${this.dir} has a malformed ${what}`, undefined, { dir: this.dir, ...context });
  }
}

function keyHash(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

function isRevision(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
