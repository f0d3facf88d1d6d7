/**
 * Checks and conversions shared by every MetaKV implementation, so bad input gets the same
 * INVALID_ARGUMENT everywhere and nothing is half-applied: keys, values, lease TTLs, range options
 * and the shape of a transaction (etcd's rules: within one branch, no key is put twice and no put
 * falls inside a delete of the same branch).
 */
import { errors } from '../common/errors.js';
import type { Compare, RangeOptions, TxnOp, TxnRequest } from './meta-kv.js';

const COMPARE_OPS = new Set(['==', '!=', '<', '>']);

/** Throws INVALID_ARGUMENT unless `key` is a non-empty string. */
export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw errors.invalidArgument(`${what} must be a non-empty string`, { [what]: key });
}

/** Throws INVALID_ARGUMENT unless `prefix` is a string (the empty prefix means every key). */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw errors.invalidArgument('prefix must be a string (empty for every key)', { prefix });
}

/** A value as bytes: strings are UTF-8. Throws INVALID_ARGUMENT for anything else. */
export function valueBytes(value: unknown, key?: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw errors.invalidArgument('value must be a string or a Buffer', { key });
}

/** Throws INVALID_ARGUMENT unless the lease TTL is a whole number of seconds, at least 1. */
export function checkTtl(ttlSec: unknown): asserts ttlSec is number {
  if (typeof ttlSec !== 'number' || !Number.isInteger(ttlSec) || ttlSec < 1) {
    throw errors.invalidArgument('lease TTL must be a whole number of seconds, at least 1', { ttlSec });
  }
}

/** Checks range options; returns the limit (0: none). */
export function checkRangeOptions(options: RangeOptions | undefined): number {
  const limit = options?.limit ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw errors.invalidArgument('limit must be a whole number, 0 or more (0: no limit)', { limit });
  if (options?.startAfter !== undefined && typeof options.startAfter !== 'string') throw errors.invalidArgument('startAfter must be a string');
  return limit;
}

/** Throws INVALID_ARGUMENT unless `revision` is a whole number ≥ 1 (watch start revisions). */
export function checkRevision(revision: unknown, what = 'revision'): asserts revision is number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) {
    throw errors.invalidArgument(`${what} must be a whole number, at least 1`, { [what]: revision });
  }
}

function checkCompare(c: Compare): void {
  checkKey(c.key, 'compare key');
  if (!COMPARE_OPS.has(c.op)) throw errors.invalidArgument(`compare op must be one of ==, !=, <, >`, { key: c.key, op: c.op });
  switch (c.target) {
    case 'value':
      valueBytes(c.value, c.key);
      return;
    case 'version':
      if (!Number.isSafeInteger(c.version) || c.version < 0) throw errors.invalidArgument('compare version must be a whole number, 0 or more', { key: c.key });
      return;
    case 'createRevision':
    case 'modRevision':
      if (!Number.isSafeInteger(c.revision) || c.revision < 0) throw errors.invalidArgument(`compare ${c.target} must be a whole number, 0 or more`, { key: c.key });
      return;
    default:
      throw errors.invalidArgument('compare target must be value, version, createRevision or modRevision', { key: (c as Compare).key });
  }
}

function checkBranch(ops: TxnOp[], branch: string): void {
  if (!Array.isArray(ops)) throw errors.invalidArgument(`txn ${branch} must be an array of ops`);
  const puts = new Set<string>();
  const deletedKeys: string[] = [];
  const deletedPrefixes: string[] = [];
  for (const op of ops) {
    switch (op.type) {
      case 'put':
        checkKey(op.key);
        valueBytes(op.value, op.key);
        if (op.lease !== undefined && typeof op.lease !== 'string') throw errors.invalidArgument('lease must be a lease id string', { key: op.key });
        if (puts.has(op.key)) throw errors.invalidArgument(`txn ${branch} puts key ${JSON.stringify(op.key)} twice; a key may be written once per txn`, { key: op.key });
        puts.add(op.key);
        break;
      case 'delete':
        checkKey(op.key);
        deletedKeys.push(op.key);
        break;
      case 'deletePrefix':
        checkPrefix(op.prefix);
        deletedPrefixes.push(op.prefix);
        break;
      case 'get':
        checkKey(op.key);
        break;
      default:
        throw errors.invalidArgument('txn op type must be put, delete, deletePrefix or get', { op: (op as { type: unknown }).type });
    }
  }
  for (const key of puts) {
    if (deletedKeys.includes(key) || deletedPrefixes.some((p) => key.startsWith(p))) {
      throw errors.invalidArgument(`txn ${branch} both puts and deletes key ${JSON.stringify(key)}; a key may be written once per txn`, { key });
    }
  }
}

/** Checks a whole transaction before anything of it runs. Throws INVALID_ARGUMENT. */
export function checkTxn(request: TxnRequest): void {
  if (request === null || typeof request !== 'object') throw errors.invalidArgument('txn request must be an object');
  if (!Array.isArray(request.compare)) throw errors.invalidArgument('txn compare must be an array');
  for (const c of request.compare) checkCompare(c);
  checkBranch(request.success, 'success');
  checkBranch(request.failure ?? [], 'failure');
}

/**
 * Orders keys as etcd does: by their UTF-8 bytes. That is code point order, which differs from
 * JavaScript's `<` (UTF-16 code units) only for characters above U+FFFF against U+E000..U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

/** Ranks a UTF-16 code unit so that surrogates (code points ≥ U+10000) sort above U+E000..U+FFFF. */
function codeUnitRank(u: number): number {
  if (u >= 0xd800 && u <= 0xdfff) return u + 0x2000;
  if (u >= 0xe000) return u - 0x800;
  return u;
}
