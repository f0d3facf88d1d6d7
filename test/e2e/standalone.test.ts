/**
 * End to end, standalone: `tidal standalone --data-dir DIR` (master and DataNode in one process
 * on the embedded KV, the embedded log and the local object store), and a proxy (TidalClient) in
 * this process producing into the same embedded log directory. Rows go in several batches over 2
 * shards, then a delete; after Flush the binlogs ShowSegments lists are read back from
 * DIR/storage and hold exactly the inserted rows and the deletes. A second standalone on the same
 * directory is refused with a one-line error; SIGTERM stops the process cleanly.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MsgStream } from '../../src/mq/msg-stream.js';
import { TidalClient } from '../../src/proxy/index.js';
import type { MasterClient } from '../../src/proxy/master-client.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { collectionRequest, expectExactly, Ledger, pkRange, readBinlogs } from './helpers/rows.js';
import { masterClient, openClientStores, spawnStandalone, STANDALONE_TEST_ENV } from './helpers/standalone.js';
import { killAllTidalProcesses, TidalProcess, type TidalProcess as Proc } from './helpers/tidal-process.js';

let dir: string;
let standalone: Proc & { address: string };
let master: MasterClient;
let stream: MsgStream;
let store: ObjectStore;
let client: TidalClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidal-e2e-standalone-'));
  standalone = await spawnStandalone(dir);
  master = masterClient(standalone.address);
  ({ stream, store } = openClientStores(dir));
  client = await TidalClient.connect({ master: standalone.address, stream });
});

afterAll(async () => {
  await client?.close();
  master?.close();
  await stream?.close();
  await store?.close();
  await killAllTidalProcesses();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('e2e: standalone (one process, embedded KV and log, local object store)', () => {
  it('e2e-standalone - 24,000 rows in 12 batches over 2 shards and a delete, flushed: the local binlogs hold exactly those rows and deletes', { timeout: 180_000 }, async () => {
    expect(standalone.match![2]).toBe(dir);
    const created = await master.call('createCollection', collectionRequest('e2e_standalone', 2));
    const { schema } = await master.call('describeCollection', { collectionName: 'e2e_standalone' });
    const ledger = new Ledger('e2e_standalone');
    const BATCHES = 12;
    const BATCH_ROWS = 2_000;
    for (let b = 0; b < BATCHES; b++) await ledger.insert(client, pkRange(b * BATCH_ROWS, BATCH_ROWS));
    await ledger.delete(client, [...pkRange(10, 50), ...pkRange(BATCH_ROWS * 7 + 1, 50)]);

    await master.call('flush', { collectionId: created.collectionId });
    const found = await readBinlogs(master, store, created.collectionId, schema!);
    expect(found.segments).toBeGreaterThanOrEqual(2);
    expect(found.insertLogs).toBeGreaterThan(2);
    expect(found.deltaLogs).toBeGreaterThanOrEqual(1);
    expectExactly(found, ledger);
    expect(ledger.rows.size).toBe(BATCHES * BATCH_ROWS);
    for (const sub of ['kv', 'mq', 'storage/insert_log']) expect(existsSync(join(dir, sub)), `${dir}/${sub}`).toBe(true);
  });

  it('standalone - a second standalone on the same data directory exits 1 with a one-line error', { timeout: 120_000 }, async () => {
    const second = await TidalProcess.runToExit(['standalone', '--data-dir', dir, '-p', '0'], { ...STANDALONE_TEST_ENV }, 30_000);
    expect(second.code).toBe(1);
    const lines = second.stderr.trim().split('\n');
    expect(lines, second.output.slice(-2000)).toHaveLength(1);
    expect(lines[0]).toMatch(/^tidal: /);
    expect(lines[0]).toContain(dir);
    expect(second.output).not.toContain('tidal standalone listening');
    expect(standalone.alive).toBe(true);
  });

  it('standalone - rejects a bad --port with a one-line error and exit code 1', async () => {
    const bad = await TidalProcess.runToExit(['standalone', '--data-dir', join(dir, 'unused'), '-p', 'eighty'], {});
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('tidal: --port must be an integer from 0 to 65535 (0: any free port), got "eighty"\n');
    expect(existsSync(join(dir, 'unused'))).toBe(false);
  });

  it('standalone - SIGTERM closes DataNode, master and stores, and the process exits 0', { timeout: 120_000 }, async () => {
    expect(await standalone.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    // No error or fatal log line on the way down (a shutdown step that failed or timed out logs one).
    expect(standalone.log).not.toMatch(/"level":(50|60)/);
  });
});
