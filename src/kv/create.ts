/** Builds the MetaKV the configuration asks for. */
import type { EtcdConfig, KvConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { LmdbKV } from './embedded/lmdb-kv.js';
import { EtcdKV } from './etcd/etcd-kv.js';
import type { MetaKV } from './meta-kv.js';

/**
 * `kv.backend: etcd` → EtcdKV on `etcd.*` (keys under `etcd.rootPath`); `embedded` → LmdbKV, the
 * persistent embedded store in `kv.localDir`. Throws FAILED_PRECONDITION when another live process
 * holds that directory (see LmdbKV.open for the other errors).
 */
export function createMetaKV(config: { kv: KvConfig; etcd: EtcdConfig }, logger?: Logger): MetaKV {
  if (config.kv.backend === 'etcd') {
    return new EtcdKV({
      endpoints: [...config.etcd.endpoints],
      rootPath: config.etcd.rootPath,
      dialTimeoutMs: config.etcd.dialTimeoutMs,
      auth: { username: config.etcd.username, password: config.etcd.password },
      logger,
    });
  }
  return LmdbKV.open({ dir: config.kv.localDir, ...(logger === undefined ? {} : { logger }) });
}
