/**
 * The segment manager on real etcd: assignment respects capacity and expiry (TSO time), Flush
 * seals, every state is persisted under `meta/segment/{coll}/{seg}` and a restarted manager
 * rebuilds from it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { addMs } from '../../src/common/hybrid-ts.js';
import { DataType, type CollectionSchema } from '../../src/gen/schema.js';
import { SegmentInfo, SegmentState } from '../../src/gen/segment.js';
import { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { IdAllocator } from '../../src/master/idalloc/id-allocator.js';
import { SegmentManager, type CollectionInfo, type SegmentManagerConfig } from '../../src/master/segment/index.js';
import { TimestampOracle } from '../../src/master/tso/timestamp-oracle.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Int64 pk + VarChar(100) + FloatVector(dim 16): 8 + 100 + 64 + 16 = 188 bytes per row. */
const schema: CollectionSchema = {
  name: 'it_segments',
  description: '',
  autoId: false,
  version: 0,
  fields: [
    { fieldId: 100n, name: 'pk', isPrimaryKey: true, description: '', dataType: DataType.Int64, dim: 0, maxLength: 0, autoId: false, nullable: false },
    { fieldId: 101n, name: 'title', isPrimaryKey: false, description: '', dataType: DataType.VarChar, dim: 0, maxLength: 100, autoId: false, nullable: false },
    { fieldId: 102n, name: 'vec', isPrimaryKey: false, description: '', dataType: DataType.FloatVector, dim: 16, maxLength: 0, autoId: false, nullable: false },
  ],
};
const ROW_BYTES = 188;
const CAPACITY = 1_000;
const CONFIG: SegmentManagerConfig = {
  maxSizeBytes: CAPACITY * ROW_BYTES,
  allocationExpireMs: 2_000,
  maxLifetimeMs: 86_400_000,
  maxIdleMs: 600_000,
  minSizeToSealIdleBytes: 16 * 1024 * 1024,
};
const COLL = 7n;
const PART = 70n;
const VCH = 'it-dml_0_7v0';
const collections = {
  collection: (id: bigint): CollectionInfo | undefined => (id === COLL ? { id, schema, vchannels: [VCH, 'it-dml_1_7v1'], partitionIds: [PART] } : undefined),
};

/** A master's worth of segment state on etcd under `rootPath`: KV client, TSO, IDs, manager. */
async function master(rootPath: string) {
  const kv = new EtcdKV({ endpoints: (await endpoints()).etcd, rootPath });
  const tso = new TimestampOracle({ kv, key: 'tso/timestamp' });
  const ids = new IdAllocator({ kv, key: 'gid/idTimestamp' });
  await tso.start();
  await ids.start();
  const manager = new SegmentManager({ kv, tso, ids, collections, config: CONFIG });
  await manager.start();
  const close = async () => {
    await manager.close();
    await ids.close();
    await tso.close();
    await kv.close();
  };
  closers.push(close);
  return { kv, tso, manager, close };
}

const req = (count: number, vchannel = VCH) => ({ collectionId: COLL, partitionId: PART, vchannel, count });

describe('segment manager on etcd', () => {
  it('master-segment - assignment respects capacity and expiry', async () => {
    const { tso, manager } = await master(uniqueName('it-segment'));
    const before = (await tso.alloc(1)).first;
    const [a] = await manager.assign([req(600)]);
    const after = (await tso.alloc(1)).first;
    expect(a!.count).toBe(600);
    expect(a!.expireTs).toBeGreaterThan(addMs(before, CONFIG.allocationExpireMs));
    expect(a!.expireTs).toBeLessThan(addMs(after, CONFIG.allocationExpireMs));
    expect(manager.describe(a!.segmentId).maxRowNum).toBe(BigInt(CAPACITY));

    // 400 rows left: 700 more fill it and spill 300 into a new segment.
    const split = await manager.assign([req(700)]);
    expect(split.map((x) => [x.segmentId === a!.segmentId, x.count])).toEqual([
      [true, 400],
      [false, 300],
    ]);
    expect(manager.describe(a!.segmentId).state).toBe(SegmentState.Sealed);
    expect(manager.allocation(a!.segmentId).allocatedRows).toBe(CAPACITY);

    await expect(manager.assign([req(CAPACITY + 1)])).rejects.toThrow(/count 1001 is above one segment's capacity of 1000 rows/);

    // Sealed by capacity, flushable once the DataNodes' tick passes its last allocation's expiry.
    expect(await manager.flushableSegments(VCH, split[0]!.expireTs - 1n)).toEqual([]);
    expect((await manager.flushableSegments(VCH, split[0]!.expireTs)).map((s) => s.segmentId)).toEqual([a!.segmentId]);
  });

  it('master-segment - Flush seals, and the state is persisted in etcd', async () => {
    const rootPath = uniqueName('it-segment');
    const first = await master(rootPath);
    const [a, b] = await first.manager.assign([req(10), req(20, 'it-dml_1_7v1')]);
    const res = await first.manager.flush(COLL);
    expect(new Set(res.sealedSegmentIds)).toEqual(new Set([a!.segmentId, b!.segmentId]));
    const [c] = await first.manager.assign([req(5)]);
    expect([a!.segmentId, b!.segmentId]).not.toContain(c!.segmentId);

    // Read etcd through another client: one key per segment, a SegmentInfo each.
    const reader = new EtcdKV({ endpoints: (await endpoints()).etcd, rootPath });
    closers.push(() => reader.close());
    const stored = async (id: bigint) => SegmentInfo.decode((await reader.get(`meta/segment/${COLL}/${id}`))!.value);
    expect(await stored(a!.segmentId)).toMatchObject({ state: SegmentState.Sealed, numRows: 0n, insertChannel: VCH, partitionId: PART, lastExpireTime: a!.expireTs });
    expect(await stored(b!.segmentId)).toMatchObject({ state: SegmentState.Sealed, insertChannel: 'it-dml_1_7v1' });
    expect(await stored(c!.segmentId)).toMatchObject({ state: SegmentState.Growing, maxRowNum: BigInt(CAPACITY) });
    expect((await reader.range('meta/segment/')).kvs).toHaveLength(3);

    // A restarted master rebuilds from etcd: the growing segment is sealed, ids are never reused.
    await first.close();
    const second = await master(rootPath);
    const listed = new Map(second.manager.list(COLL).map((s) => [s.segmentId, s.state]));
    expect(listed).toEqual(
      new Map([
        [a!.segmentId, SegmentState.Sealed],
        [b!.segmentId, SegmentState.Sealed],
        [c!.segmentId, SegmentState.Sealed],
      ]),
    );
    expect((await stored(c!.segmentId)).state).toBe(SegmentState.Sealed);
    const [d] = await second.manager.assign([req(5)]);
    expect(d!.segmentId).toBeGreaterThan(c!.segmentId);
  });
});
