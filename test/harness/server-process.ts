/**
 * A server process started by the harness: its own process group, output captured to a log file,
 * stopped by signalling the whole group, and killed on harness exit whatever happens, so a test run
 * leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone: nothing to stop.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of live) killGroup(child, 'SIGKILL');
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface ServerProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A running server process. */
export class ServerProcess {
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        live.delete(child);
        resolve();
      });
    });
  }

  /** Spawns the process in its own process group with stdout/stderr going to `logFile`. */
  static spawn(options: ServerProcessOptions): ServerProcess {
    installExitHook();
    const fd = openSync(options.logFile, 'a');
    try {
      const child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      live.add(child);
      // The harness's own exit must not wait for the server.
      child.unref();
      return new ServerProcess(options.name, child, options.logFile);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** A reason string when the process has exited (for wait loops), else undefined. */
  deadReason = (): string | undefined => {
    if (this.exited === undefined) return undefined;
    return `${this.name} exited early (code ${this.exited.code}, signal ${this.exited.signal}); last log lines:\n${this.tail()}`;
  };

  /** The last lines of the process's log. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Stops the process group: SIGTERM, then SIGKILL after `graceMs`. Safe to call twice. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited !== undefined) return;
    killGroup(this.child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
    // Children of the server (if any) share its group: make sure none survives.
    killGroup(this.child, 'SIGKILL');
  }

  /** Kills the process group at once (SIGKILL). */
  async kill(): Promise<void> {
    if (this.exited !== undefined) return;
    killGroup(this.child, 'SIGKILL');
    await this.exitPromise;
  }
}
