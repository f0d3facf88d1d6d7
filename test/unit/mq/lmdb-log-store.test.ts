/**
 * The persistent embedded log in one process: what survives close and reopen, how reads are
 * bounded, and how leftovers of an interrupted delete are cleaned up. Real LMDB in temp dirs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { LmdbLogStore, LmdbMsgStream, type StoredRecord } from '../../../src/mq/index.js';
import { recordKey } from '../../../src/mq/embedded/lmdb-records.js';

const rec = (text: string, timestamp = 0n, key?: string): StoredRecord => {
  const r: StoredRecord = { payload: Buffer.from(text), timestamp };
  if (key !== undefined) r.key = Buffer.from(key);
  return r;
};
const texts = (records: StoredRecord[]) => records.map((r) => r.payload.toString());

describe('lmdb-log-store', () => {
  let dir: string;
  const open_: LmdbLogStore[] = [];
  const openStore = (pollIntervalMs?: number) => {
    const store = LmdbLogStore.open({ dir, pollIntervalMs });
    open_.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tidal-lmdb-log-'));
  });
  afterEach(async () => {
    await Promise.all(open_.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('lmdb-log-store - data, offsets, truncation and channels survive close and reopen', async () => {
    const first = openStore();
    expect(await first.createChannel('a')).toBe(true);
    expect(await first.createChannel('b')).toBe(true);
    expect(await first.createChannel('gone')).toBe(true);
    expect(await first.append('a', [rec('a0', 10n, 'k0'), rec('a1', 11n), rec('a2', (1n << 64n) - 1n)])).toBe(0n);
    expect(await first.append('a', [rec('a3'), rec('a4')])).toBe(3n);
    expect(await first.append('b', [rec('b0')])).toBe(0n);
    await first.append('gone', [rec('g0')]);
    expect(await first.truncateBefore('a', 2n)).toBe(2n);
    expect(await first.deleteChannel('gone')).toBe(true);
    await first.close();

    const second = openStore();
    expect(await second.hasChannel('a')).toBe(true);
    expect(await second.hasChannel('gone')).toBe(false);
    expect(await second.offsets('a')).toEqual({ earliest: 2n, latest: 5n });
    expect(await second.offsets('b')).toEqual({ earliest: 0n, latest: 1n });
    const got = await second.read('a', 2n, 100, 1 << 20);
    expect(texts(got)).toEqual(['a2', 'a3', 'a4']);
    expect(got[0]?.timestamp).toBe((1n << 64n) - 1n);
    await expect(second.read('a', 1n, 10, 1 << 20)).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
    // Appends continue after the last offset, never reusing one.
    expect(await second.append('a', [rec('a5')])).toBe(5n);
    // A channel recreated under a deleted one's name starts empty: its old records never show up.
    expect(await second.createChannel('gone')).toBe(true);
    expect(await second.offsets('gone')).toEqual({ earliest: 0n, latest: 0n });
    expect(await second.read('gone', 0n, 10, 1 << 20)).toEqual([]);
  });

  it('lmdb-log-store - keys, empty payloads and timestamps round-trip', async () => {
    const store = openStore();
    await store.createChannel('c');
    await store.append('c', [rec('', 5n, ''), rec('p', 6n), { payload: Buffer.from([0, 255]), key: Buffer.from([1]), timestamp: 7n }]);
    const [a, b, c] = await store.read('c', 0n, 10, 1 << 20);
    expect([a?.payload.length, a?.key?.length, a?.timestamp]).toEqual([0, 0, 5n]);
    expect([b?.payload.toString(), b?.key, b?.timestamp]).toEqual(['p', undefined, 6n]);
    expect([[...(c?.payload ?? [])], [...(c?.key ?? [])], c?.timestamp]).toEqual([[0, 255], [1], 7n]);
  });

  it('lmdb-log-store - truncating everything keeps the next offset across reopen', async () => {
    const first = openStore();
    await first.createChannel('t');
    await first.append('t', [rec('0'), rec('1'), rec('2')]);
    expect(await first.truncateBefore('t', 3n)).toBe(3n);
    // Below the earliest is a no-op; beyond the end is refused and changes nothing.
    expect(await first.truncateBefore('t', 1n)).toBe(3n);
    await expect(first.truncateBefore('t', 4n)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    await first.close();

    const second = openStore();
    expect(await second.offsets('t')).toEqual({ earliest: 3n, latest: 3n });
    expect(await second.append('t', [rec('3')])).toBe(3n);
    expect(texts(await second.read('t', 3n, 10, 1 << 20))).toEqual(['3']);
  });

  it('lmdb-log-store - a read stops at maxRecords and once it holds maxBytes', async () => {
    const store = openStore();
    await store.createChannel('r');
    const kib = (i: number) => ({ payload: Buffer.alloc(1024, i), timestamp: BigInt(i) });
    await store.append('r', Array.from({ length: 10 }, (_, i) => kib(i)));
    expect((await store.read('r', 0n, 4, 1 << 20)).length).toBe(4);
    // 2.5 KiB budget: three 1 KiB records (the third crosses it), never a partial one.
    expect((await store.read('r', 0n, 100, 2560)).map((r) => r.timestamp)).toEqual([0n, 1n, 2n]);
    // A budget smaller than one record still returns that record.
    expect((await store.read('r', 9n, 100, 1)).map((r) => r.timestamp)).toEqual([9n]);
    expect(await store.read('r', 10n, 100, 1)).toEqual([]);
    await expect(store.read('r', 11n, 100, 1)).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
    await expect(store.read('missing', 0n, 1, 1)).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('lmdb-log-store - records a crash left behind are removed when the log is reopened', async () => {
    const first = openStore();
    await first.createChannel('live');
    await first.append('live', [rec('l0'), rec('l1'), rec('l2')]);
    await first.close();
    // What an interrupted delete or truncation leaves: records of an id no channel has, and
    // records of a live channel below its earliest offset.
    const raw = open<Buffer, string>({ path: dir, maxDbs: 4, encoding: 'binary' });
    const records = raw.openDB<Buffer, Buffer>({ name: 'records', encoding: 'binary', keyEncoding: 'binary' });
    const channels = raw.openDB<Buffer, string>({ name: 'channels', encoding: 'binary' });
    const liveId = (channels.get('live') as Buffer).readUInt32BE(0);
    await raw.transaction(() => {
      const entry = channels.get('live') as Buffer;
      entry.writeBigUInt64BE(1n, 4);
      channels.putSync('live', entry);
      records.putSync(recordKey(liveId + 7, 0n), Buffer.alloc(12));
      records.putSync(recordKey(liveId + 7, 1n), Buffer.alloc(12));
    });
    await raw.close();

    const second = openStore();
    expect(await second.offsets('live')).toEqual({ earliest: 1n, latest: 3n });
    expect(texts(await second.read('live', 1n, 10, 1 << 20))).toEqual(['l1', 'l2']);
    // The cleanup runs in the background after open; watch it from a second handle.
    const check = open<Buffer, string>({ path: dir, maxDbs: 4, encoding: 'binary' });
    const checkRecords = check.openDB<Buffer, Buffer>({ name: 'records', encoding: 'binary', keyEncoding: 'binary' });
    try {
      await expect
        .poll(() => [...checkRecords.getKeys({})].map((k) => [k.readUInt32BE(0), k.readBigUInt64BE(4)]), { timeout: 10_000 })
        .toEqual([
          [liveId, 1n],
          [liveId, 2n],
        ]);
    } finally {
      await check.close();
    }
  });

  it('lmdb-log-store - a log written in another format is refused', async () => {
    const raw = open<Buffer, string>({ path: dir, maxDbs: 4, encoding: 'binary' });
    const meta = raw.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
    await meta.put('format', Buffer.from([0, 0, 0, 99]));
    await raw.close();
    expect(() => LmdbLogStore.open({ dir })).toThrow(expect.objectContaining({ code: ErrorCode.FailedPrecondition }));
  });

  it('lmdb-log-store - bad options and an unusable directory get clear errors', async () => {
    expect(() => LmdbLogStore.open({ dir, pollIntervalMs: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    expect(() => LmdbLogStore.open({ dir: '' })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    const file = path.join(dir, 'a-file');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, 'not a directory');
    expect(() => LmdbLogStore.open({ dir: path.join(file, 'mq') })).toThrow(expect.objectContaining({ code: ErrorCode.BackendUnavailable }));
  });

  it('lmdb-log-store - a closed store fails with CLOSED', async () => {
    const store = openStore();
    await store.createChannel('x');
    await store.close();
    await store.close();
    await expect(store.append('x', [rec('y')])).rejects.toMatchObject({ code: ErrorCode.Closed });
    await expect(store.offsets('x')).rejects.toMatchObject({ code: ErrorCode.Closed });
  });

  it('lmdb-log-store - a stream reopened on the same directory resumes where it stopped', async () => {
    const first = new LmdbMsgStream({ dir });
    await first.createChannel('s');
    const positions = await first.produce('s', [{ payload: Buffer.from('one'), timestamp: 1n }]);
    await first.close();
    const second = new LmdbMsgStream({ dir });
    try {
      const consumer = await second.consume('s', { kind: 'position', position: positions[0]!, inclusive: true });
      const it = consumer[Symbol.asyncIterator]();
      expect(((await it.next()).value as { payload: Buffer }[]).map((m) => m.payload.toString())).toEqual(['one']);
      expect(await second.produce('s', [{ payload: Buffer.from('two') }])).toEqual([{ channel: 's', msgId: 1n, timestamp: 0n }]);
      await consumer.close();
    } finally {
      await second.close();
    }
  });
});
