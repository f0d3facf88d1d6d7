/**
 * Shared pieces of the segment-manager unit tests: a real TSO and ID allocator on a MemoryKV, with
 * a TSO clock the test can move forward, and a collection lookup backed by a map.
 */
import { parseTs } from '../../../../src/common/hybrid-ts.js';
import { DataType, type CollectionSchema } from '../../../../src/gen/schema.js';
import type { MetaKV } from '../../../../src/kv/meta-kv.js';
import { IdAllocator } from '../../../../src/master/idalloc/id-allocator.js';
import type { CollectionInfo, CollectionLookup } from '../../../../src/master/segment/collection-lookup.js';
import { TimestampOracle } from '../../../../src/master/tso/timestamp-oracle.js';

/** Int64 pk (8) + FloatVector dim 2 (8) + RowID/Timestamp (16) = 32 bytes per row. */
export const ROW_BYTES = 32;

/** A schema of ROW_BYTES bytes per row. */
export function smallSchema(name = 'c'): CollectionSchema {
  return {
    name,
    description: '',
    autoId: false,
    version: 0,
    fields: [
      { fieldId: 100n, name: 'pk', isPrimaryKey: true, description: '', dataType: DataType.Int64, dim: 0, maxLength: 0, autoId: false, nullable: false },
      { fieldId: 101n, name: 'vec', isPrimaryKey: false, description: '', dataType: DataType.FloatVector, dim: 2, maxLength: 0, autoId: false, nullable: false },
    ],
  };
}

/** A CollectionLookup over a mutable map. */
export class MapLookup implements CollectionLookup {
  readonly map = new Map<bigint, CollectionInfo>();

  add(id: bigint, vchannels: string[], partitionIds: bigint[] = [1n], schema: CollectionSchema = smallSchema()): CollectionInfo {
    const info = { id, schema, vchannels, partitionIds };
    this.map.set(id, info);
    return info;
  }

  collection(id: bigint): CollectionInfo | undefined {
    return this.map.get(id);
  }
}

/** A wall clock the test moves forward (the TSO's `now`). */
export class TestClock {
  offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
}

/** A started TSO and ID allocator on `kv`, like a master's. */
export async function startTime(kv: MetaKV, clock = new TestClock()): Promise<{ tso: TimestampOracle; ids: IdAllocator; clock: TestClock }> {
  const tso = new TimestampOracle({ kv, key: 'tso/timestamp', windowMs: 3_000, tickMs: 10, now: clock.now });
  await tso.start();
  const ids = new IdAllocator({ kv, key: 'gid/idTimestamp', blockSize: 1_000 });
  await ids.start();
  return { tso, ids, clock };
}

/** Moves the TSO's clock forward by `ms` and waits until the TSO serves that time. */
export async function advanceTso(tso: TimestampOracle, clock: TestClock, ms: number): Promise<void> {
  clock.offsetMs += ms;
  const target = clock.now();
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { first } = await tso.alloc(1);
    if (parseTs(first).physicalMs >= target) return;
    if (Date.now() > deadline) throw new Error(`TSO did not reach ${target} in time`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
