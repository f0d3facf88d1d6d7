/**
 * The DataNode process: a gRPC server (the DataNode service), a session in etcd, a link to the
 * serving master, and the channel manager that runs one flowgraph per watched vchannel (the data
 * path, built by the `channels` factory). The DataNode keeps nothing in etcd but its session.
 *
 * Start order: clients (KV, log, object store) → server id → master link → channel manager → gRPC
 * server listening → session registered. The session comes last: the master learns of the node
 * only once it can reach it.
 *
 * Shutdown order: stop accepting calls (calls in progress get `grpcGraceMs`, then are cancelled)
 * → drain the flowgraphs (`channels.close()`, which finishes their syncs; bounded by
 * `drainTimeoutMs`) → revoke the session lease (the master sees the node leave at once) → close
 * the master link and the clients this server created.
 *
 * Lost session (the lease expired, e.g. an etcd partition longer than its TTL): the node no longer
 * owns its vchannels — the master may already have given them to another node — so it stops every
 * flowgraph (`channels.release`, buffered rows are not synced: the new owner replays them from the
 * checkpoint), then registers a NEW session under a new server id, retrying with backoff until it
 * succeeds or the server closes. Meanwhile the service answers UNAVAILABLE. The master treats the
 * new session as a new node.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { TidalConfig } from '../common/config.js';
import { errors } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { retry } from '../common/retry.js';
import { StateCode } from '../gen/common.js';
import { DataNodeService } from '../gen/datanode.js';
import { createMetaKV } from '../kv/create.js';
import type { MetaKV } from '../kv/meta-kv.js';
import { createMsgStream } from '../mq/create.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { createObjectStore } from '../storage/create.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ChannelManager } from './channel-manager.js';
import { MasterLink } from './master-link.js';
import { createDataNodeService } from './service.js';
import { allocateServerId } from '../kv/server-id.js';
import { DataNodeSession } from './session.js';

/** What the data path is built from (handed to the `channels` factory). */
export interface DataNodeDeps {
  config: TidalConfig;
  logger: Logger;
  kv: MetaKV;
  stream: MsgStream;
  store: ObjectStore;
  /** The serving master (SaveBinlogPaths, ReportTimeTick, GetRecoveryInfo), retried and leader-following. */
  master: MasterLink;
  /** This node's current server id (`base.sourceId` of its calls); it changes when the session is registered again. */
  nodeId(): bigint;
}

/** Builds the node's channel manager (the data path). May throw: the server then stops what it started and rethrows. */
export type ChannelManagerFactory = (deps: DataNodeDeps) => ChannelManager;

/** Options of {@link DataNodeServer.start}. */
export interface DataNodeServerOptions {
  config: TidalConfig;
  logger: Logger;
  channels: ChannelManagerFactory;
  /** Use this KV instead of building one from config (standalone shares one). Not closed by the server. */
  kv?: MetaKV;
  /** Use this log instead of building one from config. Not closed by the server. */
  stream?: MsgStream;
  /** Use this object store instead of building one from config. Not closed by the server. */
  store?: ObjectStore;
  /** How long close() waits for calls in progress before cancelling them, ms. Default 5,000. */
  grpcGraceMs?: number;
  /** How long close() waits for the flowgraphs to drain, ms. Default 30,000. */
  drainTimeoutMs?: number;
}

/** Lifecycle of a {@link DataNodeServer}. */
export type DataNodeState = 'starting' | 'running' | 'recovering' | 'closing' | 'closed';

/** Events of a {@link DataNodeServer}. */
export interface DataNodeServerEvents {
  /** A session was registered (at start, and again after a lost one). */
  registered: [serverId: bigint];
  /** The session's lease was lost; the node stops its flowgraphs and registers again. */
  sessionLost: [serverId: bigint, error: Error];
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** A running DataNode. */
export class DataNodeServer extends EventEmitter<DataNodeServerEvents> {
  private stateValue: DataNodeState = 'starting';
  private id = 0n;
  private session: DataNodeSession | undefined;
  private recovery: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private readonly grpc = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  /** The node's logger without its (changing) server id. */
  private readonly baseLog: Logger;
  private log: Logger;
  /** The gRPC port the server listens on. */
  port = 0;
  /** host:port the master reaches this node at (the session's address). */
  address = '';
  /** The data path. */
  channels!: ChannelManager;
  /** The link to the serving master. */
  readonly master: MasterLink;

  private constructor(
    private readonly config: TidalConfig,
    logger: Logger,
    readonly kv: MetaKV,
    readonly stream: MsgStream,
    readonly store: ObjectStore,
    private readonly owned: { kv: boolean; stream: boolean; store: boolean },
    private readonly grpcGraceMs: number,
    private readonly drainTimeoutMs: number,
  ) {
    super();
    this.baseLog = logger.child({ role: 'datanode' });
    this.log = this.baseLog;
    this.master = new MasterLink({ kv, sourceId: () => this.id, logger: this.baseLog });
  }

  /**
   * Starts the node in the documented order and resolves once its session is registered. On
   * failure closes what it started and rethrows (the KV's, the factory's or the bind error).
   */
  static async start(options: DataNodeServerOptions): Promise<DataNodeServer> {
    const { config } = options;
    const kv = options.kv ?? createMetaKV(config, options.logger);
    const stream = options.stream ?? createMsgStream(config, options.logger);
    const store = options.store ?? createObjectStore(config, options.logger);
    const server = new DataNodeServer(
      config,
      options.logger,
      kv,
      stream,
      store,
      { kv: options.kv === undefined, stream: options.stream === undefined, store: options.store === undefined },
      options.grpcGraceMs ?? 5_000,
      options.drainTimeoutMs ?? 30_000,
    );
    try {
      await server.open(options);
    } catch (err) {
      await server.close().catch((e: unknown) => server.log.warn({ err: e }, 'cleanup after a failed start failed'));
      throw err;
    }
    return server;
  }

  /** The current server id (a new one after a lost session). */
  get serverId(): bigint {
    return this.id;
  }

  /** Current lifecycle state. */
  get state(): DataNodeState {
    return this.stateValue;
  }

  /** The state as GetStatus reports it. */
  stateCode(): StateCode {
    switch (this.stateValue) {
      case 'running':
        return StateCode.Healthy;
      case 'starting':
        return StateCode.Initializing;
      case 'recovering':
        return StateCode.Abnormal;
      default:
        return StateCode.Stopping;
    }
  }

  /** Stops the node in the documented order. Safe to call twice. */
  async close(): Promise<void> {
    if (this.stateValue === 'closing' || this.stateValue === 'closed') return;
    this.stateValue = 'closing';
    this.stop.abort();
    await this.shutdownGrpc();
    await this.recovery;
    if (this.channels !== undefined) await this.drain();
    const session = this.session;
    this.session = undefined;
    await session?.revoke().catch((err: unknown) => this.log.warn({ err }, 'session revoke failed; it expires by TTL'));
    this.master.close();
    if (this.owned.stream) await this.stream.close().catch((err: unknown) => this.log.warn({ err }, 'closing the message log failed'));
    if (this.owned.store) await this.store.close().catch((err: unknown) => this.log.warn({ err }, 'closing the object store failed'));
    if (this.owned.kv) await this.kv.close().catch((err: unknown) => this.log.warn({ err }, 'closing the KV failed'));
    this.stateValue = 'closed';
    this.log.info('datanode stopped');
  }

  // ---- internals --------------------------------------------------------------------------------

  private async open(options: DataNodeServerOptions): Promise<void> {
    const { config } = this;
    this.id = await allocateServerId(this.kv);
    this.log = this.baseLog.child({ serverId: this.id.toString() });
    this.channels = options.channels({
      config,
      logger: options.logger,
      kv: this.kv,
      stream: this.stream,
      store: this.store,
      master: this.master,
      nodeId: () => this.id,
    });
    this.grpc.addService(
      DataNodeService,
      createDataNodeService(
        { nodeId: () => this.id, stateCode: () => this.stateCode(), channels: this.channels, exclusive: (fn) => this.exclusive(fn) },
        this.baseLog,
      ),
    );
    this.port = await new Promise<number>((resolve, reject) => {
      this.grpc.bindAsync(`${config.datanode.host}:${config.datanode.port}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    const host = WILDCARD_HOSTS.has(config.datanode.host) ? hostname() : config.datanode.host;
    this.address = config.datanode.advertiseAddress !== '' ? config.datanode.advertiseAddress : `${host}:${this.port}`;
    if (this.stateValue !== 'starting') throw errors.closed('datanode');
    await this.register(this.id);
    this.stateValue = 'running';
    this.log.info({ port: this.port, address: this.address }, 'datanode listening');
  }

  /** Registers the session of `serverId` and watches its lease. */
  private async register(serverId: bigint): Promise<void> {
    const session = await DataNodeSession.register({
      kv: this.kv,
      serverId,
      address: this.address,
      ttlSec: Math.max(1, Math.ceil(this.config.datanode.sessionTtlMs / 1000)),
      logger: this.log,
    });
    if (this.stateValue === 'closing' || this.stateValue === 'closed') {
      await session.revoke().catch(() => undefined); // closing anyway: the lease expires by TTL if this fails
      throw errors.closed('datanode');
    }
    this.session = session;
    session.once('lost', (err) => this.onSessionLost(session, err));
    this.emit('registered', serverId);
  }

  private onSessionLost(session: DataNodeSession, err: Error): void {
    if (this.session !== session || this.stateValue !== 'running') return;
    this.stateValue = 'recovering';
    this.session = undefined;
    this.log.warn({ err, serverId: session.serverId.toString() }, 'session lost: stopping every flowgraph and registering again');
    this.emit('sessionLost', session.serverId, err);
    this.recovery = this.recover().catch((e: unknown) => {
      if (this.stateValue === 'recovering') this.log.error({ err: e }, 'could not register a new session');
    });
  }

  /** After a lost session: stop every flowgraph, then register a new session (new server id). */
  private async recover(): Promise<void> {
    await this.exclusive(async () => {
      for (const c of this.channels.status()) {
        try {
          await this.channels.release(c.vchannel);
        } catch (err) {
          this.log.error({ err, vchannel: c.vchannel }, 'could not stop a flowgraph after the session was lost');
        }
      }
    });
    await retry(
      async () => {
        if (this.stateValue !== 'recovering') throw errors.closed('datanode');
        const id = await allocateServerId(this.kv);
        const previous = this.id;
        this.id = id;
        this.log = this.baseLog.child({ serverId: id.toString() });
        await this.register(id);
        this.stateValue = 'running';
        this.log.info({ previous: previous.toString() }, 'registered a new session');
      },
      {
        retries: Number.POSITIVE_INFINITY,
        maxTimeoutMs: 5_000,
        signal: this.stop.signal,
        shouldRetry: () => this.stateValue === 'recovering',
        onRetry: (err, attempt) => this.log.warn({ err, attempt }, 'registering a new session failed; retrying'),
      },
    );
  }

  /** Runs `fn` after every earlier exclusive function settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(fn);
    this.exclusiveTail = run.catch(() => undefined);
    return run;
  }

  private async shutdownGrpc(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ grpcGraceMs: this.grpcGraceMs }, 'calls still in progress at shutdown; cancelling them');
        this.grpc.forceShutdown();
        resolve();
      }, this.grpcGraceMs);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async drain(): Promise<void> {
    await this.exclusiveTail;
    const drained = await Promise.race([
      this.channels.close().then(
        () => true,
        (err: unknown) => {
          this.log.error({ err }, 'closing the flowgraphs failed');
          return true;
        },
      ),
      sleep(this.drainTimeoutMs).then(() => false),
    ]);
    // The lease is revoked all the same: the next owner resumes from the last saved checkpoint,
    // and the master refuses this node's late SaveBinlogPaths once the channel has moved.
    if (!drained) this.log.error({ drainTimeoutMs: this.drainTimeoutMs }, 'flowgraphs did not drain in time; continuing shutdown');
  }
}
