/**
 * The persistent embedded log shared by processes, like SQLite: real child processes
 * (test/unit/mq/lmdb-log-child.ts) on the same directory, killed with SIGKILL where it matters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { LmdbMsgStream, type ConsumedMessage, type Consumer } from '../../../src/mq/index.js';

const CHILD = fileURLToPath(new URL('./lmdb-log-child.ts', import.meta.url));
/** Longest a test waits for a child or a batch (generous: the machine is shared). */
const WAIT_MS = 30_000;

interface ChildCall {
  call: number;
  msgIds: string[];
}

/** A child process on the log, with the produce calls it reported (one JSON line each). */
class Child {
  readonly calls: ChildCall[] = [];
  /** Set when the child waits at its start line. */
  ready = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';
  private readonly proc: ChildProcess;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.length === 0) continue;
        const parsed = JSON.parse(line) as ChildCall | { ready: true };
        if ('ready' in parsed) this.ready = true;
        else this.calls.push(parsed);
      }
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get errors(): string {
    return this.stderr;
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }

  async waitFor(predicate: () => boolean): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!predicate()) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`child ended early: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`child did not get there within ${WAIT_MS} ms: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Every message of `channel` from its start, read by a fresh stream on `dir`. */
async function readAll(dir: string, channel: string): Promise<ConsumedMessage[]> {
  const stream = new LmdbMsgStream({ dir });
  try {
    const { latest } = await stream.offsets(channel);
    const consumer = await stream.consume(channel, { kind: 'earliest' });
    return await take(consumer, Number(latest));
  } finally {
    await stream.close();
  }
}

/** The batch `next` resolves with; fails if it takes WAIT_MS or the consumer ends. */
async function within(next: Promise<IteratorResult<ConsumedMessage[]>>, what: string): Promise<ConsumedMessage[]> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no batch within ${WAIT_MS} ms (${what})`)), WAIT_MS)));
  try {
    const r = await Promise.race([next, stalled]);
    if (r.done) throw new Error(`consumer ended (${what})`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Pulls until `count` messages came; fails if the consumer stalls for WAIT_MS. */
async function take(consumer: Consumer, count: number): Promise<ConsumedMessage[]> {
  const it = consumer[Symbol.asyncIterator]();
  const out: ConsumedMessage[] = [];
  while (out.length < count) out.push(...(await within(it.next(), `after ${out.length} of ${count}`)));
  return out;
}

/** `tag:call:index` of a payload the child wrote. */
const labelOf = (m: ConsumedMessage) => m.payload.subarray(0, m.payload.indexOf('|')).toString();

describe('lmdb-log processes', () => {
  let dir: string;
  const children: Child[] = [];
  const child = (...args: string[]) => {
    const c = new Child(args);
    children.push(c);
    return c;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tidal-lmdb-procs-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill();
      await c.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('lmdb-log processes - a process SIGKILLed right after an append resolved loses nothing', async () => {
    const c = child('produce-then-kill', dir, 'k', '20', '3');
    expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(c.calls.length).toBe(20);
    const got = await readAll(dir, 'k');
    expect(got.map((m) => m.position.msgId)).toEqual(Array.from({ length: 60 }, (_, i) => BigInt(i)));
    expect(got.map(labelOf)).toEqual(Array.from({ length: 60 }, (_, i) => `k:${Math.floor(i / 3)}:${i % 3}`));
    expect(got.map((m) => m.position.timestamp)).toEqual(Array.from({ length: 60 }, (_, i) => BigInt(Math.floor(i / 3) * 1000 + (i % 3))));
    expect(got.every((m) => m.payload.length === m.payload.indexOf('|') + 1 + 64 * 1024)).toBe(true);
  });

  it('lmdb-log processes - a process killed while producing leaves whole calls, every acknowledged one included', async () => {
    const c = child('produce-until-killed', dir, 'u', '4');
    await c.waitFor(() => c.calls.length >= 15);
    c.kill();
    await c.exited;
    const acknowledged = c.calls.length;
    const got = await readAll(dir, 'u');
    // A contiguous log of whole calls: all acknowledged ones, plus at most the one in flight.
    expect(got.length % 4).toBe(0);
    expect(got.length / 4).toBeGreaterThanOrEqual(acknowledged);
    expect(got.length / 4).toBeLessThanOrEqual(acknowledged + 1);
    expect(got.map(labelOf)).toEqual(Array.from({ length: got.length }, (_, i) => `u:${Math.floor(i / 4)}:${i % 4}`));
    // The next process goes on after the last offset.
    const stream = new LmdbMsgStream({ dir });
    try {
      expect((await stream.produce('u', [{ payload: Buffer.from('after') }]))[0]?.msgId).toBe(BigInt(got.length));
    } finally {
      await stream.close();
    }
  });

  it('lmdb-log processes - a consumer waiting in one process receives every record another process produces, in order', async () => {
    const stream = new LmdbMsgStream({ dir, pollIntervalMs: 15 });
    try {
      await stream.createChannel('dd');
      const consumer = await stream.consume('dd', { kind: 'latest' }, { maxBatchMessages: 7 });
      // Already waiting before the producer starts.
      const it = consumer[Symbol.asyncIterator]();
      const first = it.next();
      const producer = child('produce', dir, 'dd', '40', '5', 'p', '1000');
      const got = await within(first, 'the first batch');
      got.push(...(await take(consumer, 200 - got.length)));
      expect(await producer.exited).toEqual({ code: 0, signal: null });
      expect(got.map((m) => m.position.msgId)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i)));
      expect(got.map(labelOf)).toEqual(Array.from({ length: 200 }, (_, i) => `p:${Math.floor(i / 5)}:${i % 5}`));
      await consumer.close();
    } finally {
      await stream.close();
    }
  });

  it('lmdb-log processes - a channel deleted by another process ends the consumers waiting on it with NOT_FOUND', async () => {
    const stream = new LmdbMsgStream({ dir, pollIntervalMs: 15 });
    try {
      await stream.createChannel('doomed');
      await stream.produce('doomed', [{ payload: Buffer.from('only') }]);
      const consumer = await stream.consume('doomed', { kind: 'latest' });
      const it = consumer[Symbol.asyncIterator]();
      const pending = it.next().then(
        (r) => r,
        (err: unknown) => err,
      );
      const deleter = child('delete', dir, 'doomed');
      expect(await deleter.exited).toEqual({ code: 0, signal: null });
      const outcome = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve('still waiting'), WAIT_MS))]);
      expect(outcome).toMatchObject({ code: ErrorCode.NotFound });
      expect(await stream.hasChannel('doomed')).toBe(false);
    } finally {
      await stream.close();
    }
  });

  it('lmdb-log processes - producers in two processes get distinct contiguous offsets', async () => {
    const setup = new LmdbMsgStream({ dir });
    await setup.createChannel('shared');
    await setup.close();
    const start = path.join(dir, 'start');
    const a = child('produce', dir, 'shared', '60', '3', 'a', '2000', start);
    const b = child('produce', dir, 'shared', '60', '3', 'b', '2000', start);
    await a.waitFor(() => a.ready);
    await b.waitFor(() => b.ready);
    writeFileSync(start, '');
    expect(await a.exited).toMatchObject({ code: 0 });
    expect(await b.exited).toMatchObject({ code: 0 });
    const calls = [...a.calls.map((c) => ({ tag: 'a', ...c })), ...b.calls.map((c) => ({ tag: 'b', ...c }))];
    expect(calls.length).toBe(120);
    for (const call of calls) {
      const first = BigInt(call.msgIds[0] as string);
      expect(call.msgIds).toEqual([first, first + 1n, first + 2n].map(String));
    }
    const all = calls.flatMap((c) => c.msgIds.map(BigInt)).sort((x, y) => (x < y ? -1 : 1));
    expect(all).toEqual(Array.from({ length: 360 }, (_, i) => BigInt(i)));
    // Each offset holds what the process that was given it wrote.
    const got = await readAll(dir, 'shared');
    for (const call of calls) {
      call.msgIds.forEach((id, i) => expect(labelOf(got[Number(id)] as ConsumedMessage)).toBe(`${call.tag}:${call.call}:${i}`));
    }
    // Interleaved (at least two switches), not one after the other: else this proves little.
    const owners = got.map((m) => labelOf(m)[0]).join('');
    expect(owners).toMatch(/a+b+a|b+a+b/);
  });
});
