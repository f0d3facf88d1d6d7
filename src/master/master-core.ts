/**
 * The leader's components: everything only the serving master runs. Built when this master is
 * elected, closed when it is deposed or stops. Every write the components make is guarded by the
 * election term, so a deposed leader's late writes fail instead of landing.
 *
 * Start order: TSO → ID allocator → sys config → meta table → DDL channels → segment manager →
 * channel progress → channel scheduler and flush coordinator → time-tick producer. Close order is
 * the reverse.
 */
import type { TidalConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import type { Compare, MetaKV } from '../kv/meta-kv.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { DdlManager } from './ddl/ddl-manager.js';
import { IdAllocator } from './idalloc/id-allocator.js';
import { MetaTable } from './meta/meta-table.js';
import { ChannelProgress } from './progress/channel-progress.js';
import type { SaveBinlogPathsRequest } from '../gen/master.js';
import type { VchannelInfo } from '../gen/segment.js';
import { ChannelScheduler } from './scheduler/channel-scheduler.js';
import { FlushCoordinator } from './scheduler/flush-coordinator.js';
import { SegmentManager } from './segment/segment-manager.js';
import { SysConfig } from './sysconfig/sys-config.js';
import { HardBarrier } from './timetick/hard-barrier.js';
import { SoftBarrier } from './timetick/soft-barrier.js';
import { TimeTickProducer } from './timetick/time-tick-producer.js';
import { TsLock } from './timetick/ts-lock.js';
import { TimestampOracle } from './tso/timestamp-oracle.js';

/** etcd keys of the allocators (relative to the KV's root path). */
export const TSO_KEY = 'tso/timestamp';
export const ID_KEY = 'gid/idTimestamp';

export interface MasterCoreOptions {
  config: TidalConfig;
  kv: MetaKV;
  stream: MsgStream;
  serverId: bigint;
  /** Compares of the current election term. */
  guard: () => Compare[];
  logger: Logger;
}

/** The serving master's components. */
export class MasterCore {
  readonly tso: TimestampOracle;
  readonly ids: IdAllocator;
  readonly sysConfig: SysConfig;
  readonly softBarrier: SoftBarrier;
  readonly hardBarrier: HardBarrier;
  meta!: MetaTable;
  ddl!: DdlManager;
  segments!: SegmentManager;
  ticks!: TimeTickProducer;
  progress!: ChannelProgress;
  /** Which DataNode owns which vchannel. */
  channels!: ChannelScheduler;
  /** Flush orders from DataNode ticks; Flush's wait. */
  flushes!: FlushCoordinator;
  /** Proxies that report nothing for this long leave the soft barrier, ms. */
  readonly softBarrierTtlMs: number;
  private readonly tsLock = new TsLock();
  private started: { close(): Promise<void> | void }[] = [];

  constructor(private readonly options: MasterCoreOptions) {
    const { config, kv, guard, logger } = options;
    this.tso = new TimestampOracle({ kv, key: TSO_KEY, windowMs: config.master.tso.windowMs, tickMs: config.master.tso.tickMs, guard, logger });
    this.ids = new IdAllocator({ kv, key: ID_KEY, guard, logger });
    this.sysConfig = new SysConfig(kv);
    this.softBarrierTtlMs = config.master.proxyTtlMs;
    this.softBarrier = new SoftBarrier({ ttlMs: config.master.proxyTtlMs, logger });
    this.hardBarrier = new HardBarrier({ logger });
  }

  /** Starts every component in order; on failure closes what started and rethrows. */
  async start(): Promise<void> {
    const { config, kv, stream, guard, logger, serverId } = this.options;
    try {
      await this.tso.start();
      this.started.push(this.tso);
      await this.ids.start();
      this.started.push(this.ids);
      await this.sysConfig.publish(config);
      this.meta = await MetaTable.load(kv, { guard, logger });
      this.ddl = new DdlManager({
        meta: this.meta,
        stream,
        tso: this.tso,
        ids: this.ids,
        config: config.master,
        tsLock: this.tsLock,
        sourceId: serverId,
        logger,
      });
      await this.ddl.start();
      this.started.push(this.ddl);
      this.segments = new SegmentManager({
        kv,
        tso: this.tso,
        ids: this.ids,
        collections: this.meta,
        config: config.master.segment,
        guard,
        logger,
      });
      await this.segments.start();
      this.started.push(this.segments);
      this.progress = new ChannelProgress({
        kv,
        meta: this.meta,
        segments: this.segments,
        guard,
        owner: (vchannel, nodeId) => this.channels.ownershipCompares(vchannel, nodeId),
      });
      this.channels = new ChannelScheduler({
        kv,
        tso: this.tso,
        collections: this.meta,
        recovery: (collectionId, vchannel) => this.progress.recoveryInfo(collectionId, vchannel),
        hardBarrier: this.hardBarrier,
        guard,
        sourceId: serverId,
        logger,
      });
      await this.channels.start();
      this.started.push(this.channels);
      this.flushes = new FlushCoordinator({
        segments: this.segments,
        owner: (vchannel) => this.channels.owner(vchannel),
        send: (nodeId, order) => this.channels.flush(nodeId, order),
        logger,
      });
      this.started.push(this.flushes);
      this.ticks = new TimeTickProducer({
        stream,
        channels: this.ddl.dmlChannels,
        tso: this.tso,
        softBarrier: this.softBarrier,
        pendingDdlTs: () => this.ddl.pendingMinTs(),
        tsLock: this.tsLock,
        intervalMs: config.master.timeTickIntervalMs,
        sourceId: serverId,
        logger,
      });
      this.ticks.start();
      this.started.push(this.ticks);
      this.started.push({ close: () => this.hardBarrier.close() });
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** SaveBinlogPaths: see ChannelProgress.saveBinlogPaths. */
  saveBinlogPaths(req: SaveBinlogPathsRequest): Promise<void> {
    return this.progress.saveBinlogPaths(req);
  }

  /** GetRecoveryInfo: see ChannelProgress.recoveryInfo. */
  recoveryInfo(collectionId: bigint, vchannel: string, partitionIds: readonly bigint[] = []): Promise<VchannelInfo[]> {
    return this.progress.recoveryInfo(collectionId, vchannel, partitionIds);
  }

  /** Closes the started components in reverse order. Safe to call twice. */
  async close(): Promise<void> {
    const started = this.started.reverse();
    this.started = [];
    for (const c of started) await c.close();
  }
}
