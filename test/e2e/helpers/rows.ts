/**
 * What the end-to-end tests insert and how they check it: a `{pk Int64, vec FloatVector[DIM]}`
 * collection, deterministic vectors, a ledger of every acknowledged insert and delete (row id and
 * the timestamp range the TSO could have given it), and a reader that collects the rows of the
 * binlogs the master's meta references (ShowSegments), decoded with the binlog codec
 * (apache-arrow underneath).
 */
import { expect } from 'vitest';
import { ROW_ID_FIELD, TIMESTAMP_FIELD } from '../../../src/common/arrow/index.js';
import { DataType, type CollectionSchema } from '../../../src/gen/schema.js';
import type { TidalClient } from '../../../src/proxy/index.js';
import type { MasterClient } from '../../../src/proxy/master-client.js';
import { DELTA_PK_FIELD, DELTA_TS_FIELD, readDeltaLog, readInsertLog } from '../../../src/storage/binlog/index.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';

/** Vector dimension of the e2e collections. */
export const DIM = 32;

/** The CreateCollection request of a `{pk, vec}` collection with `shardsNum` shards. */
export function collectionRequest(name: string, shardsNum: number) {
  return {
    collectionName: name,
    shardsNum,
    schema: {
      name,
      fields: [
        { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
        { name: 'vec', dataType: DataType.FloatVector, dim: DIM },
      ],
    },
  };
}

/** The vector of row `pk`: deterministic and distinct per row. */
export function vectorOf(pk: bigint): Float32Array {
  const v = new Float32Array(DIM);
  const base = Number(pk % 1_000_003n);
  for (let j = 0; j < DIM; j++) v[j] = base * 0.5 + j / 64;
  return v;
}

/** What the test knows of an acknowledged row or delete. */
export interface Acked {
  /** Row id (inserts). */
  rowId?: bigint;
  /** The row's timestamp is in (tsAfter, tsAtMost]. */
  tsAfter: bigint;
  tsAtMost: bigint;
}

/**
 * Every acknowledged insert and delete of one collection. Calls go one at a time, so an
 * operation's timestamps lie above the previous acknowledgement's and at or below its own.
 */
export class Ledger {
  readonly rows = new Map<bigint, Acked>();
  readonly deletes = new Map<bigint, Acked>();
  /** Primary keys sent in inserts that were not acknowledged (may or may not be in the binlogs). */
  readonly unacked = new Set<bigint>();
  private lastTs = 0n;

  constructor(
    private readonly collection: string,
  ) {}

  /** Inserts rows `pks` (columnar) and records them once acknowledged; rethrows a failure after noting the keys as unacknowledged. */
  async insert(client: TidalClient, pks: readonly bigint[]): Promise<void> {
    const vec = new Float32Array(pks.length * DIM);
    pks.forEach((pk, i) => vec.set(vectorOf(pk), i * DIM));
    const after = this.lastTs;
    let res;
    try {
      res = await client.insert(this.collection, { columns: { pk: BigInt64Array.from(pks), vec } });
    } catch (err) {
      for (const pk of pks) this.unacked.add(pk);
      throw err;
    }
    expect(res.insertCount).toBe(pks.length);
    pks.forEach((pk, i) => {
      expect(this.rows.has(pk), `pk ${pk} inserted twice by the test`).toBe(false);
      this.rows.set(pk, { rowId: res.rowIds[i]!, tsAfter: after, tsAtMost: res.timestamp });
    });
    this.lastTs = res.timestamp;
  }

  /** Deletes `pks` and records them once acknowledged. */
  async delete(client: TidalClient, pks: readonly bigint[]): Promise<void> {
    const after = this.lastTs;
    const res = await client.delete(this.collection, pks);
    expect(res.deleteCount).toBe(pks.length);
    for (const pk of pks) this.deletes.set(pk, { tsAfter: after, tsAtMost: res.timestamp });
    this.lastTs = res.timestamp;
  }
}

/** One row as found in an insert log. */
export interface FoundRow {
  rowId: bigint;
  ts: bigint;
  vec: Buffer;
  segmentId: bigint;
}

/** What the binlogs referenced by the master's meta hold. */
export interface BinlogContents {
  /** Every row of every insert log, by primary key (a key found twice is listed twice). */
  rows: Map<bigint, FoundRow[]>;
  /** Every delete of every delta log, by primary key. */
  deletes: Map<bigint, bigint[]>;
  insertLogs: number;
  deltaLogs: number;
  segments: number;
}

/** Reads every insert and delta log ShowSegments lists for `collectionId` from `store`. */
export async function readBinlogs(master: MasterClient, store: ObjectStore, collectionId: bigint, schema: CollectionSchema): Promise<BinlogContents> {
  const { segments } = await master.call('showSegments', { collectionId, includeBinlogs: true });
  const out: BinlogContents = { rows: new Map(), deletes: new Map(), insertLogs: 0, deltaLogs: 0, segments: segments.length };
  for (const s of segments) {
    for (const log of s.insertLogs) {
      out.insertLogs++;
      const { table, meta } = readInsertLog(await store.get(log.logPath), schema);
      expect(meta.segmentId).toBe(s.segmentId);
      const rowIds = table.getChild(ROW_ID_FIELD)!.toArray() as BigInt64Array;
      const ts = table.getChild(TIMESTAMP_FIELD)!.toArray() as BigUint64Array;
      const pks = table.getChild('pk')!.toArray() as BigInt64Array;
      const vec = table.getChild('vec')!;
      for (let r = 0; r < table.numRows; r++) {
        const v = (vec.get(r) as { toArray(): Float32Array }).toArray();
        const row: FoundRow = { rowId: rowIds[r]!, ts: ts[r]!, vec: Buffer.from(Float32Array.from(v).buffer), segmentId: s.segmentId };
        const list = out.rows.get(pks[r]!);
        if (list === undefined) out.rows.set(pks[r]!, [row]);
        else list.push(row);
      }
    }
    for (const log of s.deltaLogs) {
      out.deltaLogs++;
      const { table } = readDeltaLog(await store.get(log.logPath), schema);
      const pks = table.getChild(DELTA_PK_FIELD)!.toArray() as BigInt64Array;
      const ts = table.getChild(DELTA_TS_FIELD)!.toArray() as BigUint64Array;
      for (let r = 0; r < table.numRows; r++) {
        const list = out.deletes.get(pks[r]!);
        if (list === undefined) out.deletes.set(pks[r]!, [ts[r]!]);
        else list.push(ts[r]!);
      }
    }
  }
  return out;
}

/**
 * Checks the binlogs against the ledger: every acknowledged row exactly once, with its row id, a
 * timestamp in its range and its vector bytes; no row the test did not send, and a row of an
 * unacknowledged insert at most once; every acknowledged delete in the delta logs with a
 * timestamp in its range, and no other delete.
 */
export function expectExactly(found: BinlogContents, ledger: Ledger): void {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  for (const [pk, acked] of ledger.rows) {
    const rows = found.rows.get(pk) ?? [];
    if (rows.length !== 1) {
      note(`pk ${pk}: found ${rows.length} times`);
      continue;
    }
    const row = rows[0]!;
    if (row.rowId !== acked.rowId) note(`pk ${pk}: row id ${row.rowId}, acknowledged ${acked.rowId}`);
    if (!(row.ts > acked.tsAfter && row.ts <= acked.tsAtMost)) note(`pk ${pk}: ts ${row.ts} outside (${acked.tsAfter}, ${acked.tsAtMost}]`);
    if (!row.vec.equals(Buffer.from(vectorOf(pk).buffer))) note(`pk ${pk}: vector bytes differ`);
  }
  for (const [pk, rows] of found.rows) {
    if (ledger.rows.has(pk)) continue;
    if (!ledger.unacked.has(pk)) note(`pk ${pk}: in the binlogs but never sent`);
    else if (rows.length > 1) note(`pk ${pk} (unacknowledged insert): found ${rows.length} times`);
  }
  for (const [pk, acked] of ledger.deletes) {
    const ts = found.deletes.get(pk) ?? [];
    if (ts.length !== 1) note(`delete of pk ${pk}: found ${ts.length} times in delta logs`);
    else if (!(ts[0]! > acked.tsAfter && ts[0]! <= acked.tsAtMost)) note(`delete of pk ${pk}: ts ${ts[0]} outside (${acked.tsAfter}, ${acked.tsAtMost}]`);
  }
  for (const pk of found.deletes.keys()) if (!ledger.deletes.has(pk)) note(`delete of pk ${pk}: in the delta logs but never sent`);
  expect(problems, problems.join('\n')).toEqual([]);
}

/** The primary keys of rows `first .. first+count-1`: distinct, spread over the key space so both shards get rows. */
export function pkRange(first: number, count: number): bigint[] {
  return Array.from({ length: count }, (_, i) => BigInt(first + i) * 7919n + 11n);
}
