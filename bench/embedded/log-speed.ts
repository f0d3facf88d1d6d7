/**
 * Throughput of the persistent embedded log with 1 MiB records, and the idle CPU cost of consumers
 * waiting for other processes' appends. Not a test: run it by hand and read the table.
 *
 *   node --import tsx bench/embedded/log-speed.ts [MiB per case, default 256] [dir]
 *
 * Baselines in the same process: the disk itself (append-only file, fdatasync per MiB) and the
 * in-memory embedded log.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LmdbMsgStream, MemoryMsgStream, type LogMsgStream } from '../../src/mq/index.js';

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 256);
const root = mkdtempSync(path.join(process.argv[3] ?? tmpdir(), 'tidal-lmdb-bench-'));
/** Payload plus key at the 1 MiB limit, like the proxy's byte-split Insert records. */
const payload = Buffer.alloc(MiB - 16, 0x5a);

interface Row {
  case: string;
  mbPerSec: number;
}
const rows: Row[] = [];
const report = (name: string, bytes: number, ms: number) => {
  const mbPerSec = bytes / MiB / (ms / 1000);
  rows.push({ case: name, mbPerSec });
  console.log(`${name.padEnd(58)} ${mbPerSec.toFixed(0).padStart(6)} MiB/s`);
};

let dirs = 0;
const lmdb = () => new LmdbMsgStream({ dir: path.join(root, String(dirs++)) });

/** `producers` concurrent producers, one channel each, `perCall` records per produce call, totalMiB in all. */
async function appendCase(name: string, stream: LogMsgStream, producers: number, perCall: number): Promise<string[]> {
  const channels = Array.from({ length: producers }, (_, i) => `bench-${i}`);
  for (const ch of channels) await stream.createChannel(ch);
  const callsEach = Math.ceil(totalMiB / producers / perCall);
  const messages = Array.from({ length: perCall }, (_, i) => ({ payload, timestamp: BigInt(i) }));
  const start = performance.now();
  await Promise.all(
    channels.map(async (ch) => {
      for (let c = 0; c < callsEach; c++) await stream.produce(ch, messages);
    }),
  );
  report(name, callsEach * producers * perCall * MiB, performance.now() - start);
  return channels;
}

async function readCase(name: string, stream: LogMsgStream, channel: string): Promise<void> {
  const { latest } = await stream.offsets(channel);
  const consumer = await stream.consume(channel, { kind: 'earliest' });
  const start = performance.now();
  let bytes = 0;
  let count = 0n;
  for await (const batch of consumer) {
    for (const m of batch) bytes += m.payload.length;
    count += BigInt(batch.length);
    if (count >= latest) break;
  }
  report(name, bytes, performance.now() - start);
}

function diskBaseline(): void {
  const file = path.join(root, 'raw.log');
  const fd = openSync(file, 'a');
  const start = performance.now();
  for (let i = 0; i < totalMiB; i++) {
    writeSync(fd, payload);
    fdatasyncSync(fd);
  }
  report('disk: append-only file, fdatasync per MiB (baseline)', totalMiB * MiB, performance.now() - start);
  closeSync(fd);
  rmSync(file);
}

/** CPU used by this process while `consumers` consumers wait on their own channels for `ms`. */
async function idleCpu(consumers: number, ms: number, pollIntervalMs: number): Promise<number> {
  const stream = new LmdbMsgStream({ dir: path.join(root, String(dirs++)), pollIntervalMs });
  const pending: Promise<unknown>[] = [];
  const opened = [];
  for (let i = 0; i < consumers; i++) {
    await stream.createChannel(`idle-${i}`);
    const c = await stream.consume(`idle-${i}`, { kind: 'latest' });
    opened.push(c);
    pending.push(c[Symbol.asyncIterator]().next());
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(before);
  await Promise.all(opened.map((c) => c.close()));
  await Promise.all(pending);
  await stream.close();
  return ((used.user + used.system) / 1000 / ms) * 100;
}

try {
  console.log(`${totalMiB} MiB per case, 1 MiB records, in ${root}`);
  diskBaseline();
  {
    const s = lmdb();
    const [ch] = await appendCase('lmdb append: 1 producer, 1 record per call', s, 1, 1);
    await readCase('lmdb read: 1 consumer, from earliest', s, ch as string);
    await s.close();
  }
  {
    const s = lmdb();
    await appendCase('lmdb append: 1 producer, 8 records per call', s, 1, 8);
    await s.close();
  }
  {
    const s = lmdb();
    await appendCase('lmdb append: 4 producers (4 channels), 1 record per call', s, 4, 1);
    await s.close();
  }
  {
    const s = lmdb();
    await appendCase('lmdb append: 4 producers (4 channels), 4 records per call', s, 4, 4);
    await s.close();
  }
  {
    const s = new MemoryMsgStream();
    const [ch] = await appendCase('memory append: 1 producer, 1 record per call (baseline)', s, 1, 1);
    await readCase('memory read: 1 consumer, from earliest (baseline)', s, ch as string);
    await s.close();
  }
  for (const [consumers, poll] of [
    [0, 20],
    [1, 20],
    [20, 20],
    [20, 10],
  ] as const) {
    const pct = await idleCpu(consumers, 5_000, poll);
    console.log(`idle CPU, ${String(consumers).padStart(2)} waiting consumers, poll ${poll} ms: ${pct.toFixed(2)} % of one core`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
