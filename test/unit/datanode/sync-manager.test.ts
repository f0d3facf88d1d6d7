// SyncManager on its own (a real LocalObjectStore, a recording master): a segment's syncs write
// their objects at once but are recorded in order; a failed predecessor fails its successors
// without recording them; the concurrency bound holds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeInsertBatch } from '../../../src/common/arrow/index.js';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { StreamMsg } from '../../../src/gen/msg.js';
import type { Position } from '../../../src/mq/index.js';
import { DataPathMetrics } from '../../../src/datanode/pipeline/metrics.js';
import { SyncManager, type SyncHooks, type SyncMaster } from '../../../src/datanode/syncmgr/sync-manager.js';
import type { SegmentBase, SyncPayload } from '../../../src/datanode/syncmgr/sync-task.js';
import { readInsertLog } from '../../../src/storage/binlog/index.js';
import { LocalObjectStore } from '../../../src/storage/local/local-object-store.js';
import type { ObjectBody } from '../../../src/storage/object-store.js';
import { insertPayload, testSchema } from './helpers.js';

const schema = testSchema();
const pos = (msgId: bigint): Position => ({ channel: 'sm-dml_0', msgId, timestamp: msgId * 10n });

/** A sync of `pks` at message `msgId` of segment 3. */
function payload(msgId: bigint, pks: bigint[]): SyncPayload {
  const msg = StreamMsg.decode(insertPayload({ schema, collectionId: 1n, partitionId: 2n, segmentId: 3n, vchannel: 'sm-dml_0_1v0', pks, ts: 5n }).payload);
  if (msg.body?.$case !== 'insert') throw new Error('not an insert');
  const chunk = {
    batch: decodeInsertBatch(msg.body.value.arrowBatch, schema, pks.length),
    timestamps: BigUint64Array.from(pks.map(() => 5n)),
    rowIds: BigInt64Array.from(pks),
    position: pos(msgId),
    bytes: 100,
  };
  return {
    vchannel: 'sm-dml_0_1v0',
    collectionId: 1n,
    partitionId: 2n,
    segmentId: 3n,
    schema,
    inserts: [chunk],
    deletes: [],
    rows: pks.length,
    bytes: 100,
    start: pos(msgId),
    end: pos(msgId),
    flushed: false,
    dropped: false,
  };
}

/** A gate a put can wait at. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** LocalObjectStore whose puts can be held per key substring, and which counts puts in flight. */
class GatedStore extends LocalObjectStore {
  readonly holds = new Map<string, Promise<void>>();
  readonly written: string[] = [];
  inFlight = 0;
  maxInFlight = 0;

  override async put(key: string, body: ObjectBody): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (const [part, hold] of this.holds) if (key.includes(part)) await hold;
      await super.put(key, body);
      this.written.push(key);
    } finally {
      this.inFlight--;
    }
  }
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('sync manager', () => {
  let dir: string;
  let store: GatedStore;
  let saves: { msgId: bigint | undefined; numRows: bigint | undefined }[];
  let base: SegmentBase;
  let hooks: SyncHooks;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tidal-sm-'));
    store = new GatedStore({ rootDir: dir });
    saves = [];
    base = { flushedRows: 0n, startPosition: undefined, startSaved: false };
    hooks = {
      segment: () => ({ ...base }),
      channelCheckpoint: () => undefined,
      onSaved: (r) => {
        base.flushedRows = r.numRows;
      },
    };
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const recordingMaster = (fail?: (msgId: bigint | undefined) => unknown): SyncMaster => ({
    saveBinlogPaths: async (req) => {
      const cp = req.checkpoints?.[0];
      const msgId = cp?.position?.msgId === undefined ? undefined : BigInt(cp.position.msgId);
      const err = fail?.(msgId);
      if (err !== undefined) throw err;
      saves.push({ msgId, numRows: cp?.numRows === undefined ? undefined : BigInt(cp.numRows) });
    },
  });

  it('sync-manager - a segment\'s later sync writes its objects while an earlier one is held, and is recorded after it', async () => {
    const syncs = new SyncManager({ store, master: recordingMaster(), metrics: new DataPathMetrics() });
    const held = gate();
    store.holds.set('/10.', held.wait);
    const first = syncs.submit({ payload: payload(10n, [1n, 2n]), hooks });
    const second = syncs.submit({ payload: payload(20n, [3n]), hooks });
    let secondDone = false;
    void second.then(() => (secondDone = true));
    for (let i = 0; i < 50 && !store.written.some((k) => k.includes('insert_log') && k.endsWith('/20.arrow')); i++) await tick();
    // The second sync's objects are in the store while the first's insert log is still held...
    expect(store.written.filter((k) => k.includes('insert_log')).map((k) => k.split('/').pop())).toEqual(['20.arrow']);
    // ...but it is not recorded before the first.
    expect(saves).toEqual([]);
    expect(secondDone).toBe(false);
    held.open();
    const [a, b] = await Promise.all([first, second]);
    expect(saves).toEqual([
      { msgId: 10n, numRows: 2n },
      { msgId: 20n, numRows: 3n },
    ]);
    expect([a.numRows, b.numRows]).toEqual([2n, 3n]);
    // The insert log written from pieces reads back whole.
    const key = store.written.find((k) => k.includes('insert_log') && k.endsWith('/20.arrow'))!;
    expect(readInsertLog(await store.get(key), schema).table.numRows).toBe(1);
    await syncs.close();
  });

  it('sync-manager - when a sync fails for good, the segment\'s later syncs fail with its error and are not recorded', async () => {
    const refused = new TidalError(ErrorCode.FailedPrecondition, 'not the owner');
    const syncs = new SyncManager({ store, master: recordingMaster((msgId) => (msgId === 10n ? refused : undefined)), metrics: new DataPathMetrics() });
    const held = gate();
    store.holds.set('/20.', held.wait);
    const owner = {};
    const first = syncs.submit({ payload: payload(10n, [1n]), hooks, owner });
    const second = syncs.submit({ payload: payload(20n, [2n]), hooks, owner });
    await expect(first).rejects.toBe(refused);
    held.open();
    await expect(second).rejects.toBe(refused);
    expect(saves).toEqual([]);
    // A new owner of the segment starts clean.
    await expect(syncs.submit({ payload: payload(30n, [3n]), hooks, owner: {} })).resolves.toMatchObject({ numRows: 1n });
    expect(saves).toEqual([{ msgId: 30n, numRows: 1n }]);
    await syncs.close();
  });

  it('sync-manager - at most `concurrency` syncs write at once', async () => {
    const syncs = new SyncManager({ store, master: recordingMaster(), metrics: new DataPathMetrics(), concurrency: 1 });
    // One sync = insert log + stats log, written in parallel: 2 puts at once at most.
    await Promise.all([10n, 20n, 30n, 40n].map((m) => syncs.submit({ payload: payload(m, [m]), hooks })));
    expect(store.maxInFlight).toBe(2);
    expect(saves.map((s) => s.msgId)).toEqual([10n, 20n, 30n, 40n]);
    await syncs.close();
  });
});
