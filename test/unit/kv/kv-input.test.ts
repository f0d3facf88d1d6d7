import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { prefixRangeEnd } from '../../../src/kv/etcd/etcd-kv.js';
import { checkTxn, compareKeys } from '../../../src/kv/kv-input.js';
import type { TxnRequest } from '../../../src/kv/meta-kv.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof TidalError ? err.code : 'not a TidalError';
  }
  return undefined;
};

describe('kv-input', () => {
  it('kv-input - compareKeys orders strings exactly as their UTF-8 bytes', () => {
    const alphabet = ['a', 'b', 'Z', '/', '\u007f', 'é', '\u0800', '\uD7FF', '\uE000', '\uFFFF', '😀', '𐀀', '\u0000'];
    const keys: string[] = [];
    for (let i = 0; i < 400; i++) {
      let s = '';
      const len = 1 + (i % 5);
      for (let j = 0; j < len; j++) s += alphabet[(i * 7 + j * 13 + ((i * j) % 11)) % alphabet.length];
      keys.push(s);
    }
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).toEqual(byBytes);
    expect(compareKeys('\uE000', '😀')).toBeLessThan(0);
    expect(compareKeys('a', 'a')).toBe(0);
    expect(compareKeys('a', 'ab')).toBeLessThan(0);
  });

  it('kv-input - checkTxn refuses a key written twice in one branch, but allows it across branches', () => {
    const txn = (success: TxnRequest['success'], failure: TxnRequest['failure'] = []): TxnRequest => ({ compare: [], success, failure });
    expect(codeOf(() => checkTxn(txn([{ type: 'put', key: 'a', value: '1' }, { type: 'put', key: 'a', value: '2' }])))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => checkTxn(txn([{ type: 'put', key: 'a', value: '1' }, { type: 'delete', key: 'a' }])))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => checkTxn(txn([{ type: 'put', key: 'p/a', value: '1' }, { type: 'deletePrefix', prefix: 'p/' }])))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => checkTxn(txn([{ type: 'put', key: 'a', value: '1' }], [{ type: 'put', key: 'a', value: '2' }])))).toBeUndefined();
    expect(codeOf(() => checkTxn(txn([{ type: 'delete', key: 'a' }, { type: 'deletePrefix', prefix: '' }, { type: 'get', key: 'a' }])))).toBeUndefined();
    expect(codeOf(() => checkTxn(txn([{ type: 'put', key: '', value: '1' }])))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => checkTxn({ compare: [{ key: 'a', target: 'version', op: '>=' as never, version: 1 }], success: [] }))).toBe(ErrorCode.InvalidArgument);
    expect(codeOf(() => checkTxn({ compare: [{ key: 'a', target: 'modRevision', op: '==', revision: -1 }], success: [] }))).toBe(ErrorCode.InvalidArgument);
  });

  it('kv-input - prefixRangeEnd is the first key after every key with the prefix', () => {
    expect(prefixRangeEnd(Buffer.from('a/'))).toEqual(Buffer.from('a0'));
    expect(prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixRangeEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });
});
