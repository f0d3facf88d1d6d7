/**
 * The work of `tidal insert`: connect (master, message log, proxy client), check the collection,
 * then keep `inflight` insert calls of `batch` generated rows running until `rows` are acknowledged
 * by the log. The first failure stops new calls; the calls in flight finish, and the failure is
 * the command's error (the rows acknowledged before it stay inserted, and the summary says how
 * many on stderr).
 */
import { silentLogger } from '../common/log.js';
import { createMsgStream } from '../mq/create.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { TidalClient } from '../proxy/tidal-client.js';
import { MasterConnection, resolveMasterAddress } from './master-connection.js';
import { messageLogConfig } from './message-log.js';
import { toJson, writeOut } from './output.js';
import { RowGenerator, type PkMode } from './row-generator.js';

/** What `tidal insert` was asked. */
export interface InsertRun {
  collection: string;
  rows: number;
  dim: number;
  batch: number;
  inflight: number;
  partition?: string;
  pkMode: PkMode;
  pkStart: bigint;
  master?: string;
  config?: string;
  output: 'table' | 'json';
}

/** The outcome of a run. */
export interface InsertSummary {
  collection: string;
  rows: number;
  bytes: number;
  elapsedMs: number;
  rowsPerSec: number;
  mbPerSec: number;
}

interface Progress {
  update(rows: number): void;
  stop(): void;
}

async function progressBar(total: number): Promise<Progress> {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'inserting [{bar}] {percentage}% | {value}/{total} rows | {speed} rows/s | ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { speed: 0 });
  return {
    update: (rows) => bar.update(rows, { speed: Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000)) }),
    stop: () => bar.stop(),
  };
}

/** Runs the insert and prints the summary. Throws the first error (one line for the CLI). */
export async function runInsert(run: InsertRun): Promise<InsertSummary> {
  const conn = await MasterConnection.connect(await resolveMasterAddress(run));
  let stream: MsgStream | undefined;
  let client: TidalClient | undefined;
  try {
    const desc = await conn.client.call('describeCollection', { collectionName: run.collection });
    const gen = new RowGenerator(run.collection, { schema: desc.schema!, dim: run.dim, pkMode: run.pkMode, pkStart: run.pkStart });
    // The master's log: Kafka, or the embedded on-disk log a running `tidal standalone` shares.
    stream = createMsgStream(await messageLogConfig(conn.client, run.config), silentLogger);
    client = await TidalClient.connect({ master: conn.client, stream, address: `tidal-insert-${process.pid}`, logger: silentLogger });
    const progress = await progressBar(run.rows);
    const started = process.hrtime.bigint();
    let submitted = 0;
    let acknowledged = 0;
    let bytes = 0;
    let failure: unknown;
    const inflight = new Set<Promise<void>>();
    const partition = run.partition;
    while (submitted < run.rows && failure === undefined) {
      const n = Math.min(run.batch, run.rows - submitted);
      const b = gen.batch(n);
      submitted += n;
      const p: Promise<void> = client
        .insert(run.collection, partition === undefined ? { columns: b.columns } : { partition, columns: b.columns })
        .then(
          () => {
            acknowledged += n;
            bytes += b.bytes;
            progress.update(acknowledged);
          },
          (err: unknown) => {
            failure ??= err;
          },
        )
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= run.inflight) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    progress.stop();
    if (failure !== undefined) {
      if (acknowledged > 0) process.stderr.write(`tidal: ${acknowledged} of ${run.rows} rows were inserted before the failure\n`);
      throw failure;
    }
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const secs = Math.max(elapsedMs, 1) / 1000;
    const summary: InsertSummary = {
      collection: run.collection,
      rows: acknowledged,
      bytes,
      elapsedMs: Math.round(elapsedMs),
      rowsPerSec: Math.round(acknowledged / secs),
      mbPerSec: Math.round((bytes / 1e6 / secs) * 10) / 10,
    };
    await writeOut(
      run.output === 'json'
        ? toJson(summary)
        : `inserted ${summary.rows} rows into ${JSON.stringify(run.collection)} in ${(elapsedMs / 1000).toFixed(2)} s: ${summary.rowsPerSec} rows/s, ${summary.mbPerSec} MB/s`,
    );
    return summary;
  } finally {
    await client?.close().catch(() => undefined); // the outcome is already decided; closing is tidying up
    await stream?.close().catch(() => undefined); // as above
    conn.close();
  }
}
