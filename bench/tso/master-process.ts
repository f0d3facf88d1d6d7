/**
 * The master a benchmark runs against: in this process, or in a child process (this file, forked
 * with the parent's loader flags) so the server's event loop does not share a thread with the
 * load generator. The child reports its port over IPC and stops when the parent disconnects.
 *
 * Backend: the embedded KV and log (LmdbKV + LmdbMsgStream, as `tidal standalone` runs them) in a
 * temp directory removed when the master stops, unless TIDAL_ETCD_ENDPOINTS is set; then etcd under
 * a unique root path (bench-tso-<pid>-<ms>), deleted when the master stops.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/common/config.js';
import { silentLogger } from '../../src/common/log.js';
import { createMetaKV } from '../../src/kv/create.js';
import { MasterServer } from '../../src/master/server.js';
import { createMsgStream } from '../../src/mq/create.js';

/** Where the benchmark's master runs. */
export type MasterPlacement = 'child' | 'in-process';

/** A master the benchmark talks to. */
export interface BenchMaster {
  /** Port of its gRPC server, on 127.0.0.1. */
  port: number;
  /** Process id of the master's child process; undefined when in-process. */
  pid: number | undefined;
  /** KV backend it uses, e.g. 'embedded (LmdbKV + LmdbMsgStream)' or 'etcd http://...' with the root path. */
  backend: string;
  /** Stops the master (and its process, for a child). Safe to call twice. */
  close(): Promise<void>;
}

/** Config overrides (backend section) from the environment: etcd when TIDAL_ETCD_ENDPOINTS is set. */
export function backendOverrides(env: NodeJS.ProcessEnv = process.env): { overrides: Record<string, unknown>; backend: string } {
  const endpoints = (env.TIDAL_ETCD_ENDPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (endpoints.length === 0) return { overrides: { kv: { backend: 'embedded' }, mq: { backend: 'embedded' } }, backend: 'embedded (LmdbKV + LmdbMsgStream, temp dir)' };
  const rootPath = `bench-tso-${process.pid}-${Date.now()}`;
  return {
    overrides: { kv: { backend: 'etcd' }, mq: { backend: 'embedded' }, etcd: { endpoints, rootPath } },
    backend: `etcd ${endpoints.join(',')} rootPath=${rootPath} (+ LmdbMsgStream, temp dir)`,
  };
}

/** Starts a master on 127.0.0.1 with `overrides` in this process; resolves once it serves as leader. */
async function startLocal(overrides: Record<string, unknown>): Promise<{ port: number; close: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tidal-bench-tso-'));
  const kvOverride = (overrides.kv ?? {}) as Record<string, unknown>;
  const mqOverride = (overrides.mq ?? {}) as Record<string, unknown>;
  const config = loadConfig({
    env: {},
    overrides: {
      ...overrides,
      kv: { ...kvOverride, localDir: join(dataDir, 'kv') },
      mq: { ...mqOverride, localDir: join(dataDir, 'mq') },
      master: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    },
  });
  const kv = createMetaKV(config, silentLogger);
  const stream = createMsgStream(config, silentLogger);
  const server = await MasterServer.start({ config, logger: silentLogger, kv, stream });
  await server.waitUntilLeader();
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await server.close();
      await stream.close();
      // Leave nothing behind in a shared etcd: every key of this run is under its unique root.
      if (config.kv.backend === 'etcd') await kv.deletePrefix('');
      await kv.close();
      rmSync(dataDir, { recursive: true, force: true });
    })());
  return { port: server.port, close };
}

/** Starts the benchmark's master `placement`-wise; resolves once it serves as leader. */
export async function startBenchMaster(placement: MasterPlacement): Promise<BenchMaster> {
  const { overrides, backend } = backendOverrides();
  if (placement === 'in-process') {
    const local = await startLocal(overrides);
    return { port: local.port, pid: undefined, backend, close: local.close };
  }
  const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(overrides)], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // A parent that dies must not leave its master running.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (msg: { port?: number; error?: string }) => (msg.port !== undefined ? resolve(msg.port) : reject(new Error(`bench master failed to start: ${msg.error}`))));
    child.once('exit', (code, signal) => reject(new Error(`bench master exited before serving (code ${code}, signal ${signal})`)));
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    pid: child.pid,
    backend,
    close: () => (closing ??= stopChild(child).finally(() => process.off('exit', killChild))),
  };
}

/** Disconnects (the child then closes its master and exits); kills it if it takes over 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  child.disconnect();
  await exited;
  clearTimeout(timer);
}

const CHILD_FLAG = '--tso-bench-master';

/** Child side: start, report the port, serve until the parent disconnects. */
async function runChild(overridesJson: string): Promise<void> {
  try {
    const local = await startLocal(JSON.parse(overridesJson) as Record<string, unknown>);
    process.once('disconnect', () => {
      void local.close().finally(() => process.exit(0));
    });
    process.send?.({ port: local.port });
  } catch (err) {
    process.send?.({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

if (process.argv[2] === CHILD_FLAG && process.send !== undefined) await runChild(process.argv[3] ?? '{}');
