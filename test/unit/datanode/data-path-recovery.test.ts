// The data path when things go wrong, on the embedded backends (see cluster.ts): a sync refused for
// good, a sync written to the store but never recorded, a dropped collection.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import type { DataPathMaster } from '../../../src/datanode/data-path.js';
import type { SegmentInfo } from '../../../src/gen/segment.js';
import { Cluster } from './cluster.js';
import { testSchema, waitFor } from './helpers.js';

let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function range(from: number, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => BigInt(from + i));
}

/** The pks of every referenced insert log, sorted; throws on a duplicate. */
async function referencedPks(c: Cluster, segments: SegmentInfo[]): Promise<bigint[]> {
  const all: bigint[] = [];
  for (const s of segments) for (const log of s.insertLogs) all.push(...((await c.readArrow(log.logPath)).getChild('pk')!.toArray() as BigInt64Array));
  const sorted = all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new Error(`pk ${sorted[i]} appears twice in the referenced binlogs`);
  return sorted;
}

/** A master link whose SaveBinlogPaths with binlogs behaves as `save` says (call number from 1). */
function interceptSaves(save: (n: number, signal: AbortSignal | undefined) => Promise<void> | undefined): (m: DataPathMaster) => DataPathMaster {
  let n = 0;
  return (m) => ({
    call: m.call.bind(m),
    reportTimeTick: m.reportTimeTick.bind(m),
    getRecoveryInfo: m.getRecoveryInfo.bind(m),
    saveBinlogPaths: (req, options) => {
      if ((req.insertLogs?.length ?? 0) > 0) {
        const injected = save(++n, options?.signal);
        if (injected !== undefined) return injected;
      }
      return m.saveBinlogPaths(req, options);
    },
  });
}

describe('data-path recovery', () => {
  it('data-path - a sync refused for good fails the flowgraph, reaches the owner, and the vchannel is watched again without losing rows', async () => {
    cluster = await Cluster.start({ config: { datanode: { flush: { bufferSizeBytes: 8 * 1024 } } } });
    const c = cluster;
    const node = await c.startNode(
      {},
      interceptSaves((n) => (n === 1 ? Promise.reject(new TidalError(ErrorCode.InvalidArgument, 'injected: refused for good')) : undefined)),
    );
    const failures: { vchannel: string; rewatch: boolean; err: unknown }[] = [];
    node.dataPath.on('channelFailed', (vchannel, err, rewatch) => failures.push({ vchannel, err, rewatch }));
    const restarted: string[] = [];
    node.dataPath.on('channelRestarted', (v) => restarted.push(v));
    const schema = testSchema('dp_fail');
    const { collectionId, vchannels } = await c.createCollection(schema, 1);
    const inserted: bigint[] = [];
    for (let m = 0; m < 6; m++) {
      const pks = range(m * 50 + 1, 50);
      await c.insert(schema, collectionId, vchannels[0]!, pks);
      inserted.push(...pks);
    }
    await waitFor('the vchannel failed and was watched again', () => failures.length === 1 && restarted.length === 1, 20_000);
    expect(failures[0]!.vchannel).toBe(vchannels[0]);
    expect(failures[0]!.rewatch).toBe(true);
    expect(String((failures[0]!.err as Error).message)).toMatch(/injected: refused for good/);
    expect(node.dataPath.metrics().counters.syncsFailed).toBe(1);
    await c.flush(collectionId);
    expect(await referencedPks(c, await c.segments(collectionId))).toEqual(inserted);
  });

  it('data-path - objects written but never recorded are overwritten by the replay under the same log id', async () => {
    cluster = await Cluster.start({ config: { datanode: { flush: { bufferSizeBytes: 8 * 1024 } } } });
    const c = cluster;
    // The first node records its first sync, then its SaveBinlogPaths hang (as if it died after the upload).
    const hang = (n: number, signal: AbortSignal | undefined): Promise<void> | undefined =>
      n === 1 ? undefined : new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    const first = await c.startNode({ closeTimeoutMs: 200 }, interceptSaves(hang));
    const schema = testSchema('dp_orphan');
    const { collectionId, vchannels } = await c.createCollection(schema, 1);
    const inserted: bigint[] = [];
    for (let m = 0; m < 8; m++) {
      const pks = range(m * 50 + 1, 50);
      await c.insert(schema, collectionId, vchannels[0]!, pks);
      inserted.push(...pks);
    }
    const listInsertLogs = async () => {
      const keys: string[] = [];
      for await (const o of c.store.listAll('insert_log/')) keys.push(o.key);
      return keys;
    };
    await waitFor('a second sync uploaded but not recorded', async () => first.dataPath.metrics().counters.syncsCompleted === 1 && (await listInsertLogs()).length >= 2);
    const recorded = new Set((await c.segments(collectionId)).flatMap((s) => s.insertLogs.map((b) => b.logPath)));
    const orphans = (await listInsertLogs()).filter((k) => !recorded.has(k));
    expect(orphans.length).toBeGreaterThan(0);

    const second = await c.startNode();
    await first.server.close();
    await waitFor('second node watches the vchannel', () => second.dataPath.status().length === 1, 20_000);
    await c.flush(collectionId);
    const segments = await c.segments(collectionId);
    expect(await referencedPks(c, segments)).toEqual(inserted);
    // The replay started its range at the same message: the orphan object was overwritten and is now referenced.
    const referenced = new Set(segments.flatMap((s) => s.insertLogs.map((b) => b.logPath)));
    expect(orphans.filter((k) => referenced.has(k))).toEqual([orphans[0]]);
  });

  it('data-path - a dropped collection is synced as dropped and released without failing the node', async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const node = await c.startNode();
    const schema = testSchema('dp_drop');
    const { collectionId, vchannels } = await c.createCollection(schema, 2);
    for (let m = 0; m < 4; m++) await c.insert(schema, collectionId, vchannels[m % 2]!, range(m * 10 + 1, 10));
    await waitFor('rows buffered', () => node.dataPath.metrics().counters.insertRows === 40);
    await c.client.call('dropCollection', { collectionName: schema.name });
    await waitFor('vchannels released', () => node.dataPath.status().length === 0, 20_000);
    const m = node.dataPath.metrics();
    expect(m.counters.flowgraphFailures).toBe(0);
    expect(m.memoryUsedBytes).toBe(0);
    expect(m.pchannels).toEqual([]);
  });
});
