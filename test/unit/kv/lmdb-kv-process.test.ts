/**
 * LmdbKV against other processes: a real child process (test/unit/kv/lmdb-kv-child.ts) that owns
 * the directory and is SIGKILLed, or holds it while this process tries to open it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { LmdbKV, LOCK_FILE, type WatchEvent } from '../../../src/kv/index.js';

const CHILD = fileURLToPath(new URL('./lmdb-kv-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

type Line = { lease: string; revision: number } | { i: number; revision: number } | { ready: true; pid: number };

/** A child process and the JSON lines it printed. */
class Child {
  readonly lines: Line[] = [];
  readonly proc: ChildProcess;
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(mode: string, dir: string) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) if (part.length > 0) this.lines.push(JSON.parse(part) as Line);
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    // 'close', not 'exit': every line the child printed has been read by then.
    this.exited = new Promise((resolve) => this.proc.once('close', (code, signal) => resolve({ code, signal })));
  }

  /** Waits until `cond` holds on the lines read so far; fails with the child's stderr if it exits first. */
  async until(what: string, cond: (lines: Line[]) => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!cond(this.lines)) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`child exited before ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Everything the child wrote on stderr so far. */
  get errorOutput(): string {
    return this.stderr;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

const children: Child[] = [];
const dirs: string[] = [];
const stores: LmdbKV[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidal-lmdb-kv-proc-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
  for (const kv of stores.splice(0)) await kv.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('lmdb-kv (processes)', () => {
  it('lmdb-kv - a process SIGKILLed right after its writes resolved loses none of them, and no txn is half-applied', async () => {
    const dir = tempDir();
    const child = new Child('write', dir);
    children.push(child);
    // Killed while it keeps writing, right after reading the 300th acknowledged txn.
    await child.until('300 acknowledged txns', (lines) => lines.filter((l) => 'i' in l).length >= 300);
    child.kill();
    expect((await child.exited).signal).toBe('SIGKILL');
    const acked = child.lines.filter((l): l is { i: number; revision: number } => 'i' in l);
    const leaseLine = child.lines.find((l): l is { lease: string; revision: number } => 'lease' in l)!;
    const last = acked.at(-1)!;

    const kv = LmdbKV.open({ dir });
    stores.push(kv);
    // Every acknowledged txn is there, at the revision it was acknowledged with.
    for (const { i, revision } of acked) {
      const a = await kv.get(`a/${i}`);
      expect(a?.value.toString(), `a/${i}`).toBe(`v${i}`);
      expect(a?.modRevision).toBe(revision);
      expect((await kv.get(`b/${i}`))?.modRevision).toBe(revision);
    }
    // Whatever landed after the last acknowledgement landed whole: a/i and b/i together.
    const as = (await kv.range('a/', { keysOnly: true })).kvs.map((x) => x.key.slice(2));
    const bs = (await kv.range('b/', { keysOnly: true })).kvs.map((x) => x.key.slice(2));
    expect(as).toEqual(bs);
    expect(as.length).toBeGreaterThanOrEqual(acked.length);
    // Revisions keep counting from where the killed process stopped; its lease was revoked on open.
    const committed = last.revision + (as.length - acked.length);
    expect(await kv.get('lease/k')).toBeUndefined();
    expect(await kv.revision()).toBe(committed + 1);
    const events: WatchEvent[] = [];
    const w = kv.watch('lease/', { startRevision: leaseLine.revision });
    w.on('events', (evs) => events.push(...evs));
    const deadline = Date.now() + 10_000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await w.close();
    expect(events.map((e) => `${e.type} ${e.key}@${e.modRevision}`)).toEqual([`put lease/k@${leaseLine.revision}`, `delete lease/k@${committed + 1}`]);
    expect(await kv.put('after', 'x')).toBe(committed + 2);
  });

  it('lmdb-kv - opening a directory another live process holds fails at once naming it and its pid; once that process is killed it opens', async () => {
    const dir = tempDir();
    const child = new Child('hold', dir);
    children.push(child);
    await child.until('the child to hold the directory', (lines) => lines.some((l) => 'ready' in l));
    const pid = child.proc.pid!;

    let err: unknown;
    try {
      stores.push(LmdbKV.open({ dir }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidalError);
    expect((err as TidalError).code).toBe(ErrorCode.FailedPrecondition);
    expect((err as TidalError).message).toContain(dir);
    expect((err as TidalError).message).toContain(`pid ${pid}`);
    expect((err as TidalError).context).toMatchObject({ dir, pid });

    child.kill();
    await child.exited;
    const kv = LmdbKV.open({ dir });
    stores.push(kv);
    expect(await kv.revision()).toBe(1);
  });

  it('lmdb-kv - three processes opening one directory with a stale lock: exactly one gets it, the others are refused', async () => {
    const dir = tempDir();
    const kv = LmdbKV.open({ dir });
    await kv.put('k', 'v');
    await kv.close();
    // A lock left by a killed process (a pid above Linux's pid_max, so surely not running).
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4_194_305, hostname: hostname() }));
    const racers = [0, 1, 2].map(() => new Child('hold', dir));
    children.push(...racers);
    // Each either holds the directory (ready) or exits refused.
    await Promise.all(racers.map((c) => Promise.race([c.until('ready', (lines) => lines.some((l) => 'ready' in l)).catch(() => undefined), c.exited])));
    const holders = racers.filter((c) => c.lines.some((l) => 'ready' in l));
    expect(holders).toHaveLength(1);
    for (const refused of racers.filter((c) => !holders.includes(c))) {
      expect((await refused.exited).code).toBe(1);
      expect(refused.errorOutput).toContain(`the data directory ${dir} is held by another live process (pid ${holders[0]!.proc.pid}`);
    }
  });
});
