/**
 * A process owning a persistent embedded MetaKV, for test/unit/kv/lmdb-kv-process.test.ts.
 * Run with `node --import tsx test/unit/kv/lmdb-kv-child.ts <mode> <dir>`. Every line it prints
 * on stdout is one JSON object, written synchronously right after the call it reports resolved
 * (so a SIGKILL the parent sends on reading it comes after that call).
 *
 * Modes:
 * - `write`: grants a lease and puts `lease/k` under it (`{"lease": id, "revision": r}`), then
 *   runs txns forever, txn i putting `a/i` and `b/i` together (`{"i": i, "revision": r}` each),
 *   until the parent kills it.
 * - `hold`: opens the store, prints `{"ready": true, "pid": pid}` and waits to be killed.
 */
import { writeSync } from 'node:fs';
import { LmdbKV } from '../../../src/kv/index.js';

const [mode, dir] = process.argv.slice(2);
if (mode === undefined || dir === undefined) throw new Error('usage: lmdb-kv-child.ts <write|hold> <dir>');

const say = (line: object) => writeSync(1, `${JSON.stringify(line)}\n`);
const kv = LmdbKV.open({ dir });

switch (mode) {
  case 'write': {
    const lease = await kv.grantLease(60);
    const revision = await kv.put('lease/k', 'held', { lease: lease.id });
    say({ lease: lease.id, revision });
    for (let i = 0; ; i++) {
      const value = `v${i}`;
      const res = await kv.txn({ compare: [], success: [{ type: 'put', key: `a/${i}`, value }, { type: 'put', key: `b/${i}`, value }] });
      say({ i, revision: res.revision });
    }
  }
  case 'hold':
    say({ ready: true, pid: process.pid });
    // Keeps the process (and the directory) until the parent kills it.
    setInterval(() => undefined, 60_000);
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
