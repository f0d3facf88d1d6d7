/**
 * A client-side cache of globally unique ids (row ids, auto primary keys). Ids come from the
 * master's AllocID in batches; when what is left falls below half a batch, the next batch is
 * fetched in the background, so most callers never wait for an RPC. Takes are served in call
 * order, one at a time; the ids one take returns are unique but not necessarily contiguous (they
 * may span two batches).
 */
import { errors, ErrorCode, TidalError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';

/** One AllocID call: `count` contiguous ids starting at `first`. */
export type FetchIds = (count: number) => Promise<{ first: bigint; count: number }>;

/** Default ids fetched per AllocID call. */
export const DEFAULT_ID_BATCH = 50_000;
/** Largest count of one AllocID call (the master's limit). */
export const MAX_ID_FETCH = 1_000_000;

/** Options of {@link IdCache}. */
export interface IdCacheOptions {
  /** Performs one AllocID RPC. */
  fetch: FetchIds;
  /** Ids fetched per refill (a take larger than this fetches what it needs). Default 50,000. */
  batchSize?: number;
  logger?: Logger;
}

interface Range {
  next: bigint;
  end: bigint;
}

/** Hands out ids from cached AllocID ranges, refilling ahead of need. */
export class IdCache {
  private readonly fetchIds: FetchIds;
  private readonly batchSize: number;
  private readonly log: Logger;
  private readonly ranges: Range[] = [];
  private available = 0;
  private refill: Promise<void> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** AllocID RPCs sent (for tests and benchmarks). */
  rpcs = 0;

  constructor(options: IdCacheOptions) {
    const batch = options.batchSize ?? DEFAULT_ID_BATCH;
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_ID_FETCH) {
      throw errors.invalidArgument(`id batchSize must be an integer from 1 to ${MAX_ID_FETCH}, got ${batch}`);
    }
    this.fetchIds = options.fetch;
    this.batchSize = batch;
    this.log = (options.logger ?? silentLogger).child({ component: 'id-cache' });
  }

  /** Ids not yet handed out. */
  get cached(): number {
    return this.available;
  }

  /**
   * `count` unique ids (count ≥ 1). Throws INVALID_ARGUMENT for a bad count, CLOSED after close,
   * or the AllocID error.
   */
  take(count: number): Promise<BigInt64Array> {
    if (this.closed) return Promise.reject(errors.closed('id cache'));
    if (!Number.isSafeInteger(count) || count < 1) return Promise.reject(errors.invalidArgument(`id count must be a positive integer, got ${count}`));
    const result = this.chain.then(() => this.takeInOrder(count));
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Later takes fail with CLOSED. Safe to call twice. */
  close(): void {
    this.closed = true;
  }

  private async takeInOrder(count: number): Promise<BigInt64Array> {
    while (this.available < count) {
      if (this.closed) throw errors.closed('id cache');
      if (this.refill !== undefined) {
        // A background refill may bring enough; it never rejects (a failure is retried here).
        await this.refill;
        continue;
      }
      await this.fetchInto(Math.min(MAX_ID_FETCH, Math.max(count - this.available, this.batchSize)));
    }
    const out = new BigInt64Array(count);
    let i = 0;
    while (i < count) {
      const r = this.ranges[0]!;
      const n = Math.min(count - i, Number(r.end - r.next));
      for (let k = 0; k < n; k++) out[i + k] = r.next + BigInt(k);
      r.next += BigInt(n);
      i += n;
      if (r.next === r.end) this.ranges.shift();
    }
    this.available -= count;
    if (this.available < this.batchSize / 2 && this.refill === undefined && !this.closed) {
      this.refill = this.fetchInto(this.batchSize)
        .catch((err: unknown) => this.log.warn({ err }, 'background id refill failed; the next take fetches'))
        .finally(() => (this.refill = undefined));
    }
    return out;
  }

  private async fetchInto(count: number): Promise<void> {
    this.rpcs++;
    const r = await this.fetchIds(count);
    if (r.count !== count || r.first <= 0n) {
      throw new TidalError(ErrorCode.Internal, `AllocID answered ${r.count} ids from ${r.first}; asked for ${count}`);
    }
    this.ranges.push({ next: r.first, end: r.first + BigInt(r.count) });
    this.available += r.count;
  }
}
