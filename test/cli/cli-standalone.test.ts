/**
 * The CLI against `tidal standalone` on embedded defaults (no servers): `tidal insert` opens the
 * standalone's on-disk message log from its own process, and flush, segment list and binlog inspect
 * (local object store) show the rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLineError, runJson, runTidal, ServerProcess } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tidal-cli-sa-'));
const env = {
  TIDAL_LOG_LEVEL: 'warn',
  TIDAL_MASTER_HOST: '127.0.0.1',
  TIDAL_MASTER_SEGMENT_ALLOCATION_EXPIRE_MS: '500',
  // What `binlog inspect` opens: the standalone's object store. `tidal insert` finds the
  // standalone's message log through the master (no TIDAL_MQ_LOCAL_DIR here).
  TIDAL_STORAGE_LOCAL_DIR: join(dir, 'storage'),
};
let standalone: ServerProcess;
let m: string[];

beforeAll(async () => {
  standalone = await ServerProcess.spawn(['standalone', '--data-dir', dir, '--port', '0'], env);
  m = ['--master', standalone.address];
  const deadline = Date.now() + 30_000;
  while ((await runTidal(['collection', 'list', ...m], env)).code !== 0) {
    if (Date.now() > deadline) throw new Error(`standalone did not serve:\n${standalone.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  await standalone?.stop();
  await standalone?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('tidal CLI on standalone', () => {
  it('cli-standalone - insert through the embedded log, flush, list the segments and inspect a binlog', async () => {
    await runJson(['collection', 'create', 'sa', ...m, '--pk', 'id:int64', '--vector', 'v:float32:32', '--shards', '2'], env);
    const summary = await runJson<{ rows: number }>(['insert', '--collection', 'sa', '--rows', '2500', '--dim', '32', '--batch', '1000', ...m], env);
    expect(summary.rows).toBe(2500);
    await runJson(['segment', 'flush', 'sa', ...m], env);
    const segs = await runJson<{ state: string; numRows: string; insertLogs: { logPath: string; entriesNum: string }[] }[]>(['segment', 'list', 'sa', '--binlogs', ...m], env);
    expect(segs.every((s) => s.state === 'Flushed')).toBe(true);
    expect(segs.reduce((n, s) => n + Number(s.numRows), 0)).toBe(2500);
    const log = segs.flatMap((s) => s.insertLogs)[0]!;
    const inspected = await runJson<{ meta: { kind: string }; numRows: number; rows: { id: string; v: number[] }[] }>(['binlog', 'inspect', log.logPath, '--rows', '1'], env);
    expect(inspected.meta.kind).toBe('insert_log');
    expect(inspected.numRows).toBe(Number(log.entriesNum));
    expect(inspected.rows[0]!.v).toHaveLength(32);
  });

  it("cli-standalone - an insert told to use another embedded log than the master's fails in one line and sends nothing", async () => {
    const elsewhere = join(dir, 'not-the-log');
    const res = await runTidal(['insert', '--collection', 'sa', '--rows', '10', '--dim', '32', ...m], { ...env, TIDAL_MQ_LOCAL_DIR: elsewhere });
    expect(oneLineError(res)).toBe(
      `tidal: the master's message log is embedded at ${join(dir, 'mq')}, but this command's configuration names embedded at ${elsewhere}; drop the --config / TIDAL_MQ_* / TIDAL_KAFKA_* override or point it at the master's log`,
    );
    const segs = await runJson<{ numRows: string }[]>(['segment', 'list', 'sa', ...m], env);
    expect(segs.reduce((n, s) => n + Number(s.numRows), 0)).toBe(2500);
  });

  it('cli-standalone - an insert whose dim does not fit sends nothing and says why in one line', async () => {
    const res = await runTidal(['insert', '--collection', 'sa', '--rows', '10', '--dim', '16', ...m], env);
    expect(oneLineError(res)).toBe('tidal: --dim 16 does not match collection "sa": its vector field "v" has dim 32');
    const segs = await runJson<{ numRows: string }[]>(['segment', 'list', 'sa', ...m], env);
    expect(segs.reduce((n, s) => n + Number(s.numRows), 0)).toBe(2500);
  });
});
