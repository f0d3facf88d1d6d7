import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { MvccStore } from '../../../src/kv/embedded/mvcc-store.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof TidalError ? err.code : 'not a TidalError';
  }
  return undefined;
};
const put = (store: MvccStore, key: string, value = 'v', lease?: string) =>
  store.txn({ compare: [], success: [lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease }] }).revision;

describe('mvcc-store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('mvcc-store - compaction refuses a future or already compacted revision and keeps history from its revision on', () => {
    const store = new MvccStore();
    const r1 = put(store, 'a');
    const r2 = put(store, 'b');
    const r3 = put(store, 'a');
    expect(codeOf(() => store.compact(r3 + 1))).toBe(ErrorCode.InvalidArgument);
    store.compact(r2);
    expect(store.compactRevision).toBe(r2);
    expect(codeOf(() => store.compact(r2))).toBe(ErrorCode.Compacted);
    expect(codeOf(() => store.changesSince(r1, ''))).toBe(ErrorCode.Compacted);
    expect(store.changesSince(r2, '').map((c) => c.revision)).toEqual([r2, r3]);
    expect(store.changesSince(r2, 'a').map((c) => c.revision)).toEqual([r3]);
  });

  it('mvcc-store - history is compacted automatically beyond historyRevisions', () => {
    const store = new MvccStore({ historyRevisions: 10 });
    for (let i = 0; i < 30; i++) put(store, `k${i}`);
    expect(store.compactRevision).toBeGreaterThan(1);
    expect(store.revision - store.compactRevision).toBeLessThanOrEqual(11);
    expect(store.changesSince(store.compactRevision, '').at(-1)?.revision).toBe(store.revision);
  });

  it('mvcc-store - a lease expires at its deadline unless renewed, deleting its keys in one revision', () => {
    vi.useFakeTimers();
    const store = new MvccStore();
    const expired: string[] = [];
    store.onLeaseExpired((id) => expired.push(id));
    const id = store.grantLease(2);
    put(store, 'x', 'v', id);
    put(store, 'y', 'v', id);
    put(store, 'y', 'v2');
    vi.advanceTimersByTime(1_500);
    expect(store.renewLease(id)).toBe(true);
    vi.advanceTimersByTime(1_500);
    expect(store.hasLease(id)).toBe(true);
    const before = store.revision;
    vi.advanceTimersByTime(600);
    expect(expired).toEqual([id]);
    expect(store.get('x')).toBeUndefined();
    // y was overwritten without the lease: no longer the lease's.
    expect(store.get('y')?.value.toString()).toBe('v2');
    expect(store.revision).toBe(before + 1);
    expect(store.renewLease(id)).toBe(false);
    expect(codeOf(() => put(store, 'z', 'v', id))).toBe(ErrorCode.LeaseLost);
    store.close();
  });
});
