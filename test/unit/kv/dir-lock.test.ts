/**
 * DirLock's takeover of a stale lock, step by step: LOCK is deleted only under the takeover guard
 * and only while it still holds the stale content; a guard left by a dead process is removed once
 * it is old.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TidalError } from '../../../src/common/errors.js';
import { DirLock, LOCK_FILE, STALE_GUARD_MS } from '../../../src/kv/embedded/dir-lock.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tidal-dirlock-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A lock naming a pid that cannot exist (above Linux's pid_max), i.e. a dead owner. */
const STALE = JSON.stringify({ pid: 4_194_305, hostname: hostname() });

describe('dir-lock takeover', () => {
  it('dir-lock - a stale lock is not deleted while another process holds the takeover guard', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), STALE);
    writeFileSync(join(dir, `${LOCK_FILE}.takeover`), '12345');
    let err: unknown;
    try {
      DirLock.acquire(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).message).toBe(`could not take the data directory ${dir}: other processes keep taking its lock`);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(STALE);
  });

  it('dir-lock - once the guard is gone the stale lock is taken over, and the guard does not stay behind', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), STALE);
    const lock = DirLock.acquire(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    expect(existsSync(join(dir, `${LOCK_FILE}.takeover`))).toBe(false);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('dir-lock - a takeover guard older than STALE_GUARD_MS (its holder died) is removed and the stale lock taken over', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), STALE);
    const guard = join(dir, `${LOCK_FILE}.takeover`);
    writeFileSync(guard, '12345');
    const old = (Date.now() - STALE_GUARD_MS - 5_000) / 1000;
    utimesSync(guard, old, old);
    const lock = DirLock.acquire(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    expect(existsSync(guard)).toBe(false);
    lock.release();
  });

  it('dir-lock - a live owner is refused without touching its lock, guard or not', () => {
    const dir = tempDir();
    const held = DirLock.acquire(dir);
    const content = readFileSync(join(dir, LOCK_FILE), 'utf8');
    expect(() => DirLock.acquire(dir)).toThrow(`the data directory ${dir} is held by this process (pid ${process.pid}); only one process may open it at a time`);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(content);
    held.release();
  });
});
