/** Builds the MetaKV the configuration asks for. */
import type { EtcdConfig, KvConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { MemoryKV } from './embedded/memory-kv.js';
import { EtcdKV } from './etcd/etcd-kv.js';
import type { MetaKV } from './meta-kv.js';

/** `kv.backend: etcd` → EtcdKV on `etcd.*` (keys under `etcd.rootPath`); `embedded` → the embedded KV. */
export function createMetaKV(config: { kv: KvConfig; etcd: EtcdConfig }, logger?: Logger): MetaKV {
  if (config.kv.backend === 'etcd') {
    return new EtcdKV({
      endpoints: [...config.etcd.endpoints],
      rootPath: config.etcd.rootPath,
      dialTimeoutMs: config.etcd.dialTimeoutMs,
      logger,
    });
  }
  return new MemoryKV();
}
