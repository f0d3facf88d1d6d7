/**
 * ChannelWatchStore: the channel scheduler's record of which DataNode owns which vchannel, one key
 * per assignment: `channel/watch/{nodeID}/{vchannel}` → JSON `{"collectionId": "42",
 * "assignedTs": "4471..."}` (ids and the TSO timestamp of the assignment as decimal strings).
 *
 * The value is unique per assignment (its timestamp), so "this key still holds this value" means
 * "this node still owns the vchannel under this very assignment": SaveBinlogPaths puts exactly that
 * compare into its transaction ({@link ownershipCompare}), which a move or a release breaks.
 *
 * Every write is one transaction under the serving master's guard, so a deposed master cannot
 * move a channel.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import type { Compare, MetaKV, TxnOp } from '../../kv/meta-kv.js';

/** Key prefix of the assignments (relative to the KV's root path). */
export const CHANNEL_WATCH_PREFIX = 'channel/watch/';

/** Range page size when loading. */
const LOAD_PAGE = 500;

/** The key recording that DataNode `nodeId` owns `vchannel`. */
export function channelWatchKey(nodeId: bigint, vchannel: string): string {
  return `${CHANNEL_WATCH_PREFIX}${nodeId}/${vchannel}`;
}

/** One recorded assignment. */
export interface ChannelAssignment {
  nodeId: bigint;
  vchannel: string;
  collectionId: bigint;
  /** TSO timestamp of the assignment. */
  assignedTs: bigint;
}

/** The stored value of an assignment. */
export function encodeAssignment(a: Pick<ChannelAssignment, 'collectionId' | 'assignedTs'>): string {
  return JSON.stringify({ collectionId: a.collectionId.toString(), assignedTs: a.assignedTs.toString() });
}

/** The compare "`a` is still recorded, unchanged" (for transactions that need the owner). */
export function ownershipCompare(a: ChannelAssignment): Compare {
  return { key: channelWatchKey(a.nodeId, a.vchannel), target: 'value', op: '==', value: encodeAssignment(a) };
}

const DECIMAL = /^\d+$/;

/** Parses a stored key and value. Throws CORRUPTED naming the key when either is not an assignment. */
export function decodeAssignment(key: string, value: Buffer): ChannelAssignment {
  const bad = (why: string) => errors.corrupted(`channel assignment ${key} is unreadable: ${why}`, undefined, { key });
  if (!key.startsWith(CHANNEL_WATCH_PREFIX)) throw bad(`not under ${CHANNEL_WATCH_PREFIX}`);
  const rest = key.slice(CHANNEL_WATCH_PREFIX.length);
  const slash = rest.indexOf('/');
  const node = slash < 0 ? '' : rest.slice(0, slash);
  const vchannel = slash < 0 ? '' : rest.slice(slash + 1);
  if (!DECIMAL.test(node) || vchannel === '') throw bad('the key is not channel/watch/{nodeID}/{vchannel}');
  let parsed: { collectionId?: unknown; assignedTs?: unknown };
  try {
    parsed = JSON.parse(value.toString('utf8')) as typeof parsed;
  } catch (err) {
    throw errors.corrupted(`channel assignment ${key} is unreadable: the value is not JSON`, err, { key });
  }
  if (typeof parsed.collectionId !== 'string' || !DECIMAL.test(parsed.collectionId) || typeof parsed.assignedTs !== 'string' || !DECIMAL.test(parsed.assignedTs)) {
    throw bad('the value is not {"collectionId": "<id>", "assignedTs": "<ts>"}');
  }
  return { nodeId: BigInt(node), vchannel, collectionId: BigInt(parsed.collectionId), assignedTs: BigInt(parsed.assignedTs) };
}

/** Options of {@link ChannelWatchStore}. */
export interface ChannelWatchStoreOptions {
  kv: MetaKV;
  /** Compares every write must satisfy (the serving master's term). Default none. */
  guard?: () => Compare[];
}

/** Reads and writes assignments. Methods throw the KV's TidalErrors. */
export class ChannelWatchStore {
  private readonly kv: MetaKV;
  private readonly guard: () => Compare[];

  constructor(options: ChannelWatchStoreOptions) {
    this.kv = options.kv;
    this.guard = options.guard ?? (() => []);
  }

  /** Every recorded assignment, in key order. Throws CORRUPTED naming a key that does not decode. */
  async loadAll(): Promise<ChannelAssignment[]> {
    const out: ChannelAssignment[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.kv.range(CHANNEL_WATCH_PREFIX, { limit: LOAD_PAGE, startAfter });
      for (const kv of page.kvs) out.push(decodeAssignment(kv.key, kv.value));
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return out;
      startAfter = last.key;
    }
  }

  /**
   * Records `next` — and, when `previous` is given (a move), deletes it — in one transaction that
   * holds only if no assignment of `next` exists yet and `previous` is unchanged. Throws
   * FAILED_PRECONDITION otherwise (nothing is written).
   */
  async put(next: ChannelAssignment, previous?: ChannelAssignment): Promise<void> {
    const key = channelWatchKey(next.nodeId, next.vchannel);
    const compare: Compare[] = [...this.guard(), { key, target: 'createRevision', op: '==', revision: 0 }];
    const ops: TxnOp[] = [{ type: 'put', key, value: encodeAssignment(next) }];
    if (previous !== undefined) {
      compare.push(ownershipCompare(previous));
      ops.push({ type: 'delete', key: channelWatchKey(previous.nodeId, previous.vchannel) });
    }
    const res = await this.kv.txn({ compare, success: ops });
    if (!res.succeeded) {
      throw new TidalError(
        ErrorCode.FailedPrecondition,
        `cannot assign vchannel ${JSON.stringify(next.vchannel)} to DataNode ${next.nodeId}: this master no longer serves, or the assignment changed`,
        { context: { vchannel: next.vchannel, nodeId: next.nodeId.toString() } },
      );
    }
  }

  /** Deletes `a` if it is unchanged. Throws FAILED_PRECONDITION otherwise. */
  async remove(a: ChannelAssignment): Promise<void> {
    const res = await this.kv.txn({
      compare: [...this.guard(), ownershipCompare(a)],
      success: [{ type: 'delete', key: channelWatchKey(a.nodeId, a.vchannel) }],
    });
    if (!res.succeeded) {
      throw new TidalError(
        ErrorCode.FailedPrecondition,
        `cannot release vchannel ${JSON.stringify(a.vchannel)} from DataNode ${a.nodeId}: this master no longer serves, or the assignment changed`,
        { context: { vchannel: a.vchannel, nodeId: a.nodeId.toString() } },
      );
    }
  }
}
