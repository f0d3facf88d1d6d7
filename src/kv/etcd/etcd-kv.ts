/**
 * EtcdKV: the MetaKV on etcd v3 through the `etcd3` client.
 *
 * Every key is stored as `rootPath/key` (a `/` is added to a root that lacks one), so clients with
 * different roots never see each other's keys. Reads and writes go through etcd3's raw KV client
 * (exact revisions, `more`, limits, and txn responses as etcd sends them); watches and leases run
 * their own gRPC streams (see EtcdWatcher, EtcdLease) because etcd3's can skip events on a
 * reconnect and notice a lost lease only after twice its TTL.
 *
 * etcd3's fault handling is replaced: its per-host circuit breaker would refuse every call for
 * 5 s after etcd comes back, and its global policy retries every call, writes included, which can
 * apply a transaction twice when a reply is lost. Here reads are retried a few times on transient
 * errors, writes never; a failed write is a retriable BACKEND_UNAVAILABLE for the caller to judge.
 */
import { CompareResult, CompareTarget, Etcd3, type ICompare, type IKeyValue, type IOptions, type IRangeRequest, type IRequestOp } from 'etcd3';
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { retry } from '../../common/retry.js';
import { checkKey, checkPrefix, checkRangeOptions, checkRevision, checkTtl, checkTxn, compareKeys, valueBytes } from '../kv-input.js';
import type { Compare, KeyValue, Lease, MetaKV, RangeOptions, RangeResult, TxnOp, TxnRequest, TxnResult, Watcher, WatchOptions } from '../meta-kv.js';
import { fromEtcdError } from './etcd-errors.js';
import { EtcdLease } from './etcd-lease.js';
import { DEFAULT_WATCH_BACKOFF, EtcdWatcher, type WatchBackoff } from './etcd-watcher.js';

/** Options of {@link EtcdKV}. */
export interface EtcdKVOptions {
  /** etcd client URLs, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: string[];
  /** Prefix of every key this client reads and writes (e.g. `by-dev/meta`). */
  rootPath: string;
  /**
   * Longest one request waits for etcd, connecting included, in ms; then it fails with a retriable
   * BACKEND_UNAVAILABLE. Default 5,000. (etcd3 1.1.2 accepts a `dialTimeout` but never reads it,
   * so this is enforced as a gRPC deadline on each request.)
   */
  dialTimeoutMs?: number;
  /** Delays between a watch's reconnect attempts, ms. Default 100 ms doubling up to 2 s. */
  watchBackoff?: WatchBackoff;
  /**
   * etcd user and password (etcd's `auth enable`); omitted or an empty username: no
   * authentication. etcd3 exchanges them for a token before the first request and again when
   * etcd answers that the token is no longer valid.
   */
  auth?: { username: string; password: string };
  logger?: Logger;
}

/** Lifecycle of an EtcdKV. */
export type EtcdKVState = 'open' | 'closed';

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A fault-handling policy that runs the call once, as it is (see the file comment). */
const passThrough = {
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    fn({ signal: signal ?? new AbortController().signal }),
  onSuccess: () => ({ dispose: () => undefined }),
  onFailure: () => ({ dispose: () => undefined }),
} as unknown as FaultPolicy;

const COMPARE_RESULT: Record<Compare['op'], CompareResult> = {
  '==': CompareResult.Equal,
  '!=': CompareResult.NotEqual,
  '<': CompareResult.Less,
  '>': CompareResult.Greater,
};

/** The whole key space, in etcd's notation (key `\0`, range end `\0`). */
const ALL_KEYS = Buffer.from([0]);

/** The end of the key range holding every key that starts with `prefix`. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return ALL_KEYS;
}

/** The MetaKV on etcd. Methods throw TidalError (BACKEND_UNAVAILABLE, INVALID_ARGUMENT, LEASE_LOST, CLOSED, ...). */
export class EtcdKV implements MetaKV {
  /** The key prefix, with its trailing `/`. */
  readonly root: string;
  private readonly rootBytes: Buffer;
  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly watchBackoff: WatchBackoff;
  private readonly watchers = new Set<EtcdWatcher>();
  private readonly leases = new Set<EtcdLease>();
  private state: EtcdKVState = 'open';
  /** True when requests carry a user's token (`auth`). */
  private readonly authenticated: boolean;

  constructor(options: EtcdKVOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0 || !options.endpoints.every((e) => typeof e === 'string' && e.length > 0)) {
      throw errors.invalidArgument('endpoints must list at least one etcd URL, e.g. http://127.0.0.1:2379');
    }
    if (typeof options.rootPath !== 'string') throw errors.invalidArgument('rootPath must be a string');
    const dialTimeoutMs = options.dialTimeoutMs ?? 5_000;
    if (!Number.isInteger(dialTimeoutMs) || dialTimeoutMs <= 0) throw errors.invalidArgument('dialTimeoutMs must be a positive whole number of ms', { dialTimeoutMs });
    this.watchBackoff = options.watchBackoff ?? DEFAULT_WATCH_BACKOFF;
    const { minMs, maxMs } = this.watchBackoff;
    if (!(Number.isFinite(minMs) && minMs > 0 && Number.isFinite(maxMs) && maxMs >= minMs)) {
      throw errors.invalidArgument('watchBackoff needs 0 < minMs <= maxMs', { minMs, maxMs });
    }
    const auth = options.auth;
    if (auth !== undefined && (typeof auth.username !== 'string' || typeof auth.password !== 'string')) {
      throw errors.invalidArgument('auth needs a username and a password, both strings');
    }
    if (auth !== undefined && auth.username === '' && auth.password !== '') {
      throw errors.invalidArgument('an etcd password was given without a username (etcd.username)');
    }
    const credentials = auth !== undefined && auth.username !== '' ? { username: auth.username, password: auth.password } : undefined;
    this.authenticated = credentials !== undefined;
    this.root = options.rootPath === '' || options.rootPath.endsWith('/') ? options.rootPath : `${options.rootPath}/`;
    this.rootBytes = Buffer.from(this.root, 'utf8');
    this.log = (options.logger ?? silentLogger).child({ component: 'etcd-kv', root: this.root });
    this.client = new Etcd3({
      hosts: options.endpoints,
      ...(credentials === undefined ? {} : { auth: credentials }),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + dialTimeoutMs }),
      faultHandling: { host: () => passThrough, global: passThrough },
      grpcOptions: {
        // gRPC's default reconnect backoff grows to 2 minutes; etcd restarts take seconds.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // Notice a silently dead connection under a watch or keepalive stream (etcd allows pings every 5 s).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
    });
  }

  /** Current lifecycle state. */
  get status(): EtcdKVState {
    return this.state;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    checkKey(key);
    const res = await this.read(`get key ${key}`, () => this.client.kv.range({ key: this.full(key) }));
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.toKeyValue(kv, false);
  }

  async put(key: string, value: string | Buffer, options: { lease?: string } = {}): Promise<number> {
    this.checkOpen();
    checkKey(key);
    const bytes = valueBytes(value, key);
    const res = await this.call(`put key ${key}`, () => this.client.kv.put({ key: this.full(key), value: bytes, ...(options.lease === undefined ? {} : { lease: options.lease }) }), {
      key,
      ...(options.lease === undefined ? {} : { lease: options.lease }),
    });
    return Number(res.header.revision);
  }

  async delete(key: string): Promise<number> {
    this.checkOpen();
    checkKey(key);
    const res = await this.call(`delete key ${key}`, () => this.client.kv.deleteRange({ key: this.full(key) }), { key });
    return Number(res.deleted);
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.checkOpen();
    checkPrefix(prefix);
    const { key, end } = this.prefixRange(prefix);
    const res = await this.call(`delete prefix ${prefix}`, () => this.client.kv.deleteRange({ key, range_end: end }), { prefix });
    return Number(res.deleted);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen();
    checkPrefix(prefix);
    const limit = checkRangeOptions(options);
    const { key, end } = this.prefixRange(prefix);
    let start = key;
    if (options.startAfter !== undefined && compareKeys(options.startAfter, prefix) >= 0) {
      start = Buffer.concat([this.full(options.startAfter), ALL_KEYS]);
      if (end !== ALL_KEYS && Buffer.compare(start, end) >= 0) return { kvs: [], more: false, revision: await this.revision() };
    }
    // No sort order: etcd returns keys in byte order anyway, and an explicit order makes it read
    // the whole range before applying the limit.
    const req: IRangeRequest = { key: start, range_end: end, limit, keys_only: options.keysOnly === true };
    const res = await this.read(`range prefix ${prefix}`, () => this.client.kv.range(req));
    return { kvs: res.kvs.map((kv) => this.toKeyValue(kv, options.keysOnly === true)), more: res.more, revision: Number(res.header.revision) };
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.checkOpen();
    checkTxn(request);
    const ops = (branch: TxnOp[]) => branch.map((op) => this.toRequestOp(op));
    const failure = request.failure ?? [];
    const res = await this.call('txn', () =>
      this.client.kv.txn({ compare: request.compare.map((c) => this.toCompare(c)), success: ops(request.success), failure: ops(failure) }),
    );
    const ran = res.succeeded ? request.success : failure;
    const gets: (KeyValue | undefined)[] = [];
    ran.forEach((op, i) => {
      if (op.type !== 'get') return;
      const kv = res.responses[i]?.response_range?.kvs[0];
      gets.push(kv === undefined ? undefined : this.toKeyValue(kv, false));
    });
    return { succeeded: res.succeeded, revision: Number(res.header.revision), gets };
  }

  watch(prefix: string, options: WatchOptions = {}): Watcher {
    this.checkOpen();
    checkPrefix(prefix);
    if (options.startRevision !== undefined) checkRevision(options.startRevision, 'startRevision');
    const { key, end } = this.prefixRange(prefix);
    const watcher = new EtcdWatcher(
      this.client.watchClient,
      { key, rangeEnd: end, rootLength: this.rootBytes.length },
      options.startRevision,
      this.log.child({ watch: prefix }),
      (w) => this.watchers.delete(w),
      this.watchBackoff,
      // Any unary request answered "invalid auth token" makes etcd3 fetch a new token and retry;
      // a count of the watched range is the smallest one the watch's permission covers.
      this.authenticated ? async () => void (await this.client.kv.range({ key, range_end: end, count_only: true })) : undefined,
    );
    this.watchers.add(watcher);
    return watcher;
  }

  async grantLease(ttlSec: number): Promise<Lease> {
    this.checkOpen();
    checkTtl(ttlSec);
    const sentAt = Date.now();
    const res = await this.call('grant lease', () => this.client.leaseClient.leaseGrant({ TTL: ttlSec, ID: 0 }), { ttlSec });
    if (res.error) throw errors.backend(`grant lease: ${res.error}`, undefined, true, { ttlSec });
    // etcd raises TTLs below its minimum (about 1.5 × the election timeout, 2 s by default).
    const granted = Number(res.TTL);
    const lease = new EtcdLease(this.client.leaseClient, res.ID, granted, sentAt, (key, value, id) => this.put(key, value, { lease: id }), this.log);
    this.leases.add(lease);
    lease.once('lost', () => this.leases.delete(lease));
    if (this.state === 'closed') lease.detach();
    return lease;
  }

  async revision(): Promise<number> {
    this.checkOpen();
    const res = await this.read('read revision', () => this.client.kv.range({ key: this.rootBytes.length > 0 ? this.rootBytes : ALL_KEYS, count_only: true }));
    return Number(res.header.revision);
  }

  /**
   * Closes watchers, stops keepalives (leases are released, not revoked: they expire after their
   * TTL) and closes the gRPC connections. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all([...this.watchers].map((w) => w.close()));
    for (const lease of this.leases) lease.detach();
    this.leases.clear();
    this.client.close();
  }

  private checkOpen(): void {
    if (this.state === 'closed') throw errors.closed('meta kv');
  }

  /** A request that may run once only (a write). */
  private async call<T>(what: string, fn: () => Promise<T>, context: Record<string, unknown> = {}): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (this.state === 'closed') throw errors.closed('meta kv');
      throw fromEtcdError(err, what, context);
    }
  }

  /** A read: retried briefly on transient errors (a connection being re-established). */
  private read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(() => this.call(what, fn), { retries: 2, minTimeoutMs: 50, maxTimeoutMs: 200 });
  }

  private full(key: string): Buffer {
    return Buffer.concat([this.rootBytes, Buffer.from(key, 'utf8')]);
  }

  private prefixRange(prefix: string): { key: Buffer; end: Buffer } {
    const key = this.full(prefix);
    if (key.length === 0) return { key: ALL_KEYS, end: ALL_KEYS };
    return { key, end: prefixRangeEnd(key) };
  }

  private toKeyValue(kv: IKeyValue, keysOnly: boolean): KeyValue {
    const lease = kv.lease && kv.lease !== '0' ? kv.lease : undefined;
    return {
      key: kv.key.subarray(this.rootBytes.length).toString('utf8'),
      value: keysOnly ? Buffer.alloc(0) : kv.value,
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      ...(lease === undefined ? {} : { lease }),
    };
  }

  private toCompare(c: Compare): ICompare {
    const base = { key: this.full(c.key), result: COMPARE_RESULT[c.op] };
    switch (c.target) {
      case 'value':
        return { ...base, target: CompareTarget.Value, value: valueBytes(c.value, c.key) };
      case 'version':
        return { ...base, target: CompareTarget.Version, version: c.version };
      case 'createRevision':
        return { ...base, target: CompareTarget.Create, create_revision: c.revision };
      case 'modRevision':
        return { ...base, target: CompareTarget.Mod, mod_revision: c.revision };
    }
  }

  private toRequestOp(op: TxnOp): IRequestOp {
    switch (op.type) {
      case 'put':
        return { request_put: { key: this.full(op.key), value: valueBytes(op.value, op.key), ...(op.lease === undefined ? {} : { lease: op.lease }) } };
      case 'delete':
        return { request_delete_range: { key: this.full(op.key) } };
      case 'deletePrefix': {
        const { key, end } = this.prefixRange(op.prefix);
        return { request_delete_range: { key, range_end: end } };
      }
      case 'get':
        return { request_range: { key: this.full(op.key) } };
    }
  }
}
