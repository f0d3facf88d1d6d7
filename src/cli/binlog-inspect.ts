/**
 * `tidal binlog inspect <key>`: reads one binlog from the object store the configuration names and
 * describes it — kind, the metadata it records about itself (collection, partition, segment, schema
 * version, positions, rows, timestamp range), its Arrow schema and its first rows (insert and delta
 * logs), or its primary-key statistics (stats logs).
 *
 * The kind comes from the content, not the key: an Arrow IPC file whose schema metadata says
 * `tidal.kind` is an insert or delta log; a JSON object with `kind: stats_log` is a stats log.
 * Anything else is a one-line CORRUPTED error saying it is not a Tidal binlog.
 */
import type { Table, Vector } from 'apache-arrow';
import { loadConfig } from '../common/config.js';
import { errors, hasCode, ErrorCode } from '../common/errors.js';
import { readArrowFile } from '../storage/binlog/arrow-file.js';
import { metaFromArrow, MetaKey, positionToJSON, type BinlogMeta } from '../storage/binlog/binlog-meta.js';
import { BinlogKind, readStatsLog } from '../storage/binlog/index.js';
import { createObjectStore } from '../storage/create.js';
import { formatTs, renderTable, toJson, writeOut, type Cell, type OutputFormat } from './output.js';

/** Values of a vector shown in table output before `…`. */
const VECTOR_PREVIEW = 4;
const ARROW_MAGIC = Buffer.from('ARROW1');

/** What `binlog inspect` was asked. */
export interface InspectRequest {
  key: string;
  rows: number;
  config?: string;
  output: OutputFormat;
}

/** A column of the Arrow schema. */
interface ColumnView {
  name: string;
  type: string;
  nullable: boolean;
  fieldId: string;
}

function metaView(meta: BinlogMeta): Record<string, unknown> {
  return {
    kind: meta.kind,
    collectionId: meta.collectionId,
    partitionId: meta.partitionId,
    segmentId: meta.segmentId,
    schemaVersion: meta.schemaVersion,
    rowCount: meta.rowCount,
    timestampFrom: meta.timestampFrom,
    timestampTo: meta.timestampTo,
    timeFrom: formatTs(meta.timestampFrom),
    timeTo: formatTs(meta.timestampTo),
    startPosition: positionToJSON(meta.startPosition),
    endPosition: positionToJSON(meta.endPosition),
  };
}

/** A cell value as JSON-friendly data: vectors as number arrays, bigints kept (toJson writes strings). */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && value !== null && 'toArray' in value && typeof (value as Vector).toArray === 'function') {
    return Array.from((value as Vector).toArray() as ArrayLike<unknown>);
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** A cell for the table: vectors abbreviated to their first values and their length. */
function abbreviate(value: unknown): Cell {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const head = value.slice(0, VECTOR_PREVIEW).map((v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : String(v)));
    return value.length > VECTOR_PREVIEW ? `[${head.join(', ')}, … (${value.length})]` : `[${head.join(', ')}]`;
  }
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number(value.toPrecision(6));
  return value as Cell;
}

function firstRows(table: Table, n: number): Record<string, unknown>[] {
  const names = table.schema.fields.map((f) => f.name);
  const cols = names.map((_, j) => table.getChildAt(j)!);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < Math.min(n, table.numRows); i++) {
    const row: Record<string, unknown> = {};
    names.forEach((name, j) => (row[name] = plain(cols[j]!.get(i))));
    out.push(row);
  }
  return out;
}

async function readObject(key: string, configFile: string | undefined): Promise<Buffer> {
  if (key === '' || key.startsWith('/')) throw errors.invalidArgument(`the key must be relative to the object store root (as tidal segment describe lists it), got ${JSON.stringify(key)}`);
  const config = loadConfig({ file: configFile });
  const store = createObjectStore(config);
  try {
    return await store.get(key);
  } catch (err) {
    if (hasCode(err, ErrorCode.NotFound)) {
      const where = config.storage.backend === 's3' ? `bucket ${config.s3.bucket} (root ${JSON.stringify(config.s3.rootPath)}) at ${config.s3.endpoint}` : `directory ${config.storage.localDir}`;
      throw errors.notFound(`no object ${JSON.stringify(key)} in the ${config.storage.backend} object store: ${where}`);
    }
    throw err;
  } finally {
    await store.close();
  }
}

/** Reads, decodes and prints one binlog. Throws NOT_FOUND, CORRUPTED (not a binlog) or the store's error. */
export async function inspectBinlog(req: InspectRequest): Promise<void> {
  const bytes = await readObject(req.key, req.config);
  const notBinlog = (why: string) => errors.corrupted(`${req.key} is not a Tidal binlog: ${why}`);

  if (bytes.subarray(0, ARROW_MAGIC.length).equals(ARROW_MAGIC)) {
    const table = readArrowFile(bytes, req.key);
    const kind = table.schema.metadata.get(MetaKey.kind);
    if (kind !== BinlogKind.Insert && kind !== BinlogKind.Delta) throw notBinlog(`an Arrow file without ${MetaKey.kind} = insert_log or delta_log in its schema metadata`);
    const meta = metaFromArrow(table.schema.metadata, kind);
    const columns: ColumnView[] = table.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable, fieldId: f.metadata.get('field_id') ?? '' }));
    const rows = firstRows(table, req.rows);
    if (req.output === 'json') {
      await writeOut(toJson({ key: req.key, sizeBytes: bytes.byteLength, meta: metaView(meta), schema: columns, numRows: table.numRows, rows }));
      return;
    }
    const mv = metaView(meta);
    const metaTable = await renderTable(
      ['key', 'value'],
      Object.entries(mv).map(([k, v]) => [k, typeof v === 'object' && v !== null ? `${(v as { channelName: string }).channelName} @ ${(v as { msgId: string }).msgId}` : (v as Cell)]),
    );
    const schemaTable = await renderTable(['column', 'arrow type', 'nullable', 'field id'], columns.map((c) => [c.name, c.type, c.nullable ? 'yes' : '', c.fieldId]));
    const rowTable = await renderTable(
      columns.map((c) => c.name),
      rows.map((r) => columns.map((c) => abbreviate(r[c.name]))),
    );
    await writeOut(`${req.key} (${bytes.byteLength} bytes)\n${metaTable}\n${schemaTable}\nfirst ${rows.length} of ${table.numRows} rows\n${rowTable}`);
    return;
  }

  const text = bytes.subarray(0, 64).toString('utf8').trimStart();
  if (!text.startsWith('{')) throw notBinlog('neither an Arrow IPC file nor a JSON stats log');
  let stats;
  try {
    stats = readStatsLog(bytes);
  } catch (err) {
    throw notBinlog((err as Error).message);
  }
  const s = stats.stats;
  const pk = { fieldId: s.fieldId, name: s.name, rowCount: s.rowCount, min: s.min, max: s.max, bloomBits: s.bloom.numBits, bloomHashes: s.bloom.numHashes };
  if (req.output === 'json') {
    await writeOut(toJson({ key: req.key, sizeBytes: bytes.byteLength, meta: metaView(stats.meta), primaryKey: pk }));
    return;
  }
  const mv = metaView(stats.meta);
  const metaTable = await renderTable(
    ['key', 'value'],
    Object.entries(mv).map(([k, v]) => [k, typeof v === 'object' && v !== null ? `${(v as { channelName: string }).channelName} @ ${(v as { msgId: string }).msgId}` : (v as Cell)]),
  );
  const pkTable = await renderTable(['pk field', 'field id', 'rows', 'min', 'max', 'bloom bits', 'bloom hashes'], [[s.name, s.fieldId, s.rowCount, s.min, s.max, s.bloom.numBits, s.bloom.numHashes]]);
  await writeOut(`${req.key} (${bytes.byteLength} bytes)\n${metaTable}\n${pkTable}`);
}
