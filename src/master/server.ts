/**
 * The master process: a gRPC server, the KV and message-log clients, and the election. The
 * leader's components (MasterCore) run only while this master holds the election key.
 *
 * Shutdown order: stop accepting calls → close the leader's components (time ticks, segments,
 * DDL, allocators) → resign (revoke the election lease) → close the log and KV clients.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { hostname } from 'node:os';
import type { TidalConfig } from '../common/config.js';
import { errors } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { retry } from '../common/retry.js';
import { MasterService } from '../gen/master.js';
import { createMetaKV } from '../kv/create.js';
import type { MetaKV } from '../kv/meta-kv.js';
import { allocateServerId } from '../kv/server-id.js';
import { createMsgStream } from '../mq/create.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { LeaderElection } from './election/leader-election.js';
import { MasterCore } from './master-core.js';
import { MasterSession } from './master-session.js';
import { createMasterService } from './service.js';
import { SysConfig } from './sysconfig/sys-config.js';

export interface MasterServerOptions {
  config: TidalConfig;
  logger: Logger;
  /** Use this KV instead of building one from config (standalone shares one). Not closed by the server. */
  kv?: MetaKV;
  /** Use this log instead of building one from config. Not closed by the server. */
  stream?: MsgStream;
}

type State = 'starting' | 'running' | 'closing' | 'closed';

/** A running master. */
export class MasterServer {
  private state: State = 'starting';
  private core: MasterCore | undefined;
  private loop: Promise<void> | undefined;
  private readonly grpc = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });

  private constructor(
    private readonly config: TidalConfig,
    private readonly log: Logger,
    readonly kv: MetaKV,
    readonly stream: MsgStream,
    private readonly ownsClients: boolean,
    readonly serverId: bigint,
    readonly sysConfig: SysConfig,
    private election: LeaderElection | undefined,
    /** The port the gRPC server listens on. */
    public port: number,
  ) {}

  /** host:port other processes reach this master at. */
  address = '';
  /** `session/master/{id}` under a lease, so ShowNodes lists followers too. */
  private session: MasterSession | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private renewing = false;

  /** Starts the gRPC server and joins the election. Resolves once listening (not once leader). */
  static async start(options: MasterServerOptions): Promise<MasterServer> {
    const { config } = options;
    const kv = options.kv ?? createMetaKV(config, options.logger);
    const stream = options.stream ?? createMsgStream(config, options.logger);
    const serverId = await allocateServerId(kv);
    const log = options.logger.child({ role: 'master', serverId: serverId.toString() });
    const server = new MasterServer(config, log, kv, stream, options.kv === undefined, serverId, new SysConfig(kv), undefined, 0);
    server.grpc.addService(MasterService, createMasterService(server, log));
    server.port = await new Promise<number>((resolve, reject) => {
      server.grpc.bindAsync(`${config.master.host}:${config.master.port}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    const address = config.master.advertiseAddress !== '' ? config.master.advertiseAddress : `${hostname()}:${server.port}`;
    server.address = address;
    server.election = new LeaderElection({ kv, serverId, address, ttlSec: server.sessionTtlSec, logger: log });
    server.session = await server.registerSession().catch(async (err: unknown) => {
      await new Promise<void>((resolve) => server.grpc.tryShutdown(() => resolve()));
      if (options.kv === undefined) await kv.close();
      if (options.stream === undefined) await stream.close();
      throw err;
    });
    server.state = 'running';
    // A session whose lease lapsed (a long pause, an etcd outage) is registered again, so a live
    // master does not vanish from ShowNodes.
    server.sessionTimer = setInterval(() => void server.renewSession(), Math.max(500, config.master.sessionTtlMs / 2));
    server.sessionTimer.unref();
    server.loop = server.leadership();
    log.info({ port: server.port, address }, 'master listening');
    return server;
  }

  /** TTL of the election and session leases, whole seconds (etcd's unit). */
  private get sessionTtlSec(): number {
    return Math.max(1, Math.ceil(this.config.master.sessionTtlMs / 1000));
  }

  private registerSession(): Promise<MasterSession> {
    return MasterSession.register({
      kv: this.kv,
      serverId: this.serverId,
      address: this.address,
      ttlSec: this.sessionTtlSec,
      logger: this.log,
    });
  }

  /** Registers the session again when its lease was lost. */
  private async renewSession(): Promise<void> {
    if (this.renewing || this.state !== 'running' || this.session?.lost !== true) return;
    this.renewing = true;
    try {
      const session = await this.registerSession();
      if (this.state !== 'running') {
        await session.revoke();
        return;
      }
      this.session = session;
      this.log.info('master session registered again');
    } catch (err) {
      this.log.warn({ err }, 'master session could not be registered again; retrying');
    } finally {
      this.renewing = false;
    }
  }

  /** True while this master serves as leader. */
  isLeader(): boolean {
    return this.core !== undefined && (this.election?.isLeader() ?? false);
  }

  /** The leader's components; throws UNAVAILABLE naming the leader when this master is not serving. */
  async leaderCore(): Promise<MasterCore> {
    if (this.core !== undefined && this.election?.isLeader()) return this.core;
    if (this.state !== 'running') throw errors.unavailable(`master ${this.serverId} is shutting down`);
    const leader = await this.election?.currentLeader().catch(() => undefined);
    if (leader !== undefined && leader.serverId !== this.serverId.toString()) {
      throw errors.unavailable(`master ${this.serverId} is not the leader; the leader is master ${leader.serverId} at ${leader.address}`, { leader });
    }
    throw errors.unavailable(`master ${this.serverId} is starting and not serving yet; try again shortly`);
  }

  /** Resolves once this master serves as leader (for tests and standalone). */
  async waitUntilLeader(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isLeader()) {
      if (this.state !== 'running') throw errors.unavailable('master is not running');
      if (Date.now() > deadline) throw errors.unavailable(`master did not become leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Campaign → serve → on deposition close the core and campaign again, until closed. */
  private async leadership(): Promise<void> {
    const election = this.election!;
    while (this.state === 'running') {
      try {
        await election.campaign();
      } catch (err) {
        if (this.state !== 'running') return;
        this.log.warn({ err }, 'campaign failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const deposed = new Promise<void>((resolve) => election.once('deposed', () => resolve()));
      try {
        const core = await retry(
          async () => {
            if (!election.isLeader()) throw errors.unavailable('deposed while starting');
            const c = new MasterCore({ config: this.config, kv: this.kv, stream: this.stream, serverId: this.serverId, guard: () => election.guard(), logger: this.log });
            await c.start();
            return c;
          },
          { retries: 10, maxTimeoutMs: 2_000, onRetry: (err) => this.log.warn({ err }, 'leader start failed; retrying') },
        );
        this.core = core;
        core.tso.once('fenced', () => void election.close());
        this.log.info('master serving as leader');
        await deposed;
      } catch (err) {
        this.log.error({ err }, 'could not start serving as leader; resigning');
      }
      const core = this.core;
      this.core = undefined;
      await core?.close();
      if (this.state === 'running') {
        // A fresh candidate for the next term (the old one resigned or lost its lease).
        await election.close();
        this.election = new LeaderElection({
          kv: this.kv,
          serverId: this.serverId,
          address: this.address,
          ttlSec: this.sessionTtlSec,
          logger: this.log,
        });
        return this.leadership();
      }
    }
  }

  /** Stops serving, in the documented order. Safe to call twice. */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    await new Promise<void>((resolve) => this.grpc.tryShutdown(() => resolve()));
    const core = this.core;
    this.core = undefined;
    await core?.close();
    await this.election?.close();
    await this.loop?.catch(() => undefined);
    clearInterval(this.sessionTimer);
    await this.session?.revoke().catch((err: unknown) => this.log.warn({ err }, 'master session revoke failed; it lapses by TTL'));
    if (this.ownsClients) {
      await this.stream.close();
      await this.kv.close();
    }
    this.state = 'closed';
    this.log.info('master stopped');
  }
}
