/**
 * Stats logs: primary-key statistics of the rows of one insert log, as JSON (UTF-8), written next
 * to it with the same log id: row count, smallest and largest key, and a Bloom filter over the keys
 * (bloom-filter.ts), so a delete or lookup can skip segments that cannot hold a key.
 *
 * Shape (keys in this order; 64-bit integers as decimal strings, like proto3 JSON):
 *   { "kind": "stats_log", "formatVersion": 1, "collectionId", "partitionId", "segmentId",
 *     "schemaVersion", "startPosition", "endPosition", "rowCount", "timestampFrom", "timestampTo",
 *     "pk": { "fieldId", "name", "dataType": "Int64" | "VarChar", "min", "max", "bloomFilter" } }
 * VarChar min/max compare by UTF-8 bytes (= Unicode code point order).
 */
import { Type, type Data, type Vector } from 'apache-arrow';
import { DataType, type CollectionSchema } from '../../gen/schema.js';
import { errors } from '../../common/errors.js';
import { dataTypeName, primaryKeyField } from '../../common/arrow/index.js';
import { BINLOG_FORMAT_VERSION, parseBigInt, positionFromJSON, positionToJSON, type BinlogMeta, type EncodedBinlog } from './binlog-meta.js';
import { BloomFilter, DEFAULT_BLOOM_FP_RATE, type PrimaryKey } from './bloom-filter.js';
import { minMaxIndex64 } from './int64-arrays.js';
import { BinlogKind } from './paths.js';

/** Primary-key statistics of a set of rows. */
export interface PkStats {
  fieldId: bigint;
  name: string;
  dataType: DataType.Int64 | DataType.VarChar;
  rowCount: number;
  /** Smallest and largest key (bigint for Int64, string for VarChar). */
  min: PrimaryKey;
  max: PrimaryKey;
  bloom: BloomFilter;
}

/** A stats log read back. */
export interface StatsLog {
  meta: BinlogMeta;
  stats: PkStats;
}

function compareBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = a[as + i]! - b[bs + i]!;
    if (d !== 0) return d;
  }
  return ae - as - (be - bs);
}

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Orders two keys of one type: bigints numerically, strings by UTF-8 bytes. */
export function comparePk(a: PrimaryKey, b: PrimaryKey): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(utf8(a), utf8(b));
  throw errors.invalidArgument(`cannot compare a ${typeof a} key with a ${typeof b} key`);
}

/**
 * Statistics of the primary-key column of some rows (the chunks of one insert log, or its `pk`
 * column read back), with a Bloom filter sized for them at `fpRate`. Reads buffers only: no
 * per-row objects. Throws INVALID_ARGUMENT for no rows, null keys or a column of another type.
 */
export function computePkStats(schema: CollectionSchema, pkColumn: Vector | readonly Data[], fpRate = DEFAULT_BLOOM_FP_RATE): PkStats {
  const pk = primaryKeyField(schema);
  const chunks: readonly Data[] = Array.isArray(pkColumn) ? pkColumn : (pkColumn as Vector).data;
  let rows = 0;
  for (const c of chunks) {
    const want = pk.dataType === DataType.Int64 ? Type.Int : Type.Utf8;
    if (c.type.typeId !== want) throw errors.invalidArgument(`primary key "${pk.name}" is ${dataTypeName(pk.dataType)}; the column given is ${String(c.type)}`);
    if (c.nullCount > 0) throw errors.invalidArgument(`primary key column "${pk.name}" has null values`);
    rows += c.length;
  }
  if (rows === 0) throw errors.invalidArgument('stats need at least one row');
  const bloom = BloomFilter.forCapacity(rows, fpRate);
  let min: PrimaryKey | undefined;
  let max: PrimaryKey | undefined;
  if (pk.dataType === DataType.Int64) {
    for (const c of chunks) {
      if (c.length === 0) continue;
      const values = (c.values as BigInt64Array).subarray(0, c.length);
      bloom.addInt64Column(values);
      const r = minMaxIndex64(values)!;
      const lo = values[r.min]!;
      const hi = values[r.max]!;
      if (min === undefined || lo < (min as bigint)) min = lo;
      if (max === undefined || hi > (max as bigint)) max = hi;
    }
  } else {
    let minBytes: Uint8Array | undefined;
    let maxBytes: Uint8Array | undefined;
    for (const c of chunks) {
      if (c.length === 0) continue;
      const offsets = c.valueOffsets as Int32Array;
      const bytes = c.values as Uint8Array;
      bloom.addUtf8Column(offsets, bytes, c.length);
      let lo = 0;
      let hi = 0;
      for (let i = 1; i < c.length; i++) {
        const s = offsets[i]!;
        const e = offsets[i + 1]!;
        if (compareBytes(bytes, s, e, bytes, offsets[lo]!, offsets[lo + 1]!) < 0) lo = i;
        if (compareBytes(bytes, s, e, bytes, offsets[hi]!, offsets[hi + 1]!) > 0) hi = i;
      }
      const loBytes = bytes.subarray(offsets[lo]!, offsets[lo + 1]!);
      const hiBytes = bytes.subarray(offsets[hi]!, offsets[hi + 1]!);
      if (minBytes === undefined || Buffer.compare(loBytes, minBytes) < 0) minBytes = loBytes;
      if (maxBytes === undefined || Buffer.compare(hiBytes, maxBytes) > 0) maxBytes = hiBytes;
    }
    const decoder = new TextDecoder();
    min = decoder.decode(minBytes);
    max = decoder.decode(maxBytes);
  }
  return { fieldId: pk.fieldId, name: pk.name, dataType: pk.dataType as PkStats['dataType'], rowCount: rows, min: min!, max: max!, bloom };
}

/**
 * False when `key` is certainly not among the rows the stats describe (outside min..max, or not in
 * the Bloom filter); true when it may be.
 */
export function mightContainPk(stats: PkStats, key: PrimaryKey): boolean {
  if (typeof key !== typeof stats.min) return false;
  if (comparePk(key, stats.min) < 0 || comparePk(key, stats.max) > 0) return false;
  return stats.bloom.mightContain(key);
}

/**
 * Encodes the stats of an insert log's rows as its stats log (UTF-8 JSON; deterministic). `insertLog`
 * is that log's metadata; its scope, schema version, row count and timestamp range are repeated.
 * Throws INVALID_ARGUMENT when the stats' row count differs from the insert log's.
 */
export function writeStatsLog(stats: PkStats, insertLog: BinlogMeta): EncodedBinlog {
  if (stats.rowCount !== insertLog.rowCount) {
    throw errors.invalidArgument(`the stats cover ${stats.rowCount} rows; the insert log holds ${insertLog.rowCount}`);
  }
  const meta: BinlogMeta = { ...insertLog, kind: BinlogKind.Stats, startPosition: { ...insertLog.startPosition }, endPosition: { ...insertLog.endPosition } };
  const json = {
    kind: meta.kind,
    formatVersion: BINLOG_FORMAT_VERSION,
    collectionId: meta.collectionId.toString(),
    partitionId: meta.partitionId.toString(),
    segmentId: meta.segmentId.toString(),
    schemaVersion: meta.schemaVersion,
    startPosition: positionToJSON(meta.startPosition),
    endPosition: positionToJSON(meta.endPosition),
    rowCount: meta.rowCount,
    timestampFrom: meta.timestampFrom.toString(),
    timestampTo: meta.timestampTo.toString(),
    pk: {
      fieldId: stats.fieldId.toString(),
      name: stats.name,
      dataType: dataTypeName(stats.dataType),
      min: stats.min.toString(),
      max: stats.max.toString(),
      bloomFilter: stats.bloom.toJSON(),
    },
  };
  return { bytes: new TextEncoder().encode(JSON.stringify(json)), meta };
}

/** Reads a stats log. Throws CORRUPTED for bytes that are not its JSON shape. */
export function readStatsLog(bytes: Uint8Array): StatsLog {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch (err) {
    throw errors.corrupted('stats log is not UTF-8 JSON', err);
  }
  if (j === null || typeof j !== 'object') throw errors.corrupted('stats log is not a JSON object');
  if (j.kind !== BinlogKind.Stats) throw errors.corrupted(`expected a binlog of kind stats_log; the file says ${String(j.kind)}`);
  if (j.formatVersion !== BINLOG_FORMAT_VERSION) throw errors.corrupted(`stats log has format version ${String(j.formatVersion)}; this reader knows ${BINLOG_FORMAT_VERSION}`);
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string') throw errors.corrupted(`stats log: ${what} must be a string`);
    return v;
  };
  const count = (v: unknown, what: string): number => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw errors.corrupted(`stats log: ${what} must be a non-negative integer`);
    return v as number;
  };
  const pkJson = j.pk as Record<string, unknown> | undefined;
  if (pkJson === undefined || pkJson === null || typeof pkJson !== 'object') throw errors.corrupted('stats log lacks "pk"');
  const typeName = str(pkJson.dataType, 'pk.dataType');
  if (typeName !== 'Int64' && typeName !== 'VarChar') throw errors.corrupted(`stats log: pk.dataType must be Int64 or VarChar, got ${typeName}`);
  const dataType = typeName === 'Int64' ? DataType.Int64 : DataType.VarChar;
  const key = (v: unknown, what: string): PrimaryKey => (dataType === DataType.Int64 ? parseBigInt(str(v, what), what, true) : str(v, what));
  const meta: BinlogMeta = {
    kind: BinlogKind.Stats,
    collectionId: parseBigInt(str(j.collectionId, 'collectionId'), 'collectionId', true),
    partitionId: parseBigInt(str(j.partitionId, 'partitionId'), 'partitionId', true),
    segmentId: parseBigInt(str(j.segmentId, 'segmentId'), 'segmentId', true),
    schemaVersion: count(j.schemaVersion, 'schemaVersion'),
    startPosition: positionFromJSON(j.startPosition, 'startPosition'),
    endPosition: positionFromJSON(j.endPosition, 'endPosition'),
    rowCount: count(j.rowCount, 'rowCount'),
    timestampFrom: parseBigInt(str(j.timestampFrom, 'timestampFrom'), 'timestampFrom', false),
    timestampTo: parseBigInt(str(j.timestampTo, 'timestampTo'), 'timestampTo', false),
  };
  const stats: PkStats = {
    fieldId: parseBigInt(str(pkJson.fieldId, 'pk.fieldId'), 'pk.fieldId', true),
    name: str(pkJson.name, 'pk.name'),
    dataType,
    rowCount: meta.rowCount,
    min: key(pkJson.min, 'pk.min'),
    max: key(pkJson.max, 'pk.max'),
    bloom: BloomFilter.fromJSON(pkJson.bloomFilter),
  };
  return { meta, stats };
}
