/**
 * `tidal standalone` for the end-to-end tests: the process on a data directory, and what a test
 * needs beside it — a proxy's message log (the same embedded log directory, opened from this
 * process), the binlogs' object store (the same storage directory) and a master client.
 */
import { loadConfig, type TidalConfig } from '../../../src/common/config.js';
import { createMsgStream } from '../../../src/mq/create.js';
import type { MsgStream } from '../../../src/mq/msg-stream.js';
import { MasterClient } from '../../../src/proxy/master-client.js';
import { createObjectStore } from '../../../src/storage/create.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';
import { STANDALONE_LISTENING, TidalProcess } from './tidal-process.js';

/** TIDAL_* variables of a test standalone: 2 DML channels, quick ticks and allocation expiry, small sync buffers. */
export const STANDALONE_TEST_ENV: Readonly<Record<string, string>> = {
  TIDAL_MASTER_DML_CHANNEL_NUM: '2',
  TIDAL_MASTER_SESSION_TTL_MS: '2000',
  TIDAL_MASTER_TIME_TICK_INTERVAL_MS: '100',
  TIDAL_MASTER_SEGMENT_ALLOCATION_EXPIRE_MS: '500',
  TIDAL_DATANODE_SESSION_TTL_MS: '2000',
  TIDAL_DATANODE_FLUSH_BUFFER_SIZE_BYTES: String(256 * 1024),
  TIDAL_LOG_LEVEL: 'warn',
};

/** Spawns `tidal standalone --data-dir dir -p 0`; resolves once it prints its listening line. */
export async function spawnStandalone(dir: string, env: Record<string, string> = {}): Promise<TidalProcess & { address: string }> {
  const proc = await TidalProcess.spawn(['standalone', '--data-dir', dir, '-p', '0'], { ...STANDALONE_TEST_ENV, ...env }, STANDALONE_LISTENING);
  return Object.assign(proc, { address: `127.0.0.1:${proc.match![1]}` });
}

/** The configuration the test's own clients use for a standalone on `dir` (embedded log, local store). */
export function clientConfig(dir: string): TidalConfig {
  return loadConfig({
    env: {},
    overrides: {
      mq: { backend: 'embedded', localDir: `${dir}/mq` },
      storage: { backend: 'local', localDir: `${dir}/storage` },
    },
  });
}

/** The proxy's side of a standalone on `dir`: its message log and object store, opened in this process. */
export function openClientStores(dir: string): { stream: MsgStream; store: ObjectStore } {
  const config = clientConfig(dir);
  return { stream: createMsgStream(config), store: createObjectStore(config) };
}

/** A master client on `address` with a 30 s deadline. */
export function masterClient(address: string): MasterClient {
  return new MasterClient(address, { deadlineMs: 30_000 });
}
