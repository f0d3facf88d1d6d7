/**
 * Child processes that lead process groups of their own (spawned with `detached: true`): signalled
 * as a whole group, tracked until they exit, and SIGKILLed when the test process exits whatever
 * happens, so no test leaves a process behind. Each helper keeps its own {@link ProcessGroups} so
 * its `killAll` touches only its own children.
 */
import type { ChildProcess } from 'node:child_process';

/** Sends `signal` to the child's whole process group; a no-op once it has exited. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone: nothing left to signal.
  }
}

const registries = new Set<Set<ChildProcess>>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const live of registries) for (const child of live) signalGroup(child, 'SIGKILL');
  });
}

/** A set of tracked process-group leaders. */
export class ProcessGroups {
  private readonly live = new Set<ChildProcess>();

  constructor() {
    registries.add(this.live);
  }

  /** Tracks `child` until it exits. */
  add(child: ChildProcess): void {
    installExitHook();
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
  }

  /** SIGKILLs every tracked group still alive and waits for the exits (for `afterAll`). */
  async killAll(): Promise<void> {
    await Promise.all(
      [...this.live].map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            signalGroup(child, 'SIGKILL');
          }),
      ),
    );
  }
}
