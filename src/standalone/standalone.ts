/**
 * Standalone: a master and a DataNode in ONE process, sharing one metadata KV, one message log and
 * one object store. The code paths are those of the distributed mode (MasterServer and
 * DataNodeServer talk over gRPC on loopback, the DataNode finds the master through the election
 * key); only the backends differ, chosen by the configuration (defaults: the embedded KV, the
 * embedded log and the local object store, under `tidal-data/{kv,mq,storage}`).
 *
 * Start order: the stores → the master (listening, then serving as leader) → the DataNode (on a
 * free loopback port, registered). A failure at any step closes what was started and rethrows.
 *
 * Shutdown order: the DataNode (stop accepting, drain its flowgraphs, revoke its session) → the
 * master (stop accepting, close the leader's components, resign) → the log, the object store,
 * then the KV (the log and the store last used by the two servers; the KV last because both
 * servers' sessions live in it). Each step is bounded by `closeStepTimeoutMs`: a step that does not
 * finish in time is logged and the next one runs.
 */
import { createServer } from 'node:net';
import path from 'node:path';
import type { TidalConfig } from '../common/config.js';
import { errors } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { createDataPath } from '../datanode/data-path.js';
import { DataNodeServer } from '../datanode/server.js';
import { createMetaKV } from '../kv/create.js';
import type { MetaKV } from '../kv/meta-kv.js';
import { MasterServer } from '../master/server.js';
import { createMsgStream } from '../mq/create.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { createObjectStore } from '../storage/create.js';
import type { ObjectStore } from '../storage/object-store.js';

/** Where the embedded stores keep their files (absolute paths). */
export interface StandaloneDirs {
  kv: string;
  mq: string;
  storage: string;
}

/** Options of {@link Standalone.start}. */
export interface StandaloneOptions {
  /** The loaded configuration; backends, ports and directories come from it. */
  config: TidalConfig;
  logger: Logger;
  /**
   * Put the embedded KV, the embedded log and the local object store under DIR/kv, DIR/mq and
   * DIR/storage (overrides `kv.localDir`, `mq.localDir`, `storage.localDir`). Default: the
   * configured directories.
   */
  dataDir?: string;
  /** How long master leadership may take at start, ms. Default 30,000. */
  leaderTimeoutMs?: number;
  /** Bound of each shutdown step (DataNode, master, each store), ms. Default 60,000. */
  closeStepTimeoutMs?: number;
}

type State = 'running' | 'closing' | 'closed';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * The configuration standalone runs with: `dataDir` (when given, absolute) replaces the three local
 * directories (made absolute otherwise), and the DataNode listens on a free loopback port advertised as 127.0.0.1.
 */
export function standaloneConfig(config: TidalConfig, dataDir?: string): TidalConfig {
  // Absolute paths: the master publishes its configuration (GetSysConfigs), and a CLI in another
  // directory (`tidal insert`) opens the same message log from it.
  const dirs = {
    kv: { ...config.kv, localDir: dataDir === undefined ? path.resolve(config.kv.localDir) : path.join(dataDir, 'kv') },
    mq: { ...config.mq, localDir: dataDir === undefined ? path.resolve(config.mq.localDir) : path.join(dataDir, 'mq') },
    storage: { ...config.storage, localDir: dataDir === undefined ? path.resolve(config.storage.localDir) : path.join(dataDir, 'storage') },
  };
  return Object.freeze({
    ...config,
    ...dirs,
    datanode: { ...config.datanode, host: '127.0.0.1', port: 0, advertiseAddress: '' },
  });
}

/** A running standalone: master + DataNode in this process. */
export class Standalone {
  private state: State = 'running';

  private constructor(
    private readonly log: Logger,
    /** The configuration actually used (directories and DataNode address filled in). */
    readonly config: TidalConfig,
    /** The root of the data directories: `dataDir` if given, else the parent of `kv.localDir`. */
    readonly dataDir: string,
    /** The directories of the embedded KV, log and object store (absolute). */
    readonly dirs: StandaloneDirs,
    readonly kv: MetaKV,
    readonly stream: MsgStream,
    readonly store: ObjectStore,
    readonly master: MasterServer,
    readonly dataNode: DataNodeServer,
    /** host:port clients (TidalClient, the CLI) use to reach the master. */
    readonly masterAddress: string,
    private readonly closeStepTimeoutMs: number,
  ) {}

  /** The master's gRPC port. */
  get port(): number {
    return this.master.port;
  }

  /**
   * Opens the stores, starts the master, waits until it serves as leader, then starts the
   * DataNode. Resolves once both serve. On failure closes what it started and rethrows the cause
   * (e.g. the embedded KV refusing a data directory another process holds, or a taken port).
   */
  static async start(options: StandaloneOptions): Promise<Standalone> {
    const dataDir = options.dataDir === undefined ? undefined : path.resolve(options.dataDir);
    const base = standaloneConfig(options.config, dataDir);
    const master = await masterListen(base);
    const config = Object.freeze({ ...base, master: { ...base.master, port: master.port, advertiseAddress: master.advertise } });
    const log = options.logger.child({ role: 'standalone' });
    const dirs: StandaloneDirs = {
      kv: path.resolve(config.kv.localDir),
      mq: path.resolve(config.mq.localDir),
      storage: path.resolve(config.storage.localDir),
    };
    const closeStepTimeoutMs = options.closeStepTimeoutMs ?? 60_000;
    // Each factory may throw (the embedded KV refuses a directory another process holds): close
    // what was opened before rethrowing.
    const opened: Array<{ name: string; close: () => Promise<void> }> = [];
    const undo = async () => {
      for (const s of [...opened].reverse()) await bounded(s.name, s.close(), closeStepTimeoutMs, log);
    };
    let kv: MetaKV;
    let stream: MsgStream;
    let store: ObjectStore;
    try {
      kv = createMetaKV(config, options.logger);
      opened.push({ name: 'kv', close: () => kv.close() });
      store = createObjectStore(config, options.logger);
      opened.push({ name: 'object store', close: () => store.close() });
      stream = createMsgStream(config, options.logger);
      opened.push({ name: 'message log', close: () => stream.close() });
    } catch (err) {
      await undo();
      throw err;
    }
    try {
      const masterServer = await MasterServer.start({ config, logger: options.logger, kv, stream });
      opened.push({ name: 'master', close: () => masterServer.close() });
      await masterServer.waitUntilLeader(options.leaderTimeoutMs ?? 30_000);
      const dataNode = await DataNodeServer.start({ config, logger: options.logger, kv, stream, store, channels: createDataPath });
      opened.push({ name: 'datanode', close: () => dataNode.close() });
      const standalone = new Standalone(
        log,
        config,
        dataDir ?? path.dirname(dirs.kv),
        dirs,
        kv,
        stream,
        store,
        masterServer,
        dataNode,
        master.clientAddress,
        closeStepTimeoutMs,
      );
      log.info({ masterAddress: master.clientAddress, dataNode: dataNode.address, dirs }, 'standalone serving');
      return standalone;
    } catch (err) {
      await undo();
      throw err;
    }
  }

  /**
   * Closes the DataNode, then the master, then the stores, each step bounded by
   * `closeStepTimeoutMs`. Safe to call twice. Never throws: a failed step is logged.
   */
  async close(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'closing';
    await bounded('datanode', this.dataNode.close(), this.closeStepTimeoutMs, this.log);
    await bounded('master', this.master.close(), this.closeStepTimeoutMs, this.log);
    await closeStores(this.kv, this.stream, this.store, this.closeStepTimeoutMs, this.log);
    this.state = 'closed';
    this.log.info('standalone stopped');
  }
}

/** Closes the log, the object store, then the KV, each bounded. */
async function closeStores(kv: MetaKV, stream: MsgStream, store: ObjectStore, timeoutMs: number, log: Logger): Promise<void> {
  await bounded('message log', stream.close(), timeoutMs, log);
  await bounded('object store', store.close(), timeoutMs, log);
  await bounded('kv', kv.close(), timeoutMs, log);
}

/** Waits for `work` at most `timeoutMs`; logs a failure or a timeout and resolves either way. */
async function bounded(name: string, work: Promise<void>, timeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  try {
    const result = await Promise.race([work.then(() => 'done' as const), timeout]);
    if (result === 'timeout') log.error({ step: name, timeoutMs }, 'shutdown step did not finish in time; continuing');
  } catch (err) {
    log.error({ err, step: name }, 'shutdown step failed; continuing');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The master's port, the address it advertises in the election key (which the in-process
 * DataNode reads) and the address clients use. A wildcard or loopback listen host is advertised
 * as 127.0.0.1: standalone's DataNode is on this machine, and a host name may not resolve to a
 * loopback address. Port 0 is resolved to a free port first, because the advertised address must
 * be known before the master binds (the port could be taken in between: then the master's bind
 * fails with a clear error).
 */
async function masterListen(config: TidalConfig): Promise<{ port: number; advertise: string; clientAddress: string }> {
  const { host, advertiseAddress } = config.master;
  const local = WILDCARD_HOSTS.has(host) || LOOPBACK_HOSTS.has(host);
  const port = config.master.port !== 0 ? config.master.port : await freePort(local ? '127.0.0.1' : host);
  const hostPart = local ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const own = `${hostPart}:${port}`;
  return { port, advertise: advertiseAddress !== '' ? advertiseAddress : own, clientAddress: advertiseAddress !== '' ? advertiseAddress : own };
}

/** A TCP port free on `host` right now. */
async function freePort(host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err) => reject(errors.unavailable(`cannot find a free port on ${host}: ${err.message}`)));
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
