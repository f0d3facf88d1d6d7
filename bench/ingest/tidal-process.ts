/**
 * `node bin/tidal.js master|datanode` as a child process of the benchmark, configured only through
 * TIDAL_* variables (the benchmark's own TIDAL_* environment is not passed on). It leads its own
 * process group; the port comes from the line it prints on stdout; every other line (pino JSON) is
 * kept so the benchmark can read events with their times. A child still alive when the benchmark
 * exits (or is interrupted with SIGINT / SIGTERM) is SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is bench/ingest/tidal-process.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const LISTENING = /tidal (master|datanode) listening on port (\d+) \(server id (\d+)\)/;
const MAX_KEPT_CHARS = 256 * 1024;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone: nothing to signal.
  }
}

/** One JSON log line of the child, with the wall-clock ms the bench read it at. */
export interface ChildLogLine {
  readAtMs: number;
  entry: Record<string, unknown>;
}

/** A running `tidal` child process. */
export class TidalProcess {
  private output = '';
  private partial = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  private readonly waiters: { match: (l: ChildLogLine) => boolean; resolve: (l: ChildLogLine) => void }[] = [];
  /** JSON log lines whose `msg` is in `watchMessages`. */
  readonly events: ChildLogLine[] = [];
  /** gRPC port, from the line the process prints. */
  port = 0;
  /** Wall-clock ms when the listening line was read. */
  listeningAtMs = 0;

  private constructor(
    readonly role: 'master' | 'datanode',
    private readonly child: ChildProcess,
    private readonly watchMessages: ReadonlySet<string>,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk.toString('utf8')));
    this.exitPromise = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        live.delete(child);
        res();
      });
    });
  }

  /**
   * Spawns `node [nodeArgs] bin/tidal.js <role>` with exactly `vars` as its TIDAL_* environment
   * (`nodeArgs` e.g. `--cpu-prof`, which NODE_OPTIONS does not accept), and resolves once it prints where it
   * listens. Kills it and rejects with its output if it exits or stays silent for `timeoutMs`.
   * `watchMessages`: pino `msg` texts whose lines are kept in {@link TidalProcess.events}.
   */
  static async spawn(
    role: 'master' | 'datanode',
    vars: Record<string, string>,
    options: { timeoutMs?: number; nodeArgs?: readonly string[]; watchMessages?: readonly string[] } = {},
  ): Promise<TidalProcess> {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      const killAll = () => {
        for (const c of live) killGroup(c, 'SIGKILL');
      };
      process.once('exit', killAll);
      // Ctrl-C: a default SIGINT ends the bench without 'exit', and detached children would stay.
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          killAll();
          process.exit(130);
        });
      }
    }
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TIDAL_') && k !== 'NODE_OPTIONS') env[k] = v;
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), resolve(REPO_ROOT, 'bin/tidal.js'), role], {
      cwd: REPO_ROOT,
      env: { ...env, ...vars },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child);
    const proc = new TidalProcess(role, child, new Set(options.watchMessages ?? []));
    try {
      await proc.waitForListening(options.timeoutMs ?? 60_000);
    } catch (err) {
      await proc.kill();
      throw err;
    }
    return proc;
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

  /** How it exited, once it has. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }

  /** The last 256 KiB of what it wrote (stdout and stderr). */
  get log(): string {
    return this.output;
  }

  /** Resolves with the first kept line (past or future) that `match` accepts; rejects if the process exits first. */
  waitForEvent(match: (l: ChildLogLine) => boolean): Promise<ChildLogLine> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      this.waiters.push({ match, resolve: res });
      void this.exitPromise.then(() => rej(new Error(`tidal ${this.role} exited (${JSON.stringify(this.exited)}) while the bench waited for it:\n${this.tail()}`)));
    });
  }

  /** Peak and current resident set size from /proc/PID/status, in bytes; undefined when unreadable (exited, no /proc). */
  memory(): { rssBytes: number; hwmBytes: number } | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
      const rssBytes = kb('VmRSS');
      const hwmBytes = kb('VmHWM');
      return Number.isFinite(rssBytes) && Number.isFinite(hwmBytes) ? { rssBytes, hwmBytes } : undefined;
    } catch {
      return undefined; // the process is gone, or this is not Linux
    }
  }

  /** SIGTERM (the process closes in its documented order and exits); SIGKILL after `graceMs`. Safe to call twice. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.exited !== undefined) return;
    killGroup(this.child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  /** SIGKILLs the process group and resolves once it has exited. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.exited !== undefined) return;
    killGroup(this.child, 'SIGKILL');
    await this.exitPromise;
  }

  /** The last lines of the output, for error messages. */
  tail(lines = 30): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  private keep(text: string): void {
    this.output = (this.output + text).slice(-MAX_KEPT_CHARS);
  }

  private onData(chunk: Buffer): void {
    const text = chunk.toString('utf8');
    this.keep(text);
    const readAtMs = Date.now();
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (this.listeningAtMs === 0) {
        const m = LISTENING.exec(line);
        if (m !== null) {
          this.port = Number(m[2]);
          this.listeningAtMs = readAtMs;
          continue;
        }
      }
      if (!line.startsWith('{')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // not a pino line: kept in the output only
      }
      if (typeof entry.msg !== 'string' || !this.watchMessages.has(entry.msg)) continue;
      const l = { readAtMs, entry };
      this.events.push(l);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        if (this.waiters[i]!.match(l)) this.waiters.splice(i, 1)[0]!.resolve(l);
      }
    }
  }

  private async waitForListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.listeningAtMs === 0) {
      if (this.exited !== undefined) throw new Error(`tidal ${this.role} exited before listening (code ${this.exited.code}, signal ${this.exited.signal}):\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`tidal ${this.role} printed no listening line within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
