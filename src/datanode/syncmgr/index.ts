/**
 * Public surface of src/datanode/syncmgr: a segment's buffered chunks become binlogs in the object
 * store and a SaveBinlogPaths on the master — serialised per segment, parallel across segments,
 * retried until durable.
 */
export { SyncManager, type SyncHooks, type SyncManagerOptions, type SyncMaster, type SyncResult, type SyncRetryOptions, type SyncTask } from './sync-manager.js';
export { encodeSync, saveRequest, type EncodedSync, type SegmentBase, type SyncObject, type SyncPayload } from './sync-task.js';
