/**
 * What every binlog records about itself, how that is spelled in Arrow schema metadata (string
 * keys `tidal.*`, string values; positions as JSON with 64-bit numbers as decimal strings, like the
 * proto3 JSON mapping), and the `Binlog` entry a DataNode reports for a written object.
 */
import type { MsgPosition } from '../../gen/common.js';
import type { Binlog } from '../../gen/segment.js';
import { errors } from '../../common/errors.js';
import { minMaxIndex64 } from './int64-arrays.js';
import { parseBinlogPath, type BinlogKind } from './paths.js';

/** Version of the binlog layout written by this code; readers reject other versions. */
export const BINLOG_FORMAT_VERSION = 1;

/** Schema-metadata keys of Tidal's Arrow binlogs. */
export const MetaKey = {
  kind: 'tidal.kind',
  formatVersion: 'tidal.format_version',
  collectionId: 'tidal.collection_id',
  partitionId: 'tidal.partition_id',
  segmentId: 'tidal.segment_id',
  schemaVersion: 'tidal.schema_version',
  startPosition: 'tidal.start_position',
  endPosition: 'tidal.end_position',
  rowCount: 'tidal.row_count',
  timestampFrom: 'tidal.timestamp_from',
  timestampTo: 'tidal.timestamp_to',
} as const;

/** Which segment a binlog belongs to and which stretch of its channel it covers. */
export interface BinlogScope {
  collectionId: bigint;
  partitionId: bigint;
  segmentId: bigint;
  /** Position of the first message whose rows are in the binlog (its offset is the log id). */
  startPosition: MsgPosition;
  /** Position of the last message whose rows are in the binlog. */
  endPosition: MsgPosition;
}

/** What a binlog says about itself: its scope plus counts and the timestamp range of its rows. */
export interface BinlogMeta extends BinlogScope {
  kind: BinlogKind;
  /** Schema version of the collection schema the writer was given (CollectionSchema.version). */
  schemaVersion: number;
  /** Rows (insert, stats log) or deleted keys (delta log). */
  rowCount: number;
  /** Smallest and largest row timestamp, inclusive (hybrid timestamps). */
  timestampFrom: bigint;
  timestampTo: bigint;
}

/**
 * The meta of a binlog of `kind` over `scope` whose rows carry `timestamps` (at least one): the
 * row count and the timestamp range come from them.
 */
export function binlogMetaOf(kind: BinlogKind, scope: BinlogScope, schemaVersion: number, timestamps: BigUint64Array): BinlogMeta {
  const range = minMaxIndex64(timestamps)!;
  return {
    kind,
    collectionId: scope.collectionId,
    partitionId: scope.partitionId,
    segmentId: scope.segmentId,
    startPosition: { ...scope.startPosition },
    endPosition: { ...scope.endPosition },
    schemaVersion,
    rowCount: timestamps.length,
    timestampFrom: timestamps[range.min]!,
    timestampTo: timestamps[range.max]!,
  };
}

/** A binlog's bytes and what they hold. */
export interface EncodedBinlog {
  bytes: Uint8Array;
  meta: BinlogMeta;
}

/** An encoded binlog as the pieces of its file, in order (not joined), and its size. */
export interface EncodedBinlogParts {
  parts: Uint8Array[];
  byteLength: number;
  meta: BinlogMeta;
}

/** A position as JSON: `{"channelName":…,"msgId":"…","timestamp":"…"}`. */
export function positionToJSON(p: MsgPosition): { channelName: string; msgId: string; timestamp: string } {
  return { channelName: p.channelName, msgId: p.msgId.toString(), timestamp: p.timestamp.toString() };
}

/** Parses {@link positionToJSON}'s shape. Throws CORRUPTED. */
export function positionFromJSON(value: unknown, what: string): MsgPosition {
  const v = value as Record<string, unknown> | null;
  if (v === null || typeof v !== 'object' || typeof v.channelName !== 'string' || typeof v.msgId !== 'string' || typeof v.timestamp !== 'string') {
    throw errors.corrupted(`${what} is not a position {channelName, msgId, timestamp}`);
  }
  return { channelName: v.channelName, msgId: parseBigInt(v.msgId, what, true), timestamp: parseBigInt(v.timestamp, what, false) };
}

const INT = /^-?(0|[1-9][0-9]*)$/;

/** Parses a decimal 64-bit integer (signed or unsigned). Throws CORRUPTED. */
export function parseBigInt(text: string, what: string, signed: boolean): bigint {
  if (!INT.test(text)) throw errors.corrupted(`${what}: "${text}" is not a decimal integer`);
  const v = BigInt(text);
  const ok = signed ? BigInt.asIntN(64, v) === v : BigInt.asUintN(64, v) === v;
  if (!ok) throw errors.corrupted(`${what}: ${text} is out of ${signed ? 'int64' : 'uint64'} range`);
  return v;
}

/** Checks a scope given by a caller. Throws INVALID_ARGUMENT. */
export function checkScope(scope: BinlogScope): void {
  for (const k of ['collectionId', 'partitionId', 'segmentId'] as const) {
    const v = scope[k];
    if (typeof v !== 'bigint' || v < 0n || BigInt.asIntN(64, v) !== v) throw errors.invalidArgument(`${k} must be a non-negative int64 bigint, got ${String(v)}`);
  }
  for (const k of ['startPosition', 'endPosition'] as const) {
    const p = scope[k];
    if (p === undefined || p === null || typeof p.channelName !== 'string' || typeof p.msgId !== 'bigint' || typeof p.timestamp !== 'bigint') {
      throw errors.invalidArgument(`${k} must be a position {channelName, msgId: bigint, timestamp: bigint}`);
    }
  }
  if (scope.endPosition.msgId < scope.startPosition.msgId) {
    throw errors.invalidArgument(`endPosition (offset ${scope.endPosition.msgId}) is before startPosition (offset ${scope.startPosition.msgId})`);
  }
}

/** The schema metadata of a binlog, in a fixed key order (so equal input gives equal bytes). */
export function metaToArrow(meta: BinlogMeta): Map<string, string> {
  return new Map<string, string>([
    [MetaKey.kind, meta.kind],
    [MetaKey.formatVersion, String(BINLOG_FORMAT_VERSION)],
    [MetaKey.collectionId, meta.collectionId.toString()],
    [MetaKey.partitionId, meta.partitionId.toString()],
    [MetaKey.segmentId, meta.segmentId.toString()],
    [MetaKey.schemaVersion, String(meta.schemaVersion)],
    [MetaKey.startPosition, JSON.stringify(positionToJSON(meta.startPosition))],
    [MetaKey.endPosition, JSON.stringify(positionToJSON(meta.endPosition))],
    [MetaKey.rowCount, String(meta.rowCount)],
    [MetaKey.timestampFrom, meta.timestampFrom.toString()],
    [MetaKey.timestampTo, meta.timestampTo.toString()],
  ]);
}

/** Reads {@link metaToArrow}'s metadata back, checking the kind and format version. Throws CORRUPTED. */
export function metaFromArrow(md: Map<string, string>, kind: BinlogKind): BinlogMeta {
  const get = (key: string): string => {
    const v = md.get(key);
    if (v === undefined) throw errors.corrupted(`${kind} lacks schema metadata "${key}"; not a Tidal binlog?`);
    return v;
  };
  const gotKind = get(MetaKey.kind);
  if (gotKind !== kind) throw errors.corrupted(`expected a binlog of kind ${kind}; the file says ${gotKind}`);
  const version = get(MetaKey.formatVersion);
  if (version !== String(BINLOG_FORMAT_VERSION)) throw errors.corrupted(`${kind} has format version ${version}; this reader knows ${BINLOG_FORMAT_VERSION}`);
  const json = (key: string): unknown => {
    try {
      return JSON.parse(get(key));
    } catch (err) {
      throw errors.corrupted(`${kind} metadata "${key}" is not JSON`, err);
    }
  };
  const count = (key: string): number => {
    const text = get(key);
    const n = Number(text);
    if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(n)) throw errors.corrupted(`${kind} metadata "${key}" is not a count: "${text}"`);
    return n;
  };
  return {
    kind,
    collectionId: parseBigInt(get(MetaKey.collectionId), MetaKey.collectionId, true),
    partitionId: parseBigInt(get(MetaKey.partitionId), MetaKey.partitionId, true),
    segmentId: parseBigInt(get(MetaKey.segmentId), MetaKey.segmentId, true),
    schemaVersion: count(MetaKey.schemaVersion),
    startPosition: positionFromJSON(json(MetaKey.startPosition), MetaKey.startPosition),
    endPosition: positionFromJSON(json(MetaKey.endPosition), MetaKey.endPosition),
    rowCount: count(MetaKey.rowCount),
    timestampFrom: parseBigInt(get(MetaKey.timestampFrom), MetaKey.timestampFrom, false),
    timestampTo: parseBigInt(get(MetaKey.timestampTo), MetaKey.timestampTo, false),
  };
}

/**
 * The `Binlog` entry for SaveBinlogPaths of an object written at `path` (its log id is read back
 * from the path). Throws INVALID_ARGUMENT when `path` is not a binlog path of the binlog's kind.
 */
export function binlogEntry(path: string, encoded: EncodedBinlog | EncodedBinlogParts): Binlog {
  const parts = parseBinlogPath(path);
  if (parts.kind !== encoded.meta.kind) throw errors.invalidArgument(`path ${path} is a ${parts.kind} path; the binlog is of kind ${encoded.meta.kind}`);
  const m = encoded.meta;
  return {
    logId: parts.logId,
    logPath: path,
    entriesNum: BigInt(m.rowCount),
    timestampFrom: m.timestampFrom,
    timestampTo: m.timestampTo,
    logSize: BigInt('bytes' in encoded ? encoded.bytes.byteLength : encoded.byteLength),
    schemaVersion: m.schemaVersion,
    startPosition: { ...m.startPosition },
    endPosition: { ...m.endPosition },
  };
}
