/**
 * The Standalone class in this process: it starts on a data directory (master serving, DataNode
 * registered and known to the master), a second Standalone on the same directory is refused with
 * FAILED_PRECONDITION naming the directory while the first keeps serving, and close() is safe to
 * call twice and frees the directory for the next one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import { Standalone } from '../../src/standalone/index.js';

const config = loadConfig({ env: {}, overrides: { master: { host: '127.0.0.1', port: 0, dmlChannelNum: 2, sessionTtlMs: 2_000 }, datanode: { sessionTtlMs: 2_000 }, log: { level: 'silent' } } });
const opened: Standalone[] = [];
let dir: string | undefined;

afterAll(async () => {
  for (const s of opened) await s.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('Standalone (in process)', () => {
  it('standalone - serves on its data directory, refuses a second one on it, and frees it on close', { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidal-standalone-class-'));
    const first = await Standalone.start({ config, logger: silentLogger, dataDir: dir });
    opened.push(first);
    expect(first.dataDir).toBe(dir);
    expect(first.dirs).toEqual({ kv: join(dir, 'kv'), mq: join(dir, 'mq'), storage: join(dir, 'storage') });
    expect(first.masterAddress).toBe(`127.0.0.1:${first.port}`);
    expect(first.dataNode.address).toMatch(/^127\.0\.0\.1:\d+$/);

    const master = new MasterClient(first.masterAddress, { deadlineMs: 10_000 });
    try {
      expect((await master.call('ping', {})).leader).toBe(true);

      const refused = await Standalone.start({ config, logger: silentLogger, dataDir: dir }).then(
        (s) => {
          opened.push(s);
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(TidalError);
      expect((refused as TidalError).code).toBe(ErrorCode.FailedPrecondition);
      expect((refused as TidalError).message).toContain(join(dir, 'kv'));
      // The first one still serves.
      expect((await master.call('ping', {})).leader).toBe(true);
    } finally {
      master.close();
    }

    await first.close();
    await first.close();
    const next = await Standalone.start({ config, logger: silentLogger, dataDir: dir });
    opened.push(next);
    expect(next.master.isLeader()).toBe(true);
    await next.close();
  });
});
