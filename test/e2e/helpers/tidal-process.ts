/**
 * `tidal` server processes for the end-to-end tests: `node bin/tidal.js master|datanode|standalone`
 * in a process group of its own, configured through `TIDAL_*` variables only (the test's own
 * `TIDAL_*` variables are not inherited), ready once it prints its listening line, stopped with a
 * signal to the whole group. Every process is tracked: {@link killAllTidalProcesses} (in
 * `afterAll`) and an exit hook SIGKILL whatever is still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroups, signalGroup } from '../../harness/process-groups.js';

/** The repository root (this file is test/e2e/helpers/tidal-process.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const tidalProcesses = new ProcessGroups();
const MAX_OUTPUT_CHARS = 256 * 1024;

/** This process's environment without any TIDAL_* variable, plus `vars`. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDAL_')) env[k] = v;
  return { ...env, ...vars };
}

/** The node command line of `tidal <args>` (bin/tidal.js), with `nodeArgs` before the script. */
export function tidalCommand(args: readonly string[], nodeArgs: readonly string[] = []): string[] {
  return [...nodeArgs, resolve(REPO_ROOT, 'bin/tidal.js'), ...args];
}

/** A `tidal` server child process. */
export class TidalProcess {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  /** The groups of the listening line's pattern. */
  match: RegExpExecArray | undefined;
  /** ms from spawn to the listening line. */
  readyMs = 0;

  private constructor(private readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitPromise = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        res();
      });
    });
  }

  /**
   * Spawns `tidal <args>` with exactly `env` as its TIDAL_* variables and resolves once its output
   * matches `listening`. Kills it and rejects (with its output) if it exits or stays silent for
   * `timeoutMs` first. `nodeArgs` go to node before the script (e.g. `--cpu-prof`).
   */
  static async spawn(args: readonly string[], env: Record<string, string>, listening: RegExp, timeoutMs = 60_000, nodeArgs: readonly string[] = []): Promise<TidalProcess> {
    const started = Date.now();
    const child = spawn(process.execPath, tidalCommand(args, nodeArgs), { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    tidalProcesses.add(child);
    const proc = new TidalProcess(child);
    const deadline = started + timeoutMs;
    for (;;) {
      const m = listening.exec(proc.output);
      if (m !== null) {
        proc.match = m;
        proc.readyMs = Date.now() - started;
        return proc;
      }
      if (proc.exited !== undefined) throw new Error(`tidal ${args.join(' ')} exited before listening (code ${proc.exited.code}, signal ${proc.exited.signal}):\n${proc.output.slice(-4000)}`);
      if (Date.now() > deadline) {
        await proc.kill();
        throw new Error(`tidal ${args.join(' ')} printed no listening line within ${timeoutMs} ms:\n${proc.output.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Spawns `tidal <args>` expecting it to fail; resolves with its exit code and output. */
  static async runToExit(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; output: string; stderr: string }> {
    const child = spawn(process.execPath, tidalCommand(args), { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    tidalProcesses.add(child);
    let output = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString('utf8');
      stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    clearTimeout(timer);
    return { code, output, stderr };
  }

  /** The child's pid. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  /** How it exited (undefined while alive). */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }

  /** What the process wrote on stdout and stderr (the last 256 KiB). */
  get log(): string {
    return this.output;
  }

  /** Sends `signal` to the process group and resolves once the process has exited. */
  async stop(signal: NodeJS.Signals, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exited === undefined) {
      signalGroup(this.child, signal);
      const timer = setTimeout(() => signalGroup(this.child, 'SIGKILL'), timeoutMs);
      await this.exitPromise;
      clearTimeout(timer);
    }
    return this.exited!;
  }

  /** SIGKILLs the process group and resolves once it has exited. Safe to call twice. */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }
}

/** SIGKILLs every tidal process still alive (for `afterAll`). */
export async function killAllTidalProcesses(): Promise<void> {
  await tidalProcesses.killAll();
}

/** `tidal master listening on port N (server id S)`. */
export const MASTER_LISTENING = /tidal master listening on port (\d+) \(server id (\d+)\)/;
/** `tidal datanode listening on port N (server id S)`. */
export const DATANODE_LISTENING = /tidal datanode listening on port (\d+) \(server id (\d+)\)/;
/** `tidal standalone listening on port N (data in DIR)`. */
export const STANDALONE_LISTENING = /tidal standalone listening on port (\d+) \(data in (.+)\)\n/;
