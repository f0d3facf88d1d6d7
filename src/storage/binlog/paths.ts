/**
 * Where binlogs live in the object store, and their log ids.
 *
 * Layout (DESIGN.md, "Segments and binlogs"), under an optional root path:
 *   {root}/insert_log/{collection}/{partition}/{segment}/{logID}.arrow
 *   {root}/delta_log/{collection}/{partition}/{segment}/{logID}.arrow
 *   {root}/stats_log/{collection}/{partition}/{segment}/{logID}.json
 * Ids are written in decimal without leading zeros, so a path parses back to exactly the ids that
 * made it.
 *
 * Log id: the channel offset (Kafka offset, `MsgPosition.msg_id`) of the first message of the
 * synced range — see {@link deriveLogId}.
 */
import type { MsgPosition } from '../../gen/common.js';
import { errors } from '../../common/errors.js';
import { assertValidKey } from '../object-store.js';

/** The three kinds of binlog, named as their top-level folder. */
export const BinlogKind = {
  Insert: 'insert_log',
  Delta: 'delta_log',
  Stats: 'stats_log',
} as const;
export type BinlogKind = (typeof BinlogKind)[keyof typeof BinlogKind];

/** File extension (without the dot) of each kind. */
export const BINLOG_EXTENSION: Readonly<Record<BinlogKind, string>> = {
  insert_log: 'arrow',
  delta_log: 'arrow',
  stats_log: 'json',
};

const KINDS: ReadonlySet<string> = new Set(Object.values(BinlogKind));
const MAX_INT64 = (1n << 63n) - 1n;

/** An id given as a bigint (as the generated protobuf types carry them) or a safe integer. */
export type Id = bigint | number;

function checkId(what: string, id: Id): bigint {
  const v = typeof id === 'number' ? (Number.isSafeInteger(id) ? BigInt(id) : -1n) : id;
  if (typeof v !== 'bigint' || v < 0n || v > MAX_INT64) {
    throw errors.invalidArgument(`${what} must be an integer from 0 to 2^63-1, got ${String(id)}`, { [what]: String(id) });
  }
  return v;
}

function normaliseRoot(root: string): string {
  if (typeof root !== 'string') throw errors.invalidArgument('binlog root path must be a string');
  return root.replace(/^\/+|\/+$/g, '');
}

/**
 * The object key of a binlog: `{root}/{kind}/{collection}/{partition}/{segment}/{logId}.{ext}`
 * (`root` may be empty; surrounding '/' are dropped). Throws INVALID_ARGUMENT for a negative or
 * non-integer id, an unknown kind, or a key the object stores would refuse.
 */
export function binlogPath(kind: BinlogKind, root: string, collectionId: Id, partitionId: Id, segmentId: Id, logId: Id): string {
  if (!KINDS.has(kind)) throw errors.invalidArgument(`unknown binlog kind "${String(kind)}"; use one of ${[...KINDS].join(', ')}`);
  const parts = [
    kind,
    checkId('collectionId', collectionId).toString(),
    checkId('partitionId', partitionId).toString(),
    checkId('segmentId', segmentId).toString(),
    `${checkId('logId', logId).toString()}.${BINLOG_EXTENSION[kind]}`,
  ];
  const r = normaliseRoot(root);
  const key = r === '' ? parts.join('/') : `${r}/${parts.join('/')}`;
  assertValidKey(key);
  return key;
}

/** `{root}/insert_log/{collection}/{partition}/{segment}/{logId}.arrow`; see {@link binlogPath}. */
export function insertLogPath(root: string, collectionId: Id, partitionId: Id, segmentId: Id, logId: Id): string {
  return binlogPath(BinlogKind.Insert, root, collectionId, partitionId, segmentId, logId);
}

/** `{root}/delta_log/{collection}/{partition}/{segment}/{logId}.arrow`; see {@link binlogPath}. */
export function deltaLogPath(root: string, collectionId: Id, partitionId: Id, segmentId: Id, logId: Id): string {
  return binlogPath(BinlogKind.Delta, root, collectionId, partitionId, segmentId, logId);
}

/** `{root}/stats_log/{collection}/{partition}/{segment}/{logId}.json`; see {@link binlogPath}. */
export function statsLogPath(root: string, collectionId: Id, partitionId: Id, segmentId: Id, logId: Id): string {
  return binlogPath(BinlogKind.Stats, root, collectionId, partitionId, segmentId, logId);
}

/**
 * The listing prefix of a kind's binlogs, narrowed to a collection, a partition and a segment as
 * far as given, ending in '/' when an id is given (so collection 1 does not match 10):
 * `{root}/insert_log/`, `{root}/insert_log/1/`, `{root}/insert_log/1/2/3/`.
 */
export function binlogPrefix(kind: BinlogKind, root: string, collectionId?: Id, partitionId?: Id, segmentId?: Id): string {
  if (!KINDS.has(kind)) throw errors.invalidArgument(`unknown binlog kind "${String(kind)}"`);
  const r = normaliseRoot(root);
  let prefix = r === '' ? `${kind}/` : `${r}/${kind}/`;
  const ids: [string, Id | undefined][] = [
    ['collectionId', collectionId],
    ['partitionId', partitionId],
    ['segmentId', segmentId],
  ];
  for (const [what, id] of ids) {
    if (id === undefined) break;
    prefix += `${checkId(what, id).toString()}/`;
  }
  return prefix;
}

/** A binlog key taken apart. */
export interface BinlogPathParts {
  kind: BinlogKind;
  /** The root path before the kind folder ('' when none). */
  root: string;
  collectionId: bigint;
  partitionId: bigint;
  segmentId: bigint;
  logId: bigint;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Takes a binlog key apart (the inverse of {@link binlogPath}). The last five segments must be
 * `{kind}/{collection}/{partition}/{segment}/{logId}.{ext}` with the kind's extension and canonical
 * decimal ids; whatever comes before is the root. Throws INVALID_ARGUMENT naming what is wrong.
 */
export function parseBinlogPath(path: string): BinlogPathParts {
  const segments = typeof path === 'string' ? path.split('/') : [];
  const bad = (why: string): never => {
    throw errors.invalidArgument(`not a binlog path (${why}): ${JSON.stringify(path)}; expected {root}/{insert_log|delta_log|stats_log}/{collection}/{partition}/{segment}/{logID}.{arrow|json}`, {
      path,
    });
  };
  if (segments.length < 5) bad('too few segments');
  const [kind, coll, part, seg, file] = segments.slice(-5) as [string, string, string, string, string];
  if (!KINDS.has(kind)) bad(`unknown kind "${kind}"`);
  const ext = BINLOG_EXTENSION[kind as BinlogKind];
  if (!file.endsWith(`.${ext}`)) bad(`a ${kind} file ends in .${ext}`);
  const logText = file.slice(0, -(ext.length + 1));
  const ids = [coll, part, seg, logText].map((text) => {
    if (!DECIMAL.test(text)) bad(`"${text}" is not a decimal id`);
    const v = BigInt(text);
    if (v > MAX_INT64) bad(`${text} is above 2^63-1`);
    return v;
  }) as [bigint, bigint, bigint, bigint];
  return {
    kind: kind as BinlogKind,
    root: segments.slice(0, -5).join('/'),
    collectionId: ids[0],
    partitionId: ids[1],
    segmentId: ids[2],
    logId: ids[3],
  };
}

/**
 * The log id of a synced range of a segment: the offset (`msgId`) of the range's start position,
 * the first message whose rows (or deletes) it holds.
 *
 * Why this is enough, and better than a hash:
 * - Deterministic: a replay after a crash re-reads the same messages from the same checkpoint, so
 *   a range that was written but not yet recorded in etcd starts at the same offset again and its
 *   objects are overwritten, not duplicated (a range already recorded is skipped on replay, so its
 *   objects are never rewritten).
 * - Unique: the path already holds the segment id, and a segment's rows arrive on one vchannel,
 *   which lives on one pchannel (one Kafka partition), so offsets of distinct ranges of one segment
 *   differ. The channel name adds nothing within a segment's folder.
 * - Sorted: log ids grow with the channel, so listing a segment's folder in numeric order lists its
 *   binlogs in stream order; an insert, delta and stats log of the same sync share the id.
 *
 * Precondition: a sync range starts at a message boundary and two ranges of one segment never
 * start at the same message (the write buffer syncs whole Insert/Delete messages). Offset 0 gives
 * log id 0, a valid id. Throws INVALID_ARGUMENT for a missing position, an empty channel name or
 * an offset outside 0..2^63-1.
 */
export function deriveLogId(start: MsgPosition | undefined): bigint {
  if (start === undefined || start === null) throw errors.invalidArgument('a start position is required to derive a log id');
  if (typeof start.channelName !== 'string' || start.channelName === '') {
    throw errors.invalidArgument('the start position has no channel name');
  }
  return checkId('start position msgId', start.msgId);
}
