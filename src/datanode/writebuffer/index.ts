/**
 * Public surface of src/datanode/writebuffer: per-segment Arrow buffers of a vchannel, the
 * segments it knows (recovery skips, primary-key stats), and the node-wide memory bound and sync
 * triggers.
 */
export { WriteBufferManager, type WriteBufferManagerOptions } from './buffer-manager.js';
export { ChannelWriteBuffer, type ChannelWriteBufferOptions, type SyncFlags } from './channel-buffer.js';
export { MemoryBudget } from './memory-budget.js';
export { SegmentBuffer, type BufferTake, type DeleteChunk, type InsertChunk } from './segment-buffer.js';
export { SegmentRegistry, type SegmentPhase, type SegmentRecord } from './segment-registry.js';
export { loadSegmentStats } from './stats-loader.js';
