/**
 * How fast the persistent embedded MetaKV writes, against the in-memory one in the same process.
 * Run with `npx tsx bench/embedded/kv-speed.ts [dir]` (default: a temp directory, removed after).
 * Prints one table: sequential puts (200-byte values), sequential txns shaped like
 * SaveBinlogPaths (a modRevision compare, then a segment key of ~4 KB, a checkpoint key and a
 * binlog key of ~1 KB), and single-put latency percentiles. Every write is durable (flushed)
 * before it resolves.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbKV, MemoryKV, type MetaKV } from '../../src/kv/index.js';

const PUTS = 3_000;
const TXNS = 1_500;

async function puts(kv: MetaKV): Promise<{ perSec: number; latenciesMs: number[] }> {
  const value = Buffer.alloc(200, 7);
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < PUTS; i++) {
    const t = performance.now();
    await kv.put(`tso/timestamp/${i % 50}`, value);
    latenciesMs.push(performance.now() - t);
  }
  return { perSec: (PUTS / (performance.now() - start)) * 1000, latenciesMs };
}

async function txns(kv: MetaKV): Promise<number> {
  const segment = Buffer.alloc(4096, 1);
  const binlog = Buffer.alloc(1024, 2);
  let lastRev = 0;
  const start = performance.now();
  for (let i = 0; i < TXNS; i++) {
    const seg = `meta/segment/1/${i % 20}`;
    const res = await kv.txn({
      compare: [{ key: seg, target: 'modRevision', op: '<', revision: lastRev + 1 }],
      success: [
        { type: 'put', key: seg, value: segment },
        { type: 'put', key: `channel/checkpoint/dml_0_1v${i % 4}`, value: `{"msgID":"${i}"}` },
        { type: 'put', key: `meta/binlog/1/${i}`, value: binlog },
      ],
    });
    lastRev = res.revision;
  }
  return (TXNS / (performance.now() - start)) * 1000;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'tidal-lmdb-kv-speed-'));
const rows: string[][] = [];
try {
  for (const [name, kv] of [
    ['memory', new MemoryKV()],
    ['lmdb', LmdbKV.open({ dir })],
  ] as const) {
    const p = await puts(kv);
    const t = await txns(kv);
    const sorted = [...p.latenciesMs].sort((a, b) => a - b);
    rows.push([name, p.perSec.toFixed(0), t.toFixed(0), pct(sorted, 50).toFixed(3), pct(sorted, 99).toFixed(3), sorted.at(-1)!.toFixed(3)]);
    await kv.close();
  }
} finally {
  if (process.argv[2] === undefined) rmSync(dir, { recursive: true, force: true });
}
const header = ['kv', 'puts/s', 'txns/s', 'put p50 ms', 'put p99 ms', 'put max ms'];
console.log([header, ...rows].map((r) => r.map((c) => c.padStart(11)).join(' ')).join('\n'));
console.log(`lmdb/memory: puts ${(Number(rows[1]![1]) / Number(rows[0]![1])).toFixed(4)}, txns ${(Number(rows[1]![2]) / Number(rows[0]![2])).toFixed(4)}`);
