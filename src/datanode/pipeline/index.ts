/**
 * Public surface of src/datanode/pipeline: the pchannel dispatcher and the per-vchannel flowgraph
 * (`input → dd → insert buffer → delete buffer → time tick`) of the DataNode's data path.
 */
export { ChannelInput } from './channel-input.js';
export { createDdNode, type DdNodeOptions } from './dd-node.js';
export { createDeleteNode, type DeleteNodeOptions } from './delete-node.js';
export { createInsertNode, type InsertNodeOptions } from './insert-node.js';
export { LateRowsLog, type LateRows, type LateRowsLogOptions } from './late-rows-log.js';
export {
  comparePositions,
  fromMsgPosition,
  pchannelOf,
  toMsgPosition,
  type DeleteFlowMsg,
  type DispatchedMsg,
  type DropCollectionFlowMsg,
  type DropPartitionFlowMsg,
  type FlowMsg,
  type InsertFlowMsg,
  type SkipFlowMsg,
  type TickFlowMsg,
} from './messages.js';
export { DataPathMetrics } from './metrics.js';
export { DEFAULT_MAX_PUSH_BYTES, MsgDispatcher, type DispatchTarget, type MsgDispatcherOptions, type PchannelStats } from './msg-dispatcher.js';
export { TickReporter, type TickReporterOptions } from './tick-reporter.js';
export { createTimeTickNode, type TimeTickNodeOptions } from './time-tick-node.js';
export { VchannelPipeline, type VchannelPipelineOptions } from './vchannel-pipeline.js';
