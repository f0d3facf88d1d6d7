/**
 * MvccStore with a journal: what a persistent store relies on. Every change reaches the journal
 * before anyone sees it, and a journal that fails a write fails the store (the real LMDB journal
 * is exercised in lmdb-kv*.test.ts; a disk that fails on demand is what this file's journal is).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { MemoryKV, MvccStore, type MvccChange, type MvccJournal } from '../../../src/kv/index.js';
import { rejection } from '../../helpers/rejection.js';

/** A journal that keeps changes in a list and fails every write once `failing` is set. */
class ListJournal implements MvccJournal {
  readonly changes: MvccChange[] = [];
  failing = false;

  write(change: MvccChange): void {
    if (this.failing) throw new Error('disk full');
    this.changes.push(structuredClone(change));
  }
}

describe('mvcc-journal', () => {
  it('mvcc-journal - every change reaches the journal, one write per revision, lease grants and revokes included', async () => {
    const journal = new ListJournal();
    const kv = new MemoryKV({ store: new MvccStore({ journal, historyRevisions: 3 }) });
    const lease = await kv.grantLease(60);
    const r1 = await kv.put('a', '1', { lease: lease.id });
    const t = await kv.txn({ compare: [], success: [{ type: 'put', key: 'b', value: '2' }, { type: 'delete', key: 'a' }] });
    await kv.txn({ compare: [], success: [{ type: 'delete', key: 'missing' }] });
    await kv.put('c', '3');
    await kv.put('d', '4');
    await lease.revoke();
    const kinds = journal.changes.map((c) => [c.record?.revision, c.grantedLease?.id, c.revokedLease, c.compactRevision]);
    expect(kinds).toEqual([
      [undefined, lease.id, undefined, undefined],
      [r1, undefined, undefined, undefined],
      [t.revision, undefined, undefined, undefined],
      [t.revision + 1, undefined, undefined, undefined],
      // Fourth revision beyond the first with historyRevisions 3: the automatic compaction rides along.
      [t.revision + 2, undefined, undefined, t.revision + 2 - 3],
      [undefined, undefined, lease.id, undefined],
    ]);
    expect(journal.changes[1]!.puts).toMatchObject([{ key: 'a', lease: lease.id, version: 1, createRevision: r1 }]);
    await kv.close();
  });

  it('mvcc-journal - a failed journal write fails the store: that call and every later one throw, watchers get error', async () => {
    const journal = new ListJournal();
    const store = new MvccStore({ journal });
    const kv = new MemoryKV({ store });
    await kv.put('k', 'before');
    const w = kv.watch('');
    const watcherErrors: Error[] = [];
    w.on('error', (err) => watcherErrors.push(err));
    await w.ready();

    journal.failing = true;
    const err = await rejection(kv.put('k', 'after'));
    expect(err.code).toBe(ErrorCode.BackendUnavailable);
    expect(err.retriable).toBe(false);
    expect((err.cause as Error).message).toBe('disk full');
    expect(store.failed).toBe(err);
    // Reads too: memory holds a change the disk does not.
    expect(await rejection(kv.get('k'))).toBe(err);
    expect(await rejection(kv.range(''))).toBe(err);
    expect(await rejection(kv.grantLease(5))).toBe(err);
    expect(watcherErrors).toEqual([err]);
    await kv.close();
  });

  it('mvcc-journal - a store started from a snapshot has its keys, revisions, history and leases', () => {
    const journal = new ListJournal();
    const store = new MvccStore({
      journal,
      snapshot: {
        revision: 7,
        compactRevision: 5,
        kvs: [
          { key: 'x', value: Buffer.from('1'), createRevision: 3, modRevision: 6, version: 2 },
          { key: 'l', value: Buffer.from('2'), createRevision: 7, modRevision: 7, version: 1, lease: '42' },
        ],
        history: [
          { revision: 6, events: [{ type: 'put', key: 'x', value: Buffer.from('1'), modRevision: 6 }] },
          { revision: 7, events: [{ type: 'put', key: 'l', value: Buffer.from('2'), modRevision: 7 }] },
        ],
        leases: [{ id: '42', ttlSec: 60 }],
        nextLeaseId: 43,
      },
    });
    expect(store.revision).toBe(7);
    expect(store.compactRevision).toBe(5);
    expect(store.range('').kvs.map((kv) => kv.key)).toEqual(['l', 'x']);
    expect(store.changesSince(6, '').map((r) => r.revision)).toEqual([6, 7]);
    expect(store.leaseIds()).toEqual(['42']);
    expect(store.grantLease(5)).toBe('43');
    expect(store.revokeLease('42')).toBe(true);
    expect(store.get('l')).toBeUndefined();
    expect(journal.changes.at(-1)).toMatchObject({ revokedLease: '42', record: { revision: 8, events: [{ type: 'delete', key: 'l' }] } });
    store.close();
  });

  it('mvcc-journal - a snapshot whose key names a missing lease is refused with CORRUPTED', () => {
    let err: unknown;
    try {
      new MvccStore({
        snapshot: { revision: 2, compactRevision: 0, kvs: [{ key: 'l', value: Buffer.from('2'), createRevision: 2, modRevision: 2, version: 1, lease: '9' }], history: [], leases: [] },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.Corrupted);
  });
});
