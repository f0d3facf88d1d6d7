import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TidalError, errors } from '../../../../src/common/errors.js';
import { CollectionInfo, CollectionState } from '../../../../src/gen/meta.js';
import { VchannelInfo } from '../../../../src/gen/segment.js';
import { MemoryKV } from '../../../../src/kv/embedded/memory-kv.js';
import {
  CHANNEL_WATCH_PREFIX,
  ChannelScheduler,
  channelWatchKey,
  decodeAssignment,
  type ChannelAssignment,
  type DataNodeRpc,
  type DataNodeTarget,
  type FlushOrder,
} from '../../../../src/master/scheduler/index.js';
import { HardBarrier } from '../../../../src/master/timetick/hard-barrier.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface RpcCall {
  kind: 'watch' | 'release' | 'flush';
  nodeId: bigint;
  vchannels: string[];
}

/** Records every call the scheduler makes to DataNodes; calls to nodes in `down` fail with UNAVAILABLE. */
class RecordingRpc implements DataNodeRpc {
  readonly calls: RpcCall[] = [];
  readonly down = new Set<bigint>();
  /** Runs inside watch(), before it answers (to look at the KV at that moment). */
  onWatch: ((node: DataNodeTarget, infos: VchannelInfo[]) => Promise<void>) | undefined;

  async watch(node: DataNodeTarget, infos: VchannelInfo[]): Promise<void> {
    this.calls.push({ kind: 'watch', nodeId: node.nodeId, vchannels: infos.map((i) => i.channelName) });
    if (this.down.has(node.nodeId)) throw errors.unavailable(`node ${node.nodeId} is down`);
    await this.onWatch?.(node, infos);
  }
  async release(node: DataNodeTarget, vchannels: string[]): Promise<void> {
    this.calls.push({ kind: 'release', nodeId: node.nodeId, vchannels });
    if (this.down.has(node.nodeId)) throw errors.unavailable(`node ${node.nodeId} is down`);
  }
  async flush(node: DataNodeTarget, order: FlushOrder): Promise<void> {
    this.calls.push({ kind: 'flush', nodeId: node.nodeId, vchannels: [order.vchannel] });
  }
  forget(): void {}
  close(): void {}

  /** vchannel → node of every watch call, in order. */
  watched(): [string, bigint][] {
    return this.calls.filter((c) => c.kind === 'watch').flatMap((c) => c.vchannels.map((v): [string, bigint] => [v, c.nodeId]));
  }
}

/** The meta table as the scheduler reads it. */
class Collections {
  readonly live = new Map<bigint, CollectionInfo>();
  listCollections(): CollectionInfo[] {
    return [...this.live.values()];
  }
  create(id: bigint, shards: number): string[] {
    const vchannels = Array.from({ length: shards }, (_, i) => `t-dml_${i % 2}_${id}v${i}`);
    this.live.set(id, CollectionInfo.fromPartial({ id, name: `c${id}`, vchannels, state: CollectionState.CollectionCreated }));
    return vchannels;
  }
  drop(id: bigint): void {
    this.live.delete(id);
  }
}

let ts = 1_000n;
const tso = { alloc: async () => ({ first: (ts += 1n) }) };

async function addNode(kv: MemoryKV, id: bigint): Promise<void> {
  await kv.put(`session/datanode/${id}`, JSON.stringify({ serverId: id.toString(), address: `node-${id}:1` }));
}

async function records(kv: MemoryKV): Promise<ChannelAssignment[]> {
  return (await kv.range(CHANNEL_WATCH_PREFIX)).kvs.map((x) => decodeAssignment(x.key, x.value));
}

async function setup(kv: MemoryKV, collections: Collections, rpc = new RecordingRpc()) {
  const barrier = new HardBarrier();
  const scheduler = new ChannelScheduler({
    kv,
    tso,
    collections,
    recovery: async (collectionId, vchannel) => {
      if (!collections.live.has(collectionId)) throw errors.notFound(`collection ${collectionId} not found`);
      return [VchannelInfo.fromPartial({ collectionId, channelName: vchannel, seekPosition: { channelName: vchannel, msgId: 7n } })];
    },
    hardBarrier: barrier,
    rpc,
    resyncIntervalMs: 20,
    retryBaseMs: 10,
  });
  await scheduler.start();
  closers.push(() => scheduler.close());
  return { scheduler, rpc, barrier };
}

function newKv(): MemoryKV {
  const kv = new MemoryKV();
  closers.push(() => kv.close());
  return kv;
}

describe('ChannelScheduler', () => {
  it('channel-scheduler - spreads a 4-shard collection 2/2 over two DataNodes and records each assignment before watching', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const rpc = new RecordingRpc();
    const keysAtWatch: string[][] = [];
    rpc.onWatch = async () => {
      keysAtWatch.push((await kv.range(CHANNEL_WATCH_PREFIX)).kvs.map((x) => x.key));
    };
    const { scheduler, barrier } = await setup(kv, collections, rpc);
    expect(barrier.nodes().sort()).toEqual([1n, 2n]);

    const vchannels = collections.create(42n, 4);
    await scheduler.reconcile();

    const stored = await records(kv);
    expect(stored.map((r) => [r.vchannel, r.nodeId, r.collectionId])).toEqual(
      [
        [vchannels[0], 1n, 42n],
        [vchannels[1], 2n, 42n],
        [vchannels[2], 1n, 42n],
        [vchannels[3], 2n, 42n],
      ].sort((a, b) => (`${a[1]}/${a[0]}` < `${b[1]}/${b[0]}` ? -1 : 1)),
    );
    // Each node was told its two vchannels once, and only after every key was in the KV.
    expect(new Map(rpc.watched())).toEqual(new Map([[vchannels[0], 1n], [vchannels[1], 2n], [vchannels[2], 1n], [vchannels[3], 2n]]));
    expect(rpc.watched()).toHaveLength(4);
    for (const keys of keysAtWatch) expect(keys).toHaveLength(4);
    expect(scheduler.owner(vchannels[1]!)).toMatchObject({ nodeId: 2n, collectionId: 42n });
  });

  it('channel-scheduler - gives the next collection to the node with the fewest vchannels', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const { scheduler } = await setup(kv, collections);
    collections.create(1n, 4);
    await scheduler.reconcile();
    await addNode(kv, 3n);
    await vi.waitFor(() => expect(scheduler.dataNodes()).toHaveLength(3));

    const vchannels = collections.create(2n, 3);
    await scheduler.reconcile();
    // Node 3 had none: it takes two before the others take one more each.
    expect(vchannels.map((v) => scheduler.owner(v)?.nodeId)).toEqual([3n, 3n, 1n]);
    const perNode = new Map<bigint, number>();
    for (const a of scheduler.assignments()) perNode.set(a.nodeId, (perNode.get(a.nodeId) ?? 0) + 1);
    expect(perNode).toEqual(new Map([[1n, 3], [2n, 2], [3n, 2]]));
  });

  it('channel-scheduler - rebuilds from channel/watch/ after a restart and sends every watch again, moving nothing', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const first = await setup(kv, collections);
    const vchannels = collections.create(5n, 4);
    await first.scheduler.reconcile();
    const before = await records(kv);
    await first.scheduler.close();

    const second = await setup(kv, collections);
    await second.scheduler.reconcile();
    expect(await records(kv)).toEqual(before);
    expect(new Map(second.rpc.watched())).toEqual(new Map(before.map((r) => [r.vchannel, r.nodeId])));
    expect(second.rpc.watched()).toHaveLength(vchannels.length);
    expect(second.scheduler.assignments()).toEqual([...before].sort((a, b) => (a.vchannel < b.vchannel ? -1 : 1)));
  });

  it('channel-scheduler - releases a dropped collection: ReleaseDmChannels to each owner, then the keys are deleted', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const { scheduler, rpc } = await setup(kv, collections);
    const kept = collections.create(1n, 2);
    const dropped = collections.create(2n, 2);
    await scheduler.reconcile();
    collections.drop(2n);
    await scheduler.reconcile();

    const releases = rpc.calls.filter((c) => c.kind === 'release');
    expect(releases.flatMap((c) => c.vchannels).sort()).toEqual([...dropped].sort());
    for (const c of releases) for (const v of c.vchannels) expect(c.nodeId).toBe(rpc.watched().find(([w]) => w === v)?.[1]);
    expect((await records(kv)).map((r) => r.vchannel).sort()).toEqual([...kept].sort());
    expect(scheduler.owner(dropped[0]!)).toBeUndefined();
  });

  it('channel-scheduler - keeps a release that failed and retries it until the node answers', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    const collections = new Collections();
    const { scheduler, rpc } = await setup(kv, collections);
    const vchannels = collections.create(3n, 1);
    await scheduler.reconcile();
    rpc.down.add(1n);
    collections.drop(3n);
    await scheduler.reconcile();
    expect((await records(kv)).map((r) => r.vchannel)).toEqual(vchannels);
    rpc.down.delete(1n);
    await vi.waitFor(async () => expect(await records(kv)).toEqual([]));
  });

  it('channel-scheduler - retries a WatchDmChannels that failed', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    const collections = new Collections();
    const rpc = new RecordingRpc();
    rpc.down.add(1n);
    const { scheduler } = await setup(kv, collections, rpc);
    const watched: string[] = [];
    scheduler.on('watched', (a) => watched.push(a.vchannel));
    const [v] = collections.create(4n, 1);
    await scheduler.reconcile();
    expect(watched).toEqual([]);
    expect((await records(kv)).map((r) => r.vchannel)).toEqual([v]); // recorded all the same
    rpc.down.delete(1n);
    await vi.waitFor(() => expect(watched).toEqual([v]));
    expect(rpc.calls.filter((c) => c.kind === 'watch').length).toBeGreaterThanOrEqual(2);
  });

  it('channel-scheduler - moves the vchannels of a DataNode whose session ended to the live ones', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const { scheduler, rpc, barrier } = await setup(kv, collections);
    const vchannels = collections.create(6n, 4);
    await scheduler.reconcile();
    const moved: [string, bigint | undefined][] = [];
    scheduler.on('assigned', (a, from) => moved.push([a.vchannel, from]));

    await kv.delete('session/datanode/1');
    await vi.waitFor(() => expect(scheduler.assignments().every((a) => a.nodeId === 2n)).toBe(true));
    await scheduler.reconcile();
    expect(barrier.nodes()).toEqual([2n]);
    expect(moved.map(([, from]) => from)).toEqual([1n, 1n]);
    expect((await records(kv)).map((r) => [r.vchannel, r.nodeId]).sort()).toEqual(vchannels.map((v) => [v, 2n]).sort());
    // The new owner was told about the moved vchannels.
    expect(rpc.watched().filter(([, n]) => n === 2n).map(([v]) => v).sort()).toEqual([...vchannels].sort());
  });

  it('channel-scheduler - with no live DataNode, vchannels wait and are assigned when one registers', async () => {
    const kv = newKv();
    const collections = new Collections();
    const { scheduler } = await setup(kv, collections);
    const vchannels = collections.create(8n, 2);
    await scheduler.reconcile();
    expect(await records(kv)).toEqual([]);
    await addNode(kv, 5n);
    await vi.waitFor(async () => expect((await records(kv)).map((r) => r.nodeId)).toEqual([5n, 5n]));
    expect(vchannels.map((v) => scheduler.owner(v)?.nodeId)).toEqual([5n, 5n]);
  });

  it('channel-scheduler - only the owner passes the ownership check, and its compare fails once the vchannel moved', async () => {
    const kv = newKv();
    await addNode(kv, 1n);
    await addNode(kv, 2n);
    const collections = new Collections();
    const { scheduler } = await setup(kv, collections);
    const [v0] = collections.create(9n, 2);
    await scheduler.reconcile();
    const owner = scheduler.owner(v0!)!.nodeId;
    const other = owner === 1n ? 2n : 1n;

    const compares = scheduler.ownershipCompares(v0!, owner);
    expect((await kv.txn({ compare: compares, success: [] })).succeeded).toBe(true);

    let err: unknown;
    try {
      scheduler.ownershipCompares(v0!, other);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.FailedPrecondition);
    expect((err as TidalError).message).toBe(`vchannel ${JSON.stringify(v0)} is owned by DataNode ${owner}; DataNode ${other} may not write to it`);
    expect(() => scheduler.ownershipCompares('t-dml_0_77v0', owner)).toThrow(/is not assigned to any DataNode/);

    // The owner leaves; the vchannel moves; the old owner's compare no longer holds.
    await kv.delete(`session/datanode/${owner}`);
    await vi.waitFor(() => expect(scheduler.owner(v0!)?.nodeId).toBe(other));
    expect((await kv.txn({ compare: compares, success: [] })).succeeded).toBe(false);
    expect(await kv.get(channelWatchKey(owner, v0!))).toBeUndefined();
  });

  it('channel-scheduler - refuses to start on an unreadable assignment, naming its key', async () => {
    const kv = newKv();
    await kv.put('channel/watch/1/t-dml_0_1v0', 'not json');
    const scheduler = new ChannelScheduler({ kv, tso, collections: new Collections(), recovery: async () => [], rpc: new RecordingRpc() });
    closers.push(() => scheduler.close());
    await expect(scheduler.start()).rejects.toMatchObject({ code: ErrorCode.Corrupted, message: 'channel assignment channel/watch/1/t-dml_0_1v0 is unreadable: the value is not JSON' });
  });
});
