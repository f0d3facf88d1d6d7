/**
 * LmdbLogStore: the persistent embedded log, an LMDB environment in one directory (`mq.localDir`).
 *
 * Layout: database `channels` maps a channel name to {id, earliest, next}; database `records` maps
 * (channel id u32, offset u64), big-endian, to one record; database `meta` holds the format version
 * and the next channel id. Ids are never reused, so a deleted channel's leftover records can never
 * show up in a new channel of the same name.
 *
 * Guarantees:
 * - An append resolves only once its transaction is committed and flushed to disk: a SIGKILL (or a
 *   power cut) after that loses nothing. Concurrent appends share one commit and one flush.
 * - An append is atomic: its records are written in a child transaction, all or none.
 * - Several processes may open the same directory at once (LMDB's lock file arbitrates): offsets
 *   are assigned inside the write transaction from the channel's stored `next`, never from a
 *   per-process cache, so they stay contiguous and are never reused, across processes and
 *   restarts. Reads see other processes' commits from the next event-loop turn on.
 * - Retention: records are kept until `truncateBefore` or `deleteChannel` drops them (a Kafka topic
 *   without retention). Dropping is two steps: the channel entry changes at once (durably), then
 *   the records are removed in bounded transactions; records a crash left behind are removed the
 *   next time the directory is opened.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import type { ChannelOffsets } from '../msg-stream.js';
import { checkInRange } from '../seek.js';
import { recordBytes, type LogStore, type StoredRecord } from './log-store.js';
import {
  LOG_FORMAT_VERSION,
  decodeChannel,
  decodeRecord,
  decodeU32,
  encodeChannel,
  encodeRecord,
  encodeU32,
  parseRecordKey,
  recordKey,
  type ChannelEntry,
} from './lmdb-records.js';

/** Default of {@link LmdbLogStoreOptions.pollIntervalMs}: how often a waiting consumer looks for other processes' appends. */
export const DEFAULT_LOG_POLL_INTERVAL_MS = 20;

/** Records removed per transaction when a channel is deleted or truncated. */
const PURGE_CHUNK = 1_000;
const FORMAT_KEY = 'format';
const NEXT_ID_KEY = 'nextChannelId';
const MAX_CHANNEL_ID = 0xfffffffe;

/** Options of {@link LmdbLogStore.open}. */
export interface LmdbLogStoreOptions {
  /** Directory of the log; created if missing. */
  dir: string;
  /** How often a consumer waiting at the end of a channel checks for other processes' appends, ms. Default 20. */
  pollIntervalMs?: number;
}

/** A LogStore on disk, shared by every process that opens the same directory. */
export class LmdbLogStore implements LogStore {
  readonly pollIntervalMs: number;
  private closed = false;
  /** Background removals of dropped records; close() waits for them. */
  private readonly purges = new Set<Promise<void>>();

  private constructor(
    readonly dir: string,
    private readonly env: RootDatabase<Buffer, string>,
    private readonly meta: Database<Buffer, string>,
    private readonly channels: Database<Buffer, string>,
    private readonly records: Database<Buffer, Buffer>,
    pollIntervalMs: number,
  ) {
    this.pollIntervalMs = pollIntervalMs;
  }

  /**
   * Opens (creating if needed) the log in `options.dir`. Throws INVALID_ARGUMENT for a bad
   * pollIntervalMs, FAILED_PRECONDITION for a directory written in another format, and
   * BACKEND_UNAVAILABLE when the directory cannot be opened as an LMDB environment.
   */
  static open(options: LmdbLogStoreOptions): LmdbLogStore {
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_LOG_POLL_INTERVAL_MS;
    if (!Number.isSafeInteger(pollIntervalMs) || pollIntervalMs < 1) {
      throw errors.invalidArgument(`pollIntervalMs must be a positive integer, got ${String(pollIntervalMs)}`);
    }
    if (typeof options.dir !== 'string' || options.dir.length === 0) throw errors.invalidArgument('the embedded log needs a directory (mq.localDir)');
    let env: RootDatabase<Buffer, string>;
    try {
      mkdirSync(options.dir, { recursive: true });
      // overlappingSync off: a commit is synced BEFORE its meta page makes it visible to readers in
      // any process. With it on (lmdb-js's default off Windows), a consumer could read records not
      // yet on disk; after a power cut LMDB reopens at the last synced snapshot, hands those offsets
      // out again, and checkpoints already in the KV point past them.
      env = open<Buffer, string>({ path: options.dir, maxDbs: 4, encoding: 'binary', noMemInit: true, overlappingSync: false });
    } catch (err) {
      throw errors.backend(`cannot open the embedded log in ${options.dir}`, err, false, { dir: options.dir });
    }
    const store = new LmdbLogStore(
      options.dir,
      env,
      env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' }),
      env.openDB<Buffer, string>({ name: 'channels', encoding: 'binary' }),
      env.openDB<Buffer, Buffer>({ name: 'records', encoding: 'binary', keyEncoding: 'binary' }),
      pollIntervalMs,
    );
    try {
      store.checkFormat();
    } catch (err) {
      void env.close();
      throw err;
    }
    store.background(store.sweep());
    return store;
  }

  async createChannel(channel: string): Promise<boolean> {
    return this.write('create channel', channel, () => {
      if (this.channels.doesExist(channel)) return false;
      const id = decodeU32(this.meta.get(NEXT_ID_KEY), NEXT_ID_KEY) ?? 1;
      if (id > MAX_CHANNEL_ID) throw new TidalError(ErrorCode.ResourceExhausted, 'the embedded log has used up its channel ids', { context: { dir: this.dir } });
      this.meta.putSync(NEXT_ID_KEY, encodeU32(id + 1));
      this.channels.putSync(channel, encodeChannel({ id, earliest: 0n, next: 0n }));
      return true;
    });
  }

  async deleteChannel(channel: string): Promise<boolean> {
    const id = await this.write('delete channel', channel, () => {
      const entry = this.entry(channel);
      if (entry !== undefined) this.channels.removeSync(channel);
      return entry?.id;
    });
    if (id === undefined) return false;
    this.background(this.purge(recordKey(id, 0n), recordKey(id + 1, 0n)));
    return true;
  }

  async hasChannel(channel: string): Promise<boolean> {
    this.checkOpen();
    return this.channels.doesExist(channel);
  }

  async append(channel: string, records: readonly StoredRecord[]): Promise<bigint> {
    this.checkOpen();
    // Encoded now, before yielding: the caller may reuse its buffers as soon as this returns.
    const values = records.map(encodeRecord);
    return this.write('append', channel, () => {
      const entry = this.existing(channel);
      for (let i = 0; i < values.length; i++) this.records.putSync(recordKey(entry.id, entry.next + BigInt(i)), values[i] as Buffer);
      this.channels.putSync(channel, encodeChannel({ ...entry, next: entry.next + BigInt(values.length) }));
      return entry.next;
    });
  }

  async read(channel: string, from: bigint, maxRecords: number, maxBytes: number): Promise<StoredRecord[]> {
    this.checkOpen();
    // One synchronous stretch: the entry and the records come from the same snapshot.
    const entry = this.existing(channel);
    checkInRange(channel, from, offsetsOf(entry));
    const end = entry.next < from + BigInt(maxRecords) ? entry.next : from + BigInt(maxRecords);
    const out: StoredRecord[] = [];
    let bytes = 0;
    let expected = from;
    for (const { key, value } of this.records.getRange({ start: recordKey(entry.id, from), end: recordKey(entry.id, end) })) {
      const { offset } = parseRecordKey(key);
      if (offset !== expected) throw errors.corrupted(`embedded log: record ${expected} of channel ${channel} is missing`, undefined, { channel, offset: expected.toString() });
      const record = decodeRecord(value, channel, offset);
      out.push(record);
      bytes += recordBytes(record);
      expected++;
      if (bytes >= maxBytes) break;
    }
    if (out.length === 0 && from < end) throw errors.corrupted(`embedded log: record ${from} of channel ${channel} is missing`, undefined, { channel, offset: from.toString() });
    return out;
  }

  async offsets(channel: string): Promise<ChannelOffsets> {
    this.checkOpen();
    return offsetsOf(this.existing(channel));
  }

  async truncateBefore(channel: string, offset: bigint): Promise<bigint> {
    const result = await this.write('truncate', channel, () => {
      const entry = this.existing(channel);
      if (offset > entry.next) {
        throw errors.invalidArgument(`cannot delete records before ${offset}: channel ${channel} ends at ${entry.next}`, { channel });
      }
      if (offset <= entry.earliest) return { earliest: entry.earliest, purge: undefined };
      this.channels.putSync(channel, encodeChannel({ ...entry, earliest: offset }));
      return { earliest: offset, purge: { id: entry.id, from: entry.earliest } };
    });
    if (result.purge !== undefined) this.background(this.purge(recordKey(result.purge.id, result.purge.from), recordKey(result.purge.id, offset)));
    return result.earliest;
  }

  /** Closes the log. Cleanup in progress stops after its current transaction; the next open finishes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.purges]);
    await this.env.close();
  }

  /** Runs `fn` in a child write transaction and resolves once it is committed and flushed. */
  private async write<T>(op: string, channel: string, fn: () => T): Promise<T> {
    this.checkOpen();
    try {
      const result = await this.env.childTransaction(fn);
      await this.env.flushed;
      return result;
    } catch (err) {
      if (err instanceof TidalError) throw err;
      throw errors.backend(`embedded log: ${op} on channel ${channel} failed`, err, false, { channel, dir: this.dir });
    }
  }

  private entry(channel: string): ChannelEntry | undefined {
    const value = this.channels.get(channel);
    return value === undefined ? undefined : decodeChannel(value, channel);
  }

  private existing(channel: string): ChannelEntry {
    const entry = this.entry(channel);
    if (entry === undefined) throw errors.notFound(`channel ${channel} does not exist`, { channel });
    return entry;
  }

  private checkOpen(): void {
    if (this.closed) throw errors.closed('embedded log store');
  }

  /** Writes the format version into a new log; refuses a log written in another format. */
  private checkFormat(): void {
    const found = decodeU32(this.meta.get(FORMAT_KEY), FORMAT_KEY);
    if (found === LOG_FORMAT_VERSION) return;
    if (found !== undefined) {
      throw errors.failedPrecondition(`the embedded log in ${this.dir} has format ${found}; this version reads format ${LOG_FORMAT_VERSION}`, { dir: this.dir });
    }
    this.env.transactionSync(() => {
      // Another process may have initialised it between the read above and this transaction.
      if (this.meta.get(FORMAT_KEY) === undefined) this.meta.putSync(FORMAT_KEY, encodeU32(LOG_FORMAT_VERSION));
    });
  }

  /** Removes the records in [start, end), a bounded transaction at a time. */
  private async purge(start: Buffer, end: Buffer): Promise<void> {
    // A process killed in a read transaction leaves its reader slot behind, which would keep the
    // pages freed here from being reused (the file would only grow): clear dead readers first.
    this.env.readerCheck();
    for (;;) {
      if (this.closed) return;
      const removed = await this.env.transaction(() => {
        const keys = [...this.records.getKeys({ start, end, limit: PURGE_CHUNK })];
        for (const key of keys) this.records.removeSync(key);
        return keys.length;
      });
      if (removed < PURGE_CHUNK) return;
    }
  }

  /**
   * Finds records a crash left behind (of deleted channels, or below a channel's earliest offset)
   * and removes them. Decided inside a write transaction, so a channel another process is creating
   * right now is never mistaken for a deleted one.
   */
  private async sweep(): Promise<void> {
    const ranges = await this.env.transaction(() => {
      const live = new Map<number, bigint>();
      for (const { key, value } of this.channels.getRange({})) {
        const entry = decodeChannel(value, key);
        live.set(entry.id, entry.earliest);
      }
      const found: Array<[Buffer, Buffer]> = [];
      let from = recordKey(0, 0n);
      for (;;) {
        const [first] = this.records.getKeys({ start: from, limit: 1 });
        if (first === undefined) break;
        const { id, offset } = parseRecordKey(first);
        const earliest = live.get(id);
        if (earliest === undefined) found.push([recordKey(id, 0n), recordKey(id + 1, 0n)]);
        else if (offset < earliest) found.push([recordKey(id, 0n), recordKey(id, earliest)]);
        if (id >= MAX_CHANNEL_ID) break;
        from = recordKey(id + 1, 0n);
      }
      return found;
    });
    for (const [start, end] of ranges) await this.purge(start, end);
  }

  private background(task: Promise<void>): void {
    const tracked = task.catch(() => {
      // Cleanup only: whatever is left is removed the next time the log is opened.
    });
    this.purges.add(tracked);
    void tracked.then(() => this.purges.delete(tracked));
  }
}

function offsetsOf(entry: ChannelEntry): ChannelOffsets {
  return { earliest: entry.earliest, latest: entry.next };
}
