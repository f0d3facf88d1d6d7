/**
 * Public surface of src/proxy: the client library proxies (and the CLI, and applications) use to
 * write into Tidal.
 *
 * Usage:
 *   const client = await TidalClient.connect({ master: '127.0.0.1:53100', stream });
 *   const { insertCount, rowIds, timestamp } = await client.insert('books', {
 *     columns: { id: new BigInt64Array([1n, 2n]), vec: new Float32Array(2 * 128) },
 *   });
 *   await client.delete('books', [1n]);
 *   await client.close();
 */
export { TidalClient, type TidalClientEvents, type TidalClientOptions, type TidalClientState } from './tidal-client.js';
export type { DeleteOptions, DeleteResult, InsertResult } from './dml-planner.js';
export type { DeleteKeysInput, InsertRequest } from './dml-input.js';
export { hashInt64Pk, hashVarCharPk, shardOfPk, shardsOfPkColumn, PK_HASH_SEED } from './pk-hash.js';
export { MasterClient, type MasterClientOptions, type MasterMethod, type PartialRequest } from './master-client.js';
export { TimestampAllocator, type FetchTimestamps, type TimestampAllocatorOptions } from './timestamp-allocator.js';
export { IdCache, type IdCacheOptions, type FetchIds } from './id-cache.js';
export { SegmentAssigner, type SegmentAssignerOptions, type SegmentRequest, type SegmentSlice } from './segment-assigner.js';
export { DEFAULT_PARTITION, type CollectionMeta } from './collection-cache.js';
export { DEFAULT_TICK_INTERVAL_MS } from './time-ticker.js';
export type { MasterRpc } from './master-rpc.js';
