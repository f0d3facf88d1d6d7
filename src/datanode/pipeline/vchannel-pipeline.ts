/**
 * VchannelPipeline: everything one watched vchannel runs — its flowgraph
 * (`input → dd → insert buffer → delete buffer → time tick`), its write buffer and segment
 * registry — and what its owner (DataPath) asks of it: feed it (it is the dispatcher's target),
 * wait for a tick, report status, stop it.
 *
 * Failure: a node that throws, a pchannel read that fails, or a sync that fails for good all fail
 * the flowgraph (`done` rejects naming the stage); the pipeline then releases its buffers, and
 * waits on its ticks reject with the error.
 */
import { FlowGraph } from '../../../flowgraph/index.js';
import { errors } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { VchannelInfo } from '../../gen/segment.js';
import type { ChannelStatus } from '../channel-manager.js';
import type { SyncManager } from '../syncmgr/sync-manager.js';
import type { WriteBufferManager } from '../writebuffer/buffer-manager.js';
import { ChannelWriteBuffer } from '../writebuffer/channel-buffer.js';
import type { SegmentRegistry } from '../writebuffer/segment-registry.js';
import { ChannelInput } from './channel-input.js';
import { createDdNode } from './dd-node.js';
import { createDeleteNode } from './delete-node.js';
import { createInsertNode } from './insert-node.js';
import type { DispatchedMsg } from './messages.js';
import type { DataPathMetrics } from './metrics.js';
import type { DispatchTarget } from './msg-dispatcher.js';
import { createTimeTickNode } from './time-tick-node.js';

/** Options of {@link VchannelPipeline}. */
export interface VchannelPipelineOptions {
  info: VchannelInfo;
  registry: SegmentRegistry;
  manager: WriteBufferManager;
  syncs: SyncManager;
  metrics: DataPathMetrics;
  logger: Logger;
  /** Capacity of each queue between nodes, batches. */
  queueCapacity: number;
  /** Longest close() lets queued batches flow, ms. */
  drainTimeoutMs: number;
}

interface TickWaiter {
  ts: bigint;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One vchannel's flowgraph and write buffer. */
export class VchannelPipeline implements DispatchTarget {
  readonly vchannel: string;
  readonly collectionId: bigint;
  readonly input: ChannelInput;
  readonly graph: FlowGraph<DispatchedMsg>;
  readonly buffer: ChannelWriteBuffer;
  /** Set when a tick was consumed since the last report. */
  tickDirty = false;
  private waiters: TickWaiter[] = [];
  private readonly manager: WriteBufferManager;
  private failure: unknown;
  private closing: Promise<void> | undefined;

  constructor(options: VchannelPipelineOptions) {
    const { info, registry, manager, metrics } = options;
    const schema = info.schema;
    if (schema === undefined) throw errors.invalidArgument(`vchannel ${info.channelName}: schema is required`);
    this.vchannel = info.channelName;
    this.manager = manager;
    this.collectionId = info.collectionId;
    const log = options.logger.child({ vchannel: this.vchannel });
    this.input = new ChannelInput(this.vchannel);
    this.buffer = new ChannelWriteBuffer({
      vchannel: this.vchannel,
      collectionId: this.collectionId,
      schema,
      registry,
      budget: manager.budget,
      syncs: options.syncs,
      metrics,
      onFailure: (err) => this.input.fail(err),
      logger: options.logger,
    });
    this.graph = new FlowGraph<DispatchedMsg>({ name: this.vchannel, queueCapacity: options.queueCapacity, drainTimeoutMs: options.drainTimeoutMs });
    this.graph.assemble(
      this.input,
      createDdNode({ vchannel: this.vchannel, collectionId: this.collectionId, schema, registry, metrics, logger: options.logger }),
      createInsertNode({ channel: this.buffer, manager, metrics }),
      createDeleteNode({ channel: this.buffer, manager, metrics }),
      createTimeTickNode({ channel: this.buffer, manager, onTick: () => this.onTick(), logger: options.logger }),
    );
    manager.register(this.buffer);
    this.graph.done.then(
      () => this.stopped(undefined, manager),
      (err: unknown) => {
        if (this.closing === undefined) {
          metrics.flowgraphFailures++;
          log.error({ err }, 'flowgraph failed');
        } else {
          log.debug({ err }, 'flowgraph stopped with an error while closing');
        }
        this.stopped(err, manager);
      },
    );
  }

  /** The flowgraph's failure, if it failed. */
  get failed(): unknown {
    return this.failure;
  }

  /** Starts the flowgraph (rejects if a node's start fails). */
  start(): Promise<void> {
    return this.graph.start();
  }

  /** See DispatchTarget.push. */
  push(batch: readonly DispatchedMsg[]): Promise<void> {
    return this.input.push(batch);
  }

  /** See DispatchTarget.fail. */
  fail(error: unknown): void {
    this.input.fail(error);
  }

  /**
   * Resolves once a time tick at or above `ts` is consumed (every row below it is buffered).
   * Rejects with the flowgraph's failure, or CLOSED once the pipeline stopped.
   */
  waitConsumedTs(ts: bigint): Promise<void> {
    if (this.buffer.consumedTs >= ts) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closing !== undefined || this.graph.state === 'closed') return Promise.reject(errors.closed(`vchannel ${this.vchannel}`));
    return new Promise((resolve, reject) => this.waiters.push({ ts, resolve, reject }));
  }

  /** Progress as the ChannelManager seam reports it. */
  status(): ChannelStatus {
    const b = this.buffer;
    return {
      vchannel: this.vchannel,
      collectionId: this.collectionId,
      consumedTs: b.consumedTs,
      checkpointMsgId: b.savedCheckpoint?.msgId,
      bufferedRows: b.bufferedRows,
      bufferedBytes: b.bufferedBytes,
    };
  }

  /**
   * Stops the flowgraph (queued batches drain within the bound) and releases the buffers: buffered
   * rows are not synced (the next owner replays them from the checkpoint). With `finishSyncs`,
   * syncs already handed over are awaited first (a shutdown); without, those still retrying are
   * given up (a release: the vchannel may have moved). Safe to call twice (the first call decides).
   */
  close(options: { finishSyncs?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      if (options.finishSyncs === true) {
        await this.graph.close();
        await this.buffer.settleSyncs();
        this.buffer.release();
      } else {
        // Released first: what the graph still drains is dropped, and a node waiting for memory
        // gets it back at once instead of holding the drain up.
        this.buffer.release();
        await this.graph.close();
      }
      this.manager.unregister(this.buffer);
    })();
    return this.closing;
  }

  private onTick(): void {
    this.tickDirty = true;
    const ts = this.buffer.consumedTs;
    const ready = this.waiters.filter((w) => w.ts <= ts);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.ts > ts);
    for (const w of ready) w.resolve();
  }

  private stopped(err: unknown, manager: WriteBufferManager): void {
    if (err !== undefined) {
      // A failed vchannel's data is replayed by whoever consumes it next: drop it now.
      this.failure = err;
      this.buffer.release();
      manager.unregister(this.buffer);
    }
    const reason = err ?? errors.closed(`vchannel ${this.vchannel}`);
    for (const w of this.waiters.splice(0)) w.reject(reason);
  }
}
