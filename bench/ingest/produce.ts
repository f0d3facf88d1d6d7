/**
 * The benchmark's data, produced ahead of time through the proxy itself: a collection
 * `{pk Int64 primary key, vec FloatVector[dim]}` created on the master, and `rows` rows inserted
 * with TidalClient over a KafkaMsgStream. So the records on the DML topics are exactly what a
 * proxy sends (Arrow IPC Insert messages split by encoded size under the broker's limit, per-row
 * timestamps and row ids, shard by pk hash), and the master has the segments and their
 * allocations, as it would after a real load.
 */
import { DataType, type CollectionSchema } from '../../src/gen/schema.js';
import { KafkaMsgStream } from '../../src/mq/kafka/kafka-msg-stream.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { TidalClient } from '../../src/proxy/tidal-client.js';

/** What was produced. */
export interface Produced {
  collectionId: bigint;
  collectionName: string;
  schema: CollectionSchema;
  vchannels: string[];
  pchannels: string[];
  rows: number;
  /** Insert records written (all pchannels). */
  insertMessages: number;
  /** Per pchannel: offset of its last Insert record. */
  lastInsertOffset: Map<string, bigint>;
  /** Largest timestamp of any row. */
  lastRowTs: bigint;
  /** Wall time of the load, ms (not a measured figure: the proxy's produce rate is not compared). */
  elapsedMs: number;
}

/** Options of {@link produceRows}. */
export interface ProduceOptions {
  master: string;
  brokers: string[];
  collectionName: string;
  rows: number;
  dim: number;
  shards: number;
  /** Rows per insert call. */
  batchRows: number;
  /** Insert calls in flight at once. */
  concurrency: number;
  /** Called after each insert call with the rows done so far. */
  onProgress?: (rowsDone: number) => void;
}

/** Deterministic vector values of rows [first, first + n): cheap to make, distinct per row. */
function vectors(first: number, n: number, dim: number): Float32Array {
  const v = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    const base = ((first + r) % 100_003) * 0.25;
    for (let j = 0; j < dim; j++) v[r * dim + j] = base + j / 64;
  }
  return v;
}

/**
 * Creates the collection and inserts `rows` rows (pk 0..rows-1) through a TidalClient. Throws the
 * master's or the log's TidalError (e.g. ALREADY_EXISTS for the collection name).
 */
export async function produceRows(options: ProduceOptions): Promise<Produced> {
  const admin = new MasterClient(options.master, { deadlineMs: 60_000 });
  const stream = new KafkaMsgStream({ brokers: options.brokers, clientId: 'tidal-bench-ingest-proxy' });
  let client: TidalClient | undefined;
  try {
    await admin.call('createCollection', {
      collectionName: options.collectionName,
      shardsNum: options.shards,
      schema: {
        name: options.collectionName,
        fields: [
          { name: 'pk', dataType: DataType.Int64, isPrimaryKey: true },
          { name: 'vec', dataType: DataType.FloatVector, dim: options.dim },
        ],
      },
    });
    const desc = await admin.call('describeCollection', { collectionName: options.collectionName });
    client = await TidalClient.connect({ master: admin, stream, address: 'bench-ingest' });
    const lastInsertOffset = new Map<string, bigint>();
    let insertMessages = 0;
    let lastRowTs = 0n;
    let next = 0;
    let done = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < options.rows) {
        const first = next;
        const n = Math.min(options.batchRows, options.rows - first);
        next += n;
        const pk = new BigInt64Array(n);
        for (let i = 0; i < n; i++) pk[i] = BigInt(first + i);
        const res = await client!.insert(options.collectionName, { columns: { pk, vec: vectors(first, n, options.dim) } });
        insertMessages += res.positions.length;
        for (const p of res.positions) if ((lastInsertOffset.get(p.channel) ?? -1n) < p.msgId) lastInsertOffset.set(p.channel, p.msgId);
        if (res.timestamp > lastRowTs) lastRowTs = res.timestamp;
        done += n;
        options.onProgress?.(done);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    return {
      collectionId: desc.collectionId,
      collectionName: options.collectionName,
      schema: desc.schema!,
      vchannels: desc.vchannels,
      pchannels: desc.pchannels,
      rows: options.rows,
      insertMessages,
      lastInsertOffset,
      lastRowTs,
      elapsedMs: performance.now() - started,
    };
  } finally {
    // The proxy deregisters, so the master's ticks no longer wait for it.
    await client?.close();
    await stream.close();
    admin.close();
  }
}
