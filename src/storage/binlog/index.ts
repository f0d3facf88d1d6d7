/**
 * Public surface of src/storage/binlog: where binlogs live (paths, log ids), and the codecs of the
 * three kinds — insert logs and delta logs (Arrow IPC files any Arrow reader opens) and stats logs
 * (JSON with a primary-key Bloom filter). Pure functions over bytes: writing to the object store is
 * the caller's (`store.put(path, bytes)`).
 *
 * A sync of a segment, end to end:
 *   const logId = deriveLogId(scope.startPosition);
 *   const ins = writeInsertLog(schema, chunks, scope);                  // chunks: { batch, timestamps, rowIds }[]
 *   const insPath = insertLogPath(root, coll, part, seg, logId);
 *   const pkColumns = chunks.map((c) => c.batch.getChild(pkName)!.data[0]!);
 *   const stats = writeStatsLog(computePkStats(schema, pkColumns), ins.meta); // at statsLogPath(..., logId)
 *   const del = writeDeltaLog(schema, deletes, scope);                  // at deltaLogPath(..., logId), if any
 *   await store.put(insPath, ins.bytes); ...
 *   const binlogs = [binlogEntry(insPath, ins), ...];                    // for SaveBinlogPaths
 *   const { table, meta } = readInsertLog(await store.get(insPath), schema);
 */
export {
  BINLOG_EXTENSION,
  BinlogKind,
  binlogPath,
  binlogPrefix,
  deltaLogPath,
  deriveLogId,
  insertLogPath,
  parseBinlogPath,
  statsLogPath,
  type BinlogPathParts,
  type Id,
} from './paths.js';
export {
  BINLOG_FORMAT_VERSION,
  MetaKey,
  binlogEntry,
  positionFromJSON,
  positionToJSON,
  type BinlogMeta,
  type BinlogScope,
  type EncodedBinlog,
  type EncodedBinlogParts,
} from './binlog-meta.js';
export { readInsertLog, writeInsertLog, writeInsertLogParts, type InsertLog, type InsertLogChunk } from './insert-log.js';
export { DELTA_PK_FIELD, DELTA_TS_FIELD, readDeltaLog, writeDeltaLog, type DeltaLog, type DeltaLogChunk } from './delta-log.js';
export { comparePk, computePkStats, mightContainPk, readStatsLog, writeStatsLog, type PkStats, type StatsLog } from './stats-log.js';
export {
  BLOOM_HASH,
  BLOOM_SEEDS,
  BloomFilter,
  DEFAULT_BLOOM_FP_RATE,
  bloomParams,
  type BloomFilterJSON,
  type PrimaryKey,
} from './bloom-filter.js';
export { murmur3, murmur3Int64 } from '../../common/murmur3.js';
