/**
 * SegmentStore: segments in the metadata KV, one key per segment at
 * `meta/segment/{collectionID}/{segmentID}` whose value is the `segment.SegmentInfo` protobuf
 * encoding. Every change is one transaction (guarded by the serving master's compares), so a
 * change is either wholly stored or not at all.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { SegmentInfo } from '../../gen/segment.js';
import type { Compare, MetaKV, TxnOp } from '../../kv/meta-kv.js';

/** Default key prefix of segments (the KV adds its own root path). */
export const SEGMENT_KEY_PREFIX = 'meta/segment/';

/** Range page size when loading. */
const LOAD_PAGE = 500;

/** Options of {@link SegmentStore}. */
export interface SegmentStoreOptions {
  kv: MetaKV;
  /** Key prefix, ending in `/`. Default {@link SEGMENT_KEY_PREFIX}. */
  prefix?: string;
  /** Compares every write must satisfy (the serving master's key). Default none. */
  guard?: () => Compare[];
}

/** Extra compares and writes that must commit in the same transaction as a segment change. */
export interface TxnExtras {
  compares?: Compare[];
  ops?: TxnOp[];
}

/** Reads and writes segments in the KV. Methods throw the KV's TidalErrors. */
export class SegmentStore {
  private readonly kv: MetaKV;
  private readonly prefix: string;
  private readonly guard: () => Compare[];

  constructor(options: SegmentStoreOptions) {
    this.kv = options.kv;
    this.prefix = options.prefix ?? SEGMENT_KEY_PREFIX;
    if (!this.prefix.endsWith('/')) throw errors.invalidArgument(`segment key prefix must end in "/", got ${JSON.stringify(this.prefix)}`);
    this.guard = options.guard ?? (() => []);
  }

  /** Key of one segment: `{prefix}{collectionId}/{segmentId}`. */
  key(collectionId: bigint, segmentId: bigint): string {
    return `${this.prefix}${collectionId}/${segmentId}`;
  }

  /** Every stored segment, in key order. Throws CORRUPTED naming the key of a value that does not decode. */
  async loadAll(): Promise<SegmentInfo[]> {
    const out: SegmentInfo[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.kv.range(this.prefix, { limit: LOAD_PAGE, startAfter });
      for (const kv of page.kvs) out.push(this.decode(kv.key, kv.value));
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return out;
      startAfter = last.key;
    }
  }

  /**
   * Writes `segments` (and `extras`) in one transaction. Throws FAILED_PRECONDITION when the guard
   * or an extra compare does not hold (nothing is written).
   */
  async save(segments: readonly SegmentInfo[], extras: TxnExtras = {}): Promise<void> {
    const ops: TxnOp[] = segments.map((s) => ({
      type: 'put',
      key: this.key(s.collectionId, s.segmentId),
      value: Buffer.from(SegmentInfo.encode(s).finish()),
    }));
    const res = await this.kv.txn({
      compare: [...this.guard(), ...(extras.compares ?? [])],
      success: [...ops, ...(extras.ops ?? [])],
    });
    if (!res.succeeded) {
      throw new TidalError(ErrorCode.FailedPrecondition, 'segment change rejected: this master no longer serves, or a guarded key changed', {
        context: { segmentIds: segments.map((s) => s.segmentId.toString()) },
      });
    }
  }

  private decode(key: string, value: Buffer): SegmentInfo {
    let info: SegmentInfo;
    try {
      info = SegmentInfo.decode(value);
    } catch (err) {
      throw errors.corrupted(`segment at ${key} is not a SegmentInfo encoding`, err, { key });
    }
    if (key !== this.key(info.collectionId, info.segmentId)) {
      throw errors.corrupted(`segment at ${key} names collection ${info.collectionId} segment ${info.segmentId}`, undefined, { key });
    }
    return info;
  }
}
