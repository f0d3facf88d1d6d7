/**
 * ChannelScheduler: which DataNode consumes which vchannel. Runs on the serving master only.
 *
 * It keeps one fact true: every vchannel of every live collection is owned by exactly one live
 * DataNode, which has been told to watch it; no vchannel of a dropped collection stays owned. Each
 * pass ({@link ChannelScheduler.reconcile}) compares what should be with what is and fixes the
 * difference, so the same code serves a new collection, a dropped one, a master restart, a failed
 * call and a node that left:
 *
 *  1. Release: assignments whose collection is dropped (or no longer has the vchannel) — the owner
 *     is told ReleaseDmChannels, then the key is deleted; the key of a node that is gone is simply
 *     deleted.
 *  2. Assign: a vchannel without an owner goes to the live node with the fewest vchannels (ties:
 *     lowest id; see assignment.ts). The assignment is recorded at `channel/watch/{node}/{vchannel}`
 *     (see channel-watch-store.ts) BEFORE the node is told, so a master that restarts in between
 *     finds it and tells the node again.
 *  3. Watch: every recorded assignment not yet acknowledged by its node is sent as
 *     WatchDmChannels, with the VchannelInfo from GetRecoveryInfo (schema, checkpoint or start
 *     position, segments). Nodes watch idempotently, so a restarted master resends every
 *     assignment it loads.
 *
 * Failover (decision): when a node's session disappears, its vchannels count as unowned and move
 * to live nodes in the next pass; the new owner resumes from the channel checkpoint. The old owner
 * cannot write after the move: SaveBinlogPaths compares the assignment key in its transaction
 * ({@link ChannelScheduler.ownershipCompares}), and the node itself stops its flowgraphs when its
 * lease is lost. With no live node at all, vchannels stay recorded and wait. Rebalancing live
 * nodes (moving vchannels off a busy node) is not done here.
 *
 * Passes run one at a time; a pass runs after every DDL that creates or drops a collection (the
 * service calls reconcile()), when the set of live DataNodes changes, and every
 * `resyncIntervalMs` (retries of failed calls, with per-vchannel backoff).
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { CollectionInfo } from '../../gen/meta.js';
import type { VchannelInfo } from '../../gen/segment.js';
import type { Compare, MetaKV } from '../../kv/meta-kv.js';
import type { HardBarrier } from '../timetick/hard-barrier.js';
import { planAssignments } from './assignment.js';
import { ChannelWatchStore, ownershipCompare, type ChannelAssignment } from './channel-watch-store.js';
import { GrpcDataNodeRpc, type DataNodeRpc, type DataNodeTarget, type FlushOrder } from './datanode-client.js';
import { DataNodeSessions, type DataNodeInfo } from './datanode-sessions.js';

/**
 * How long CreateCollection / DropCollection wait for the pass that assigns or releases the
 * collection's vchannels, ms; past it they answer anyway (a hung DataNode must not fail a DDL that
 * succeeded) and the pass goes on.
 */
export const DDL_RECONCILE_WAIT_MS = 5_000;

/** Options of {@link ChannelScheduler}. */
export interface ChannelSchedulerOptions {
  kv: MetaKV;
  /** The TSO: timestamps of assignments. */
  tso: { alloc(count: number): Promise<{ first: bigint }> };
  /** The live collections (the meta table fits). */
  collections: { listCollections(): CollectionInfo[] };
  /** How a vchannel resumes (ChannelProgress.recoveryInfo fits). */
  recovery: (collectionId: bigint, vchannel: string) => Promise<VchannelInfo[]>;
  /** Kept in step with the live DataNodes; told when a vchannel leaves a node. */
  hardBarrier?: Pick<HardBarrier, 'setNodes' | 'release'>;
  /** How DataNodes are called. Default: gRPC ({@link GrpcDataNodeRpc}). */
  rpc?: DataNodeRpc;
  /** Compares every write must satisfy (the serving master's term). Default none. */
  guard?: () => Compare[];
  /** This master's server id (`base.sourceId` of its calls). Default 0. */
  sourceId?: bigint;
  /** Interval of the background pass, ms. Default 1,000. */
  resyncIntervalMs?: number;
  /** First delay before calling a node again about a vchannel after a failure, ms (doubles, up to 30 s). Default 500. */
  retryBaseMs?: number;
  logger?: Logger;
}

/** Events of a {@link ChannelScheduler}. */
export interface ChannelSchedulerEvents {
  /** A vchannel was given to a node (`from`: its previous owner, when it moved). */
  assigned: [assignment: ChannelAssignment, from: bigint | undefined];
  /** A node acknowledged WatchDmChannels for the vchannel. */
  watched: [assignment: ChannelAssignment];
  /** A vchannel of a dropped collection was released and its record deleted. */
  released: [assignment: ChannelAssignment];
}

/** Lifecycle of a {@link ChannelScheduler}. */
export type ChannelSchedulerState = 'idle' | 'starting' | 'running' | 'closed';

interface Entry extends ChannelAssignment {
  /** The node acknowledged WatchDmChannels for this assignment. */
  watched: boolean;
  failures: number;
  /** Wall-clock ms before which the node is not called again about it. */
  notBefore: number;
}

const MAX_RETRY_DELAY_MS = 30_000;
const q = (s: string) => JSON.stringify(s);
const view = (e: Entry): ChannelAssignment => ({ nodeId: e.nodeId, vchannel: e.vchannel, collectionId: e.collectionId, assignedTs: e.assignedTs });

function groupBy<T>(items: readonly T[], key: (t: T) => bigint): Map<bigint, T[]> {
  const out = new Map<bigint, T[]>();
  for (const it of items) {
    const k = key(it);
    out.set(k, [...(out.get(k) ?? []), it]);
  }
  return out;
}

/** Assigns vchannels to DataNodes. `start()` before use. */
export class ChannelScheduler extends EventEmitter<ChannelSchedulerEvents> {
  private readonly store: ChannelWatchStore;
  private readonly sessions: DataNodeSessions;
  private readonly rpc: DataNodeRpc;
  private readonly log: Logger;
  private readonly resyncIntervalMs: number;
  private readonly retryBaseMs: number;
  private stateValue: ChannelSchedulerState = 'idle';
  /** vchannel → its assignment. */
  private readonly byChannel = new Map<string, Entry>();
  private live = new Map<bigint, DataNodeInfo>();
  private passTail: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private waitingForNodes = false;

  constructor(private readonly options: ChannelSchedulerOptions) {
    super();
    this.log = (options.logger ?? silentLogger).child({ component: 'channel-scheduler' });
    this.store = new ChannelWatchStore({ kv: options.kv, guard: options.guard });
    this.sessions = new DataNodeSessions({ kv: options.kv, logger: options.logger });
    this.rpc = options.rpc ?? new GrpcDataNodeRpc({ sourceId: options.sourceId ?? 0n });
    this.resyncIntervalMs = options.resyncIntervalMs ?? 1_000;
    this.retryBaseMs = options.retryBaseMs ?? 500;
  }

  /** Current lifecycle state. */
  get state(): ChannelSchedulerState {
    return this.stateValue;
  }

  /**
   * Loads the recorded assignments and the live DataNodes, then starts passes (the first one runs
   * in the background: a slow node does not hold up the master's start). Throws the KV's errors,
   * CORRUPTED for an unreadable record. Safe to call twice.
   */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'starting';
    try {
      for (const a of await this.store.loadAll()) {
        const other = this.byChannel.get(a.vchannel);
        if (other !== undefined) {
          // Never written by this scheduler (moves are one transaction); keep the newer, say so.
          this.log.error({ vchannel: a.vchannel, nodes: [other.nodeId.toString(), a.nodeId.toString()] }, 'vchannel recorded for two DataNodes; keeping the newer assignment');
          if (other.assignedTs > a.assignedTs) continue;
        }
        this.byChannel.set(a.vchannel, { ...a, watched: false, failures: 0, notBefore: 0 });
      }
      this.sessions.on('changed', (nodes) => this.onNodesChanged(nodes));
      await this.sessions.start();
      this.onNodesChanged(this.sessions.nodes());
      if (this.stateValue !== 'starting') return; // closed meanwhile
      this.stateValue = 'running';
      this.timer = setInterval(() => void this.reconcile(), this.resyncIntervalMs);
      this.timer.unref();
      this.log.info({ assignments: this.byChannel.size, datanodes: this.live.size }, 'channel scheduler started');
      void this.reconcile();
    } catch (err) {
      if (this.stateValue === 'starting') this.stateValue = 'idle';
      this.byChannel.clear();
      await this.sessions.close();
      throw err;
    }
  }

  /**
   * Runs a pass (after the one in progress, if any) and resolves once it is done — or after
   * `maxWaitMs`, when given, while the pass goes on. Never rejects: what failed is logged and
   * retried by a later pass.
   */
  reconcile(options: { maxWaitMs?: number } = {}): Promise<void> {
    const pass = this.queuePass();
    if (options.maxWaitMs === undefined) return pass;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.maxWaitMs)));
    return Promise.race([pass, timeout]).finally(() => clearTimeout(timer));
  }

  /** The assignment of `vchannel`, or undefined. */
  owner(vchannel: string): ChannelAssignment | undefined {
    const e = this.byChannel.get(vchannel);
    return e === undefined ? undefined : view(e);
  }

  /** Every assignment, by vchannel. */
  assignments(): ChannelAssignment[] {
    return [...this.byChannel.values()].map(view).sort((a, b) => (a.vchannel < b.vchannel ? -1 : a.vchannel > b.vchannel ? 1 : 0));
  }

  /** The live DataNodes, by id. */
  dataNodes(): DataNodeInfo[] {
    return [...this.live.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /**
   * The compares that hold while `nodeId` owns `vchannel` under its current assignment, for a
   * transaction that only the owner may commit (SaveBinlogPaths). Throws FAILED_PRECONDITION naming
   * the owner and the caller when `nodeId` is not the owner (or nobody is).
   */
  ownershipCompares(vchannel: string, nodeId: bigint): Compare[] {
    const e = this.byChannel.get(vchannel);
    const context = { vchannel, caller: nodeId.toString(), owner: e?.nodeId.toString() };
    if (e === undefined) {
      throw errors.failedPrecondition(`vchannel ${q(vchannel)} is not assigned to any DataNode, so DataNode ${nodeId} may not write to it`, context);
    }
    if (e.nodeId !== nodeId) {
      const caller = nodeId === 0n ? 'a caller without base.sourceId' : `DataNode ${nodeId}`;
      throw errors.failedPrecondition(`vchannel ${q(vchannel)} is owned by DataNode ${e.nodeId}; ${caller} may not write to it`, context);
    }
    return [ownershipCompare(e)];
  }

  /**
   * Sends a FlushSegments order to `nodeId`. Throws UNAVAILABLE when the node is not live, and
   * the node's or the transport's error.
   */
  async flush(nodeId: bigint, order: FlushOrder): Promise<void> {
    const node = this.live.get(nodeId);
    if (node === undefined) throw errors.unavailable(`DataNode ${nodeId} is not live; cannot flush segments of ${q(order.vchannel)}`);
    await this.rpc.flush(node, order);
  }

  /** Stops passes and closes the connections to DataNodes. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    clearInterval(this.timer);
    await this.sessions.close();
    this.rpc.close();
    // A pass in progress notices the state at its next step; its writes are guarded by the term.
    await Promise.race([this.passTail, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  // ---- internals --------------------------------------------------------------------------------

  private queuePass(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    const run = this.passTail.then(async () => {
      this.queued = undefined;
      try {
        await this.pass();
      } catch (err) {
        this.log.error({ err }, 'channel scheduling pass failed; the next pass retries');
      }
    });
    this.queued = run;
    this.passTail = run;
    return run;
  }

  private onNodesChanged(nodes: ReadonlyMap<bigint, DataNodeInfo>): void {
    for (const [id, n] of this.live) if (nodes.get(id)?.address !== n.address) this.rpc.forget(n.address);
    this.live = new Map(nodes);
    this.options.hardBarrier?.setNodes(nodes.keys());
    if (this.stateValue === 'running') void this.reconcile();
  }

  private running(): boolean {
    return this.stateValue === 'running';
  }

  private async pass(): Promise<void> {
    if (!this.running()) return;
    const live = new Map(this.live);
    const collections = new Map(this.options.collections.listCollections().map((c) => [c.id, c]));
    const stale = [...this.byChannel.values()].filter((e) => !(collections.get(e.collectionId)?.vchannels.includes(e.vchannel) ?? false));
    await this.release(stale, live);
    await this.assign(collections, live);
    await this.sendWatches(collections, live);
  }

  /** Step 1: release vchannels of dropped collections. */
  private async release(stale: Entry[], live: ReadonlyMap<bigint, DataNodeInfo>): Promise<void> {
    const now = Date.now();
    for (const [nodeId, entries] of groupBy(stale, (e) => e.nodeId)) {
      if (!this.running()) return;
      const node = live.get(nodeId);
      let done = entries;
      if (node !== undefined) {
        const due = entries.filter((e) => e.notBefore <= now);
        if (due.length === 0) continue;
        try {
          await this.rpc.release(node, due.map((e) => e.vchannel));
        } catch (err) {
          this.log.warn({ err, nodeId: nodeId.toString(), vchannels: due.map((e) => e.vchannel) }, 'ReleaseDmChannels failed; retrying later');
          due.forEach((e) => this.failed(e));
          continue;
        }
        done = due;
      }
      for (const e of done) {
        if (!this.running() || this.byChannel.get(e.vchannel) !== e) continue;
        try {
          await this.store.remove(e);
        } catch (err) {
          this.log.warn({ err, vchannel: e.vchannel }, 'could not delete a released assignment; retrying later');
          continue;
        }
        this.byChannel.delete(e.vchannel);
        this.options.hardBarrier?.release(e.nodeId, e.vchannel);
        this.log.info({ vchannel: e.vchannel, nodeId: e.nodeId.toString(), collectionId: e.collectionId.toString() }, 'vchannel released');
        this.emit('released', view(e));
      }
    }
  }

  /** Step 2: give unowned vchannels (new, or of a node that left) to live nodes, fewest first. */
  private async assign(collections: ReadonlyMap<bigint, CollectionInfo>, live: ReadonlyMap<bigint, DataNodeInfo>): Promise<void> {
    const needed: { vchannel: string; collectionId: bigint; previous: Entry | undefined }[] = [];
    for (const c of collections.values()) {
      for (const vchannel of c.vchannels) {
        const e = this.byChannel.get(vchannel);
        if (e === undefined || !live.has(e.nodeId)) needed.push({ vchannel, collectionId: c.id, previous: e });
      }
    }
    if (needed.length === 0) {
      this.waitingForNodes = false;
      return;
    }
    if (live.size === 0) {
      if (!this.waitingForNodes) this.log.warn({ vchannels: needed.map((n) => n.vchannel) }, 'no live DataNode: vchannels wait for one');
      this.waitingForNodes = true;
      return;
    }
    this.waitingForNodes = false;
    const load = new Map<bigint, number>([...live.keys()].map((id) => [id, 0]));
    for (const e of this.byChannel.values()) if (load.has(e.nodeId)) load.set(e.nodeId, (load.get(e.nodeId) ?? 0) + 1);
    const plan = planAssignments(
      needed.map((n) => n.vchannel),
      load,
    );
    const { first: assignedTs } = await this.options.tso.alloc(1);
    for (const n of needed) {
      if (!this.running() || this.byChannel.get(n.vchannel) !== n.previous) continue;
      const next: ChannelAssignment = { nodeId: plan.get(n.vchannel) as bigint, vchannel: n.vchannel, collectionId: n.collectionId, assignedTs };
      try {
        await this.store.put(next, n.previous);
      } catch (err) {
        this.log.warn({ err, vchannel: n.vchannel }, 'could not record an assignment; retrying later');
        continue;
      }
      this.byChannel.set(n.vchannel, { ...next, watched: false, failures: 0, notBefore: 0 });
      if (n.previous !== undefined) this.options.hardBarrier?.release(n.previous.nodeId, n.vchannel);
      this.log.info(
        { vchannel: n.vchannel, nodeId: next.nodeId.toString(), collectionId: n.collectionId.toString(), from: n.previous?.nodeId.toString() },
        n.previous === undefined ? 'vchannel assigned' : 'vchannel moved off a DataNode that left',
      );
      this.emit('assigned', next, n.previous?.nodeId);
    }
  }

  /** Step 3: tell nodes about assignments they have not acknowledged. */
  private async sendWatches(collections: ReadonlyMap<bigint, CollectionInfo>, live: ReadonlyMap<bigint, DataNodeInfo>): Promise<void> {
    const now = Date.now();
    const pending = [...this.byChannel.values()].filter(
      (e) => !e.watched && e.notBefore <= now && live.has(e.nodeId) && (collections.get(e.collectionId)?.vchannels.includes(e.vchannel) ?? false),
    );
    await Promise.all([...groupBy(pending, (e) => e.nodeId)].map(([nodeId, entries]) => this.watchOn(live.get(nodeId) as DataNodeInfo, entries)));
  }

  private async watchOn(node: DataNodeTarget, entries: Entry[]): Promise<void> {
    const infos: VchannelInfo[] = [];
    const sent: Entry[] = [];
    for (const e of entries) {
      try {
        const [info] = await this.options.recovery(e.collectionId, e.vchannel);
        if (info === undefined) throw new TidalError(ErrorCode.Internal, `no recovery info for ${q(e.vchannel)}`);
        infos.push(info);
        sent.push(e);
      } catch (err) {
        // A collection dropped since the pass began is released by the next pass.
        this.log.warn({ err, vchannel: e.vchannel }, 'no recovery info for an assigned vchannel; retrying later');
        this.failed(e);
      }
    }
    if (sent.length === 0 || !this.running()) return;
    try {
      await this.rpc.watch(node, infos);
    } catch (err) {
      this.log.warn({ err, nodeId: node.nodeId.toString(), vchannels: sent.map((e) => e.vchannel) }, 'WatchDmChannels failed; retrying later');
      sent.forEach((e) => this.failed(e));
      return;
    }
    for (const e of sent) {
      if (this.byChannel.get(e.vchannel) !== e) continue;
      e.watched = true;
      e.failures = 0;
      e.notBefore = 0;
      this.emit('watched', view(e));
    }
    this.log.info({ nodeId: node.nodeId.toString(), vchannels: sent.map((e) => e.vchannel) }, 'DataNode watches vchannels');
  }

  private failed(e: Entry): void {
    e.failures += 1;
    e.notBefore = Date.now() + Math.min(MAX_RETRY_DELAY_MS, this.retryBaseMs * 2 ** (e.failures - 1));
  }
}
