/**
 * Masters for integration and fault tests, on the harness's real etcd and Kafka:
 *
 * - {@link startMaster}: an in-process `MasterServer` (kv etcd, mq Kafka, port 0, two DML
 *   channels, silent logger) under a root path and channel prefix of the caller's choosing.
 * - {@link spawnMaster}: `node bin/tidal.js master` as a child process configured only through
 *   `TIDAL_*` variables, its port read from the line it prints on stdout, killed with SIGKILL.
 *
 * Every spawned process is tracked: {@link killAllMasterProcesses} (call it in `afterAll`) and an
 * exit hook SIGKILL whatever is still alive, so no test leaves a master behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type TidalConfig, type TidalConfigInput } from '../../../src/common/config.js';
import { ErrorCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/log.js';
import { EtcdKV } from '../../../src/kv/etcd/etcd-kv.js';
import { MasterServer } from '../../../src/master/server.js';
import { KafkaMsgStream } from '../../../src/mq/kafka/kafka-msg-stream.js';
import { MasterClient } from '../../../src/proxy/master-client.js';
import { endpoints, uniqueName } from '../../harness/endpoints.js';
import { ProcessGroups, signalGroup } from '../../harness/process-groups.js';
import { rejection } from '../../helpers/rejection.js';

/** The repository root (this file is test/integration/helpers/master.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** DML pchannels every test master runs with. */
export const TEST_DML_CHANNEL_NUM = 2;
/** Election session TTL of test masters, ms (the schema's minimum): a dead leader's key lapses in ~2 s. */
export const TEST_SESSION_TTL_MS = 2_000;

/** Where a test master keeps its state: an etcd root path and a Kafka channel prefix of its own. */
export interface MasterNamespace {
  rootPath: string;
  channelPrefix: string;
}

/** A fresh namespace (`{prefix}-{pid}-{time}-{n}`) for one test file or test. */
export function masterNamespace(prefix: string): MasterNamespace {
  const name = uniqueName(prefix);
  return { rootPath: name, channelPrefix: name };
}

function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const cur = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(cur) && isObj(v) ? merge(cur, v) : v;
  }
  return out;
}

/**
 * The configuration of a test master in `ns`: etcd and Kafka from the harness, port 0 on
 * 127.0.0.1, two DML channels, a 2 s session TTL, logging off; `overrides` win. The process
 * environment is ignored (the dev shell exports TIDAL_* endpoint variables).
 */
export async function masterConfig(ns: MasterNamespace, overrides: TidalConfigInput = {}): Promise<TidalConfig> {
  const ep = await endpoints();
  const base: TidalConfigInput = {
    etcd: { endpoints: ep.etcd, rootPath: ns.rootPath },
    kafka: { brokers: ep.kafka, clientId: 'tidal-it-master' },
    kv: { backend: 'etcd' },
    mq: { backend: 'kafka' },
    master: { host: '127.0.0.1', port: 0, dmlChannelNum: TEST_DML_CHANNEL_NUM, channelPrefix: ns.channelPrefix, sessionTtlMs: TEST_SESSION_TTL_MS },
    log: { level: 'silent' },
  };
  return loadConfig({ env: {}, overrides: merge(base as Record<string, unknown>, overrides as Record<string, unknown>) as TidalConfigInput });
}

/** An in-process master and a client connected to it. */
export interface InProcessMaster {
  server: MasterServer;
  config: TidalConfig;
  /** `127.0.0.1:{port}`. */
  address: string;
  client: MasterClient;
  /** Closes the client and the server. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a MasterServer in `ns` (see {@link masterConfig}) and, unless `waitForLeader` is false,
 * waits until it serves as leader.
 */
export async function startMaster(ns: MasterNamespace, options: { overrides?: TidalConfigInput; waitForLeader?: boolean } = {}): Promise<InProcessMaster> {
  const config = await masterConfig(ns, options.overrides);
  const server = await MasterServer.start({ config, logger: silentLogger });
  const address = `127.0.0.1:${server.port}`;
  const client = new MasterClient(address, { deadlineMs: 15_000 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    client.close();
    await server.close();
  };
  if (options.waitForLeader !== false) {
    try {
      await server.waitUntilLeader(30_000);
    } catch (err) {
      await close();
      throw err;
    }
  }
  return { server, config, address, client, close };
}

// ---- child processes ----------------------------------------------------------------------------

const masters = new ProcessGroups();

/** The environment of a spawned master: this process's, minus every TIDAL_* variable, plus `vars`. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDAL_')) env[k] = v;
  return { ...env, ...vars };
}

/** The `TIDAL_*` variables of a test master in `ns` (etcd + Kafka from the harness). */
export async function masterEnv(ns: MasterNamespace, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const ep = await endpoints();
  return {
    TIDAL_KV_BACKEND: 'etcd',
    TIDAL_MQ_BACKEND: 'kafka',
    TIDAL_ETCD_ENDPOINTS: ep.etcd.join(','),
    TIDAL_KAFKA_BROKERS: ep.kafka.join(','),
    TIDAL_ETCD_ROOT_PATH: ns.rootPath,
    TIDAL_MASTER_CHANNEL_PREFIX: ns.channelPrefix,
    TIDAL_MASTER_DML_CHANNEL_NUM: String(TEST_DML_CHANNEL_NUM),
    TIDAL_MASTER_HOST: '127.0.0.1',
    TIDAL_MASTER_PORT: '0',
    TIDAL_MASTER_SESSION_TTL_MS: String(TEST_SESSION_TTL_MS),
    TIDAL_LOG_LEVEL: 'warn',
    ...extra,
  };
}

const LISTENING = /tidal master listening on port (\d+) \(server id (\d+)\)/;
const MAX_OUTPUT_CHARS = 64 * 1024;

/** A `tidal master` child process. */
export class MasterProcess {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  /** gRPC port, from the line the master prints. */
  port = 0;
  /** Server id, from the same line. */
  serverId = 0n;

  private constructor(private readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
    });
  }

  /**
   * Spawns `node bin/tidal.js master` with `env` (see {@link masterEnv}) and resolves once it
   * prints where it listens. Kills it and rejects (with its output) if it exits or is silent for
   * `timeoutMs` first.
   */
  static async spawn(env: Record<string, string>, timeoutMs = 30_000): Promise<MasterProcess> {
    const child = spawn(process.execPath, [resolve(REPO_ROOT, 'bin/tidal.js'), 'master'], {
      cwd: REPO_ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    masters.add(child);
    const proc = new MasterProcess(child);
    try {
      await proc.waitForListening(timeoutMs);
    } catch (err) {
      await proc.kill();
      throw err;
    }
    return proc;
  }

  private async waitForListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = LISTENING.exec(this.output);
      if (m !== null) {
        this.port = Number(m[1]);
        this.serverId = BigInt(m[2]!);
        return;
      }
      if (this.exited !== undefined) {
        throw new Error(`tidal master exited before listening (code ${this.exited.code}, signal ${this.exited.signal}):\n${this.output}`);
      }
      if (Date.now() > deadline) throw new Error(`tidal master printed no listening line within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The child's pid. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** `127.0.0.1:{port}`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  /** What the process wrote on stdout and stderr (the last 64 KiB). */
  get log(): string {
    return this.output;
  }

  /** SIGKILLs the process (its whole group) and resolves once it has exited. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.exited !== undefined) return;
    signalGroup(this.child, 'SIGKILL');
    await this.exitPromise;
  }
}

/** Spawns a `tidal master` in `ns` (see {@link masterEnv}; `extra` adds or replaces variables). */
export async function spawnMaster(ns: MasterNamespace, extra: Record<string, string> = {}): Promise<MasterProcess> {
  return MasterProcess.spawn(await masterEnv(ns, extra));
}

/** SIGKILLs every master process still alive (for `afterAll`). */
export async function killAllMasterProcesses(): Promise<void> {
  await masters.killAll();
}

/** True when a process with this pid exists (signal 0 probe). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- clients ------------------------------------------------------------------------------------

/**
 * Polls Ping on `client` until the master answers `leader: true`; resolves with its server id.
 * Transport errors (not listening yet) count as "not yet". Rejects after `timeoutMs`.
 */
export async function waitForLeader(client: MasterClient, timeoutMs = 20_000): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const res = await client.call('ping', {});
      if (res.leader) return res.serverId;
      last = `master ${res.serverId} answers leader: false`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms at ${client.address}: ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `{code, message}` of a failed call, for one `toEqual`/`toMatchObject`. */
export async function failure(p: Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  const err = await rejection(p);
  return { code: err.code, message: err.message };
}

// ---- cleanup ------------------------------------------------------------------------------------

/**
 * Deletes what masters in `ns` left behind: every etcd key under its root path and its Kafka
 * channels (`{prefix}-dd`, `{prefix}-dml_{i}`). Best-effort: a failure is not the test's outcome.
 */
export async function cleanupNamespace(ns: MasterNamespace, dmlChannelNum = TEST_DML_CHANNEL_NUM): Promise<void> {
  const ep = await endpoints();
  const kv = new EtcdKV({ endpoints: ep.etcd, rootPath: ns.rootPath });
  try {
    await kv.deletePrefix('');
  } catch {
    // Best-effort: a unique root path left behind harms no other test.
  } finally {
    await kv.close().catch(() => undefined); // closing a client that failed is best-effort too
  }
  const stream = new KafkaMsgStream({ brokers: ep.kafka, clientId: 'tidal-it-cleanup' });
  try {
    for (const channel of [`${ns.channelPrefix}-dd`, ...Array.from({ length: dmlChannelNum }, (_, i) => `${ns.channelPrefix}-dml_${i}`)]) {
      await stream.deleteChannel(channel).catch(() => undefined); // best-effort, as above
    }
  } finally {
    await stream.close();
  }
}

export { ErrorCode };
