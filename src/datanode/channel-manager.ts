/**
 * The seam between the DataNode's gRPC service (what the master asks) and its data path (one
 * flowgraph per vchannel). The service validates requests and calls these; the pipeline side
 * implements them.
 */
import type { VchannelInfo } from '../gen/segment.js';

/** What one watched vchannel reports. */
export interface ChannelStatus {
  vchannel: string;
  collectionId: bigint;
  /** Last consumed time tick (hybrid ts), 0n before the first. */
  consumedTs: bigint;
  /** Checkpoint last saved to the master, if any. */
  checkpointMsgId?: bigint;
  /** Rows buffered and not yet synced. */
  bufferedRows: number;
  bufferedBytes: number;
}

/** Runs and stops the per-vchannel flowgraphs of one DataNode. Methods throw TidalError. */
export interface ChannelManager {
  /**
   * Starts consuming `info.channelName` from `info.seekPosition`, skipping rows of segments already
   * flushed up to their positions. Idempotent for a vchannel already watched with the same
   * collection. Throws OFFSET_OUT_OF_RANGE when the seek position was deleted from the log.
   */
  watch(info: VchannelInfo): Promise<void>;
  /** Stops a vchannel's flowgraph (buffered rows are NOT synced; the next owner replays them). Idempotent. */
  release(vchannel: string): Promise<void>;
  /**
   * Syncs the given segments (sealed by the master) and reports them flushed. `flushTs`: rows up
   * to it must be included; resolves once SaveBinlogPaths has stored them. Unknown segment ids on
   * this node are ignored (the master may send a segment of a channel that moved).
   */
  flushSegments(segmentIds: readonly bigint[], flushTs?: bigint): Promise<void>;
  /** The watched vchannels and their progress. */
  status(): ChannelStatus[];
  /**
   * Bytes the node's buffers hold against its memory limit: buffered AND being synced (a sync's
   * rows stay counted until they are durable). Default when absent: the sum of `bufferedBytes`.
   */
  memoryUsedBytes?(): number;
  /** Counters of the data path (undecodable records, syncs, retries, ...) for GetStatus; zeros when absent. */
  metrics?(): { counters: Readonly<Record<string, number>> };
  /** Stops every flowgraph. Safe to call twice. */
  close(): Promise<void>;
}
