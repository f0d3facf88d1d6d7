/**
 * End to end, standalone restart: a proxy inserts batches into `tidal standalone` and keeps every
 * acknowledged row; the standalone process is SIGKILLed while the proxy is inserting (after some
 * rows are in binlogs, while others are only buffered), started again
 * on the same data directory, more rows go in, then Flush. Every acknowledged row is in the
 * binlogs the (recovered) meta references exactly once; a row of the insert that was in flight at
 * the kill is there at most once; nothing else is.
 *
 * This needs the embedded KV and log to persist on disk and to be shared with this process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MsgStream } from '../../src/mq/msg-stream.js';
import { TidalClient } from '../../src/proxy/index.js';
import type { MasterClient } from '../../src/proxy/master-client.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { collectionRequest, expectExactly, Ledger, pkRange, readBinlogs } from './helpers/rows.js';
import { masterClient, openClientStores, spawnStandalone } from './helpers/standalone.js';
import { killAllTidalProcesses } from './helpers/tidal-process.js';

const BATCH_ROWS = 1_000;
/** Batches acknowledged before the kill is sent. */
const BATCHES_BEFORE_KILL = 8;
const BATCHES_AFTER_RESTART = 5;

let dir: string | undefined;
const clients: TidalClient[] = [];
const masters: MasterClient[] = [];
let stream: MsgStream | undefined;
let store: ObjectStore | undefined;

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined); // a client of a killed master may fail to close cleanly
  for (const m of masters) m.close();
  await stream?.close();
  await store?.close();
  await killAllTidalProcesses();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('e2e: standalone killed with SIGKILL mid-ingestion', () => {
  it('standalone-restart - after SIGKILL and a restart on the same directory, every acknowledged row is in the binlogs exactly once', { timeout: 240_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidal-e2e-restart-'));
    ({ stream, store } = openClientStores(dir));

    const first = await spawnStandalone(dir);
    const master1 = masterClient(first.address);
    masters.push(master1);
    const client1 = await TidalClient.connect({ master: first.address, stream, masterDeadlineMs: 5_000, closeTimeoutMs: 5_000 });
    clients.push(client1);
    await master1.call('createCollection', collectionRequest('e2e_restart', 2));
    const ledger = new Ledger('e2e_restart');

    // The proxy inserts batch after batch; the process is killed while it does.
    let next = 0;
    let killed = false;
    const failures: unknown[] = [];
    const ingest = (async () => {
      while (!killed) {
        const b = next++;
        try {
          await ledger.insert(client1, pkRange(b * BATCH_ROWS, BATCH_ROWS));
        } catch (err) {
          failures.push(err);
          if (!killed) throw err;
        }
      }
    })();
    // Kill once enough is acknowledged AND some of it is already in binlogs the meta references:
    // recovery must then both skip what was flushed and replay what was only buffered.
    const { collectionId } = await master1.call('describeCollection', { collectionName: 'e2e_restart' });
    const someFlushed = async () => (await master1.call('showSegments', { collectionId, includeBinlogs: true })).segments.some((s) => s.insertLogs.length > 0);
    const deadline = Date.now() + 60_000;
    while (ledger.rows.size < BATCHES_BEFORE_KILL * BATCH_ROWS || !(await someFlushed())) {
      expect(first.alive, first.log.slice(-2000)).toBe(true);
      expect(Date.now(), 'no binlog in meta within 60 s of ingestion').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 5));
    }
    killed = true;
    await first.kill();
    expect(first.exit?.signal).toBe('SIGKILL');
    await ingest;
    const ackedBeforeKill = ledger.rows.size;
    await client1.close().catch(() => undefined); // its master is gone; what matters is what was acknowledged

    const second = await spawnStandalone(dir);
    const master2 = masterClient(second.address);
    masters.push(master2);
    const client2 = await TidalClient.connect({ master: second.address, stream });
    clients.push(client2);
    for (let i = 0; i < BATCHES_AFTER_RESTART; i++) await ledger.insert(client2, pkRange(next++ * BATCH_ROWS, BATCH_ROWS));

    const desc = await master2.call('describeCollection', { collectionName: 'e2e_restart' });
    await master2.call('flush', { collectionId: desc.collectionId });
    const found = await readBinlogs(master2, store!, desc.collectionId, desc.schema!);
    expect(ackedBeforeKill).toBeGreaterThanOrEqual(BATCHES_BEFORE_KILL * BATCH_ROWS);
    expect(ledger.rows.size).toBe(ackedBeforeKill + BATCHES_AFTER_RESTART * BATCH_ROWS);
    expectExactly(found, ledger);
  });
});
