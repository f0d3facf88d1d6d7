/**
 * flowgraph: the generic dataflow engine (one graph per DataNode vchannel). Imports nothing from
 * src/. See README.md.
 */
export {
  FlowGraph,
  DEFAULT_ABORT_GRACE_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  type CloseReport,
  type FlowGraphEvents,
  type FlowGraphOptions,
  type FlowGraphState,
  type GraphInput,
  type GraphStats,
} from './flow-graph.js';
export { node, type Node, type NodeHooks, type OperateContext } from './node.js';
export { IterableInput, PushInput, isInputNode, type InputContext, type InputNode } from './input-node.js';
export { BoundedQueue, DEFAULT_QUEUE_CAPACITY, END_OF_QUEUE } from './bounded-queue.js';
export { FlowgraphError, FlowgraphErrorCode, type FlowgraphErrorOptions, type NodePhase } from './errors.js';
export {
  LATENCY_BUCKETS_MS,
  LatencyRecorder,
  type InputStats,
  type LatencyBucket,
  type LatencyStats,
  type NodeStats,
  type QueueStats,
} from './metrics.js';
