/**
 * DataNode processes for the DataNode fault tests: `node bin/tidal.js datanode` as a child process
 * in its own process group, configured only through `TIDAL_*` variables (etcd, Kafka and S3 of
 * the harness, or a private S3), its port and server id read from the line it prints, killed with
 * SIGKILL. Every spawned process is tracked: {@link killAllDataNodes} (in `afterAll`) and an exit
 * hook SIGKILL whatever is still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { DataNodeClient, GetStatusResponse } from '../../src/gen/datanode.js';
import type { S3Endpoint } from '../harness/endpoints.js';
import { endpoints } from '../harness/endpoints.js';
import { ProcessGroups, signalGroup } from '../harness/process-groups.js';
import { REPO_ROOT, type MasterNamespace } from '../integration/helpers/master.js';

const dataNodes = new ProcessGroups();

/** What a test DataNode runs with. */
export interface DataNodeEnvOptions {
  ns: MasterNamespace;
  bucket: string;
  /** Default: the harness's S3. */
  s3?: S3Endpoint;
  /** `TIDAL_FAILPOINTS` (see src/common/failpoint.ts). */
  failpoints?: string;
  /** More `TIDAL_*` variables (they win). */
  extra?: Record<string, string>;
}

/** The `TIDAL_*` variables of a DataNode in `ns`, writing to `bucket`. */
export async function dataNodeEnv(o: DataNodeEnvOptions): Promise<Record<string, string>> {
  const ep = await endpoints();
  const s3 = o.s3 ?? ep.s3;
  return {
    TIDAL_KV_BACKEND: 'etcd',
    TIDAL_MQ_BACKEND: 'kafka',
    TIDAL_STORAGE_BACKEND: 's3',
    TIDAL_ETCD_ENDPOINTS: ep.etcd.join(','),
    TIDAL_KAFKA_BROKERS: ep.kafka.join(','),
    TIDAL_ETCD_ROOT_PATH: o.ns.rootPath,
    TIDAL_S3_ENDPOINT: s3.endpoint,
    TIDAL_S3_REGION: s3.region,
    TIDAL_S3_ACCESS_KEY_ID: s3.accessKeyId,
    TIDAL_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    TIDAL_S3_BUCKET: o.bucket,
    TIDAL_S3_ROOT_PATH: 'files',
    TIDAL_DATANODE_HOST: '127.0.0.1',
    TIDAL_DATANODE_PORT: '0',
    // The schema's minimum: a killed node's session lapses (and its vchannels move) in ~2 s.
    TIDAL_DATANODE_SESSION_TTL_MS: '2000',
    TIDAL_LOG_LEVEL: 'warn',
    ...(o.failpoints === undefined ? {} : { TIDAL_FAILPOINTS: o.failpoints }),
    ...o.extra,
  };
}

const LISTENING = /tidal datanode listening on port (\d+) \(server id (\d+)\)/;
const MAX_OUTPUT_CHARS = 256 * 1024;

/** A `tidal datanode` child process. */
export class DataNodeProcess {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  private client: DataNodeClient | undefined;
  /** gRPC port, from the line the node prints. */
  port = 0;
  /** Server id, from the same line. */
  serverId = 0n;

  private constructor(private readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitPromise = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        done();
      });
    });
  }

  /** Spawns a DataNode with `env` (see {@link dataNodeEnv}); resolves once it listens. */
  static async spawn(env: Record<string, string>, timeoutMs = 30_000): Promise<DataNodeProcess> {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDAL_')) base[k] = v;
    const child = spawn(process.execPath, [resolve(REPO_ROOT, 'bin/tidal.js'), 'datanode'], {
      cwd: REPO_ROOT,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    dataNodes.add(child);
    const proc = new DataNodeProcess(child);
    try {
      await proc.waitFor(LISTENING, timeoutMs, 'its listening line');
      const m = LISTENING.exec(proc.output)!;
      proc.port = Number(m[1]);
      proc.serverId = BigInt(m[2]!);
    } catch (err) {
      await proc.kill();
      throw err;
    }
    return proc;
  }

  /** Resolves once the output matches `re`; rejects (with the output) on exit or after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs: number, what = re.source): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (re.test(this.output)) return;
      if (this.exited !== undefined) throw new Error(`datanode exited (code ${this.exited.code}, signal ${this.exited.signal}) before ${what}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`datanode printed no ${what} within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves once the process has exited, with its signal; rejects after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<NodeJS.Signals | null> {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`datanode still alive after ${timeoutMs} ms:\n${this.output}`)), timeoutMs).unref());
    await Promise.race([this.exitPromise, timeout]);
    return this.exited!.signal;
  }

  /** The child's pid. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  /** stdout + stderr (the last 256 KiB). */
  get log(): string {
    return this.output;
  }

  /** VmRSS of the process from /proc, bytes (undefined once it is gone). */
  rssBytes(): number | undefined {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m === null ? undefined : Number(m[1]) * 1024;
    } catch {
      return undefined; // the process exited between the check and the read
    }
  }

  /** GetStatus of the node over gRPC. */
  async status(): Promise<GetStatusResponse> {
    this.client ??= new DataNodeClient(`127.0.0.1:${this.port}`, credentials.createInsecure());
    const client = this.client;
    return new Promise((done, reject) => {
      client.getStatus({ base: undefined }, new Metadata(), { deadline: new Date(Date.now() + 5_000) }, (err, res) => (err ? reject(err) : done(res)));
    });
  }

  /** SIGKILLs the process group; resolves once it exited. Safe to call twice. */
  async kill(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    if (this.exited !== undefined) return;
    signalGroup(this.child, 'SIGKILL');
    await this.exitPromise;
  }
}

/** SIGKILLs every DataNode process still alive (for `afterAll`). */
export async function killAllDataNodes(): Promise<void> {
  await dataNodes.killAll();
}
