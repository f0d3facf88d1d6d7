/**
 * Runs the real `tidal` binary (`node bin/tidal.js ...`) for the CLI tests, and spawns DataNode
 * processes (`tidal datanode`) next to the masters of test/integration/helpers/master.ts. Child
 * processes get this process's environment minus every TIDAL_* variable, plus what the test gives,
 * so the dev shell's exports never leak into a test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ProcessGroups, signalGroup } from '../../harness/process-groups.js';
import { REPO_ROOT } from '../../integration/helpers/master.js';

/** What one run of the binary printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDAL_')) env[k] = v;
  return { ...env, ...vars };
}

/** Runs `tidal ...args` with `env` (TIDAL_* variables) and resolves with its exit code and output. */
export function runTidal(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(REPO_ROOT, 'bin/tidal.js'), ...args],
      { cwd: REPO_ROOT, env: childEnv(env), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Runs `tidal ...args --output json`, expects exit 0 and returns the parsed JSON. */
export async function runJson<T = unknown>(args: readonly string[], env: Record<string, string> = {}): Promise<T> {
  const res = await runTidal([...args, '--output', 'json'], env);
  if (res.code !== 0) throw new Error(`tidal ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

/**
 * The stderr of a failed run as its one line (the assertion every bad-input test makes): fails
 * when the run succeeded, printed more than one line, or printed to stdout.
 */
export function oneLineError(res: CliResult): string {
  if (res.code === 0) throw new Error(`expected a failure, got exit 0 with stdout ${res.stdout}`);
  const lines = res.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${res.stderr}`);
  return lines[0]!;
}

const servers = new ProcessGroups();

/** A `tidal datanode` or `tidal standalone` child process. */
export class ServerProcess {
  private output = '';
  private readonly exited: Promise<void>;
  /** The port it printed. */
  port = 0;
  /** The server id it printed (0 when the line names none). */
  serverId = 0n;

  private constructor(private readonly child: ChildProcess) {
    const keep = (b: Buffer) => (this.output = (this.output + b.toString('utf8')).slice(-64 * 1024));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  /**
   * Spawns `tidal <args>` (`datanode`, `standalone ...`) with `env` and resolves once it prints
   * `tidal <command> listening on port N`. Kills it and rejects with its output if it exits or is
   * silent for `timeoutMs` first.
   */
  static async spawn(args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
    const child = spawn(process.execPath, [resolve(REPO_ROOT, 'bin/tidal.js'), ...args], {
      cwd: REPO_ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    servers.add(child);
    const proc = new ServerProcess(child);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /tidal \S+ listening on port (\d+)(?: \(server id (\d+)\))?/.exec(proc.output);
      if (m !== null) {
        proc.port = Number(m[1]);
        proc.serverId = m[2] === undefined ? 0n : BigInt(m[2]);
        return proc;
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        await proc.kill();
        throw new Error(`tidal ${args.join(' ')} did not start:\n${proc.output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** `127.0.0.1:{port}`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** What it printed (the last 64 KiB). */
  get log(): string {
    return this.output;
  }

  /** Sends SIGTERM and waits for the exit (a clean shutdown). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  /** SIGKILLs the process group and waits for the exit. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    signalGroup(this.child, 'SIGKILL');
    await this.exited;
  }
}
