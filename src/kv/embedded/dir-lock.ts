/**
 * DirLock: one process at a time owns a data directory, as PostgreSQL's postmaster.pid does it.
 *
 * The owner keeps a `LOCK` file in the directory naming its pid, its start time (Linux
 * `/proc/<pid>/stat`) and the boot it runs in. The file appears atomically with its content (a
 * hard link of a finished temp file), so it is never seen half-written. A second opener reads it:
 * if that process is alive (the same pid, started at the same time, in the same boot) the open
 * fails at once with FAILED_PRECONDITION naming the directory and the pid; otherwise the lock is
 * stale (its owner was killed, even with SIGKILL, or the machine rebooted, or the pid was reused)
 * and is taken over. Only a process holding the `LOCK.takeover` guard (created exclusively) may
 * delete `LOCK`, and only after reading it again under the guard and finding the same stale
 * content; creating `LOCK` is atomic and fails when one exists. So however many processes race for
 * one stale lock, exactly one creates the next `LOCK`. A guard left by a process that died inside
 * those few microseconds is removed once it is older than {@link STALE_GUARD_MS}.
 *
 * Limits: the liveness check sees only processes of this machine's pid namespace; a directory
 * shared between hosts or containers is refused only while its `LOCK` file names a live local pid.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ErrorCode, TidalError } from '../../common/errors.js';

/** What a `LOCK` file says about its owner. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** The process's start time in clock ticks since boot (Linux), or undefined elsewhere. */
  startTime?: string;
  /** The kernel's boot id (Linux), or undefined elsewhere. */
  bootId?: string;
}

/** The name of the lock file inside a held directory. */
export const LOCK_FILE = 'LOCK';

/** How many times acquiring is tried before giving up (others keep racing for the lock). */
const MAX_ATTEMPTS = 200;
/** Guard file serialising the removal of a stale `LOCK`. */
const GUARD_FILE = `${LOCK_FILE}.takeover`;
/** A takeover guard older than this was left by a dead process, ms. */
export const STALE_GUARD_MS = 10_000;
/** Pause between attempts while another process holds the takeover guard, ms. */
const GUARD_WAIT_MS = 5;

/** A held directory. Release it with {@link DirLock.release}. */
export class DirLock {
  private released = false;

  private constructor(
    /** The held directory, as an absolute path. */
    readonly dir: string,
    private readonly content: string,
  ) {}

  /**
   * Creates `dir` if needed and takes it for this process. Throws FAILED_PRECONDITION when a live
   * process (this one included) holds it, BACKEND_UNAVAILABLE when the file system refuses.
   */
  static acquire(dir: string): DirLock {
    const abs = resolve(dir);
    const lockPath = join(abs, LOCK_FILE);
    try {
      mkdirSync(abs, { recursive: true });
    } catch (err) {
      throw fsError(`cannot create the data directory ${abs}`, err, abs);
    }
    const content = JSON.stringify(currentOwner());
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (createLockFile(abs, lockPath, content)) return new DirLock(abs, content);
      const seen = readLock(lockPath);
      if (seen === undefined) continue; // Released meanwhile: try again.
      const owner = parseOwner(seen);
      if (owner !== undefined && isAlive(owner)) throw heldError(abs, owner);
      takeOverStale(abs, lockPath, seen);
    }
    throw new TidalError(ErrorCode.FailedPrecondition, `could not take the data directory ${abs}: other processes keep taking its lock`, { context: { dir: abs } });
  }

  /** Removes the lock file if it is still this process's. Safe to call twice. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const lockPath = join(this.dir, LOCK_FILE);
    if (readLock(lockPath) !== this.content) return;
    try {
      unlinkSync(lockPath);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

/** Creates the lock file with its content in one step; false when one exists already. */
function createLockFile(dir: string, lockPath: string, content: string): boolean {
  const temp = join(dir, `${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, content, { flag: 'wx' });
  } catch (err) {
    throw fsError(`cannot write in the data directory ${dir}`, err, dir);
  }
  try {
    linkSync(temp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError(`cannot create the lock file ${lockPath}`, err, dir);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // A leftover temp file only costs a few bytes; the lock itself is what matters.
    }
  }
}

/**
 * Deletes `LOCK` if it still holds `stale`, under the takeover guard; the caller then tries to
 * create its own. Returns without deleting when another process holds the guard (after a short
 * pause) or the lock changed.
 */
function takeOverStale(dir: string, lockPath: string, stale: string): void {
  const guard = join(dir, GUARD_FILE);
  try {
    writeFileSync(guard, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(`cannot create the lock guard ${guard}`, err, dir);
    removeStaleGuard(guard);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, GUARD_WAIT_MS);
    return;
  }
  try {
    if (readLock(lockPath) === stale) unlinkSync(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(`cannot remove the stale lock file ${lockPath}`, err, lockPath);
  } finally {
    try {
      unlinkSync(guard);
    } catch {
      // Removed as stale by another process after a very long pause of ours: nothing to undo.
    }
  }
}

/** Removes a takeover guard whose holder died inside the guard (older than STALE_GUARD_MS). */
function removeStaleGuard(guard: string): void {
  try {
    if (Date.now() - statSync(guard).mtimeMs > STALE_GUARD_MS) unlinkSync(guard);
  } catch {
    // Gone meanwhile: the next attempt sees it free.
  }
}

function readLock(lockPath: string): string | undefined {
  try {
    return readFileSync(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(`cannot read the lock file ${lockPath}`, err, lockPath);
  }
}

/** The owner a lock file names, or undefined when it is not one of ours (treated as stale). */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0 || typeof o.hostname !== 'string') return undefined;
    return { pid: o.pid, hostname: o.hostname, ...(typeof o.startTime === 'string' ? { startTime: o.startTime } : {}), ...(typeof o.bootId === 'string' ? { bootId: o.bootId } : {}) };
  } catch {
    return undefined;
  }
}

function currentOwner(): LockOwner {
  const startTime = processStartTime(process.pid);
  const bootId = currentBootId();
  return { pid: process.pid, hostname: hostname(), ...(startTime === undefined ? {} : { startTime }), ...(bootId === undefined ? {} : { bootId }) };
}

/** Whether the process a lock names still runs (and is the same process, not a reused pid). */
function isAlive(owner: LockOwner): boolean {
  // Another host's process cannot be checked from here: assume it holds the directory.
  if (owner.hostname !== hostname()) return true;
  const bootId = currentBootId();
  if (owner.bootId !== undefined && bootId !== undefined && owner.bootId !== bootId) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTime === undefined) return true;
  const now = processStartTime(owner.pid);
  return now === undefined || now === owner.startTime;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined off Linux. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function currentBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function heldError(dir: string, owner: LockOwner): TidalError {
  const who = owner.pid === process.pid && owner.hostname === hostname() ? `this process (pid ${owner.pid})` : `another live process (pid ${owner.pid} on ${owner.hostname})`;
  // A process of another host (or container) cannot be checked from here: say how to recover.
  const hint = owner.hostname !== hostname() ? `; if ${owner.hostname} is gone, delete ${join(dir, LOCK_FILE)}` : '';
  return new TidalError(ErrorCode.FailedPrecondition, `the data directory ${dir} is held by ${who}; only one process may open it at a time${hint}`, {
    context: { dir, pid: owner.pid, hostname: owner.hostname },
  });
}

function fsError(message: string, cause: unknown, path: string): TidalError {
  return new TidalError(ErrorCode.BackendUnavailable, message, { cause, retriable: false, context: { path } });
}
