/** The channel scheduler's public surface: vchannel assignment to DataNodes, flush orders and waits. */
export { planAssignments } from './assignment.js';
export { ChannelScheduler, DDL_RECONCILE_WAIT_MS, type ChannelSchedulerEvents, type ChannelSchedulerOptions, type ChannelSchedulerState } from './channel-scheduler.js';
export {
  CHANNEL_WATCH_PREFIX,
  ChannelWatchStore,
  channelWatchKey,
  decodeAssignment,
  encodeAssignment,
  ownershipCompare,
  type ChannelAssignment,
  type ChannelWatchStoreOptions,
} from './channel-watch-store.js';
export { GrpcDataNodeRpc, type DataNodeRpc, type DataNodeTarget, type FlushOrder, type GrpcDataNodeRpcOptions } from './datanode-client.js';
export { DATANODE_SESSION_PREFIX, DataNodeSessions, parseDataNodeSession, type DataNodeInfo, type DataNodeSessionsEvents, type DataNodeSessionsOptions } from './datanode-sessions.js';
export { DEFAULT_FLUSH_WAIT_MS, FlushCoordinator, flushWaitMs, type FlushCoordinatorOptions, type WaitFlushedOptions } from './flush-coordinator.js';
