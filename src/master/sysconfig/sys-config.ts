/**
 * System configuration in the KV: `config/{dotted.key}` = value, written at master start from the
 * loaded configuration (configs/tidal.yaml + TIDAL_* overrides; secrets stored redacted) and read
 * back by GetSysConfigs by keys and by prefixes.
 */
import { flattenConfig, type TidalConfig } from '../../common/config.js';
import { errors } from '../../common/errors.js';
import type { MetaKV, TxnOp } from '../../kv/meta-kv.js';

const PREFIX = 'config/';
/** etcd's default limit of operations in one transaction. */
const MAX_TXN_OPS = 128;

/** Reads and writes the `config/` keys. */
export class SysConfig {
  constructor(private readonly kv: MetaKV) {}

  /** Writes every leaf of `config` (in transactions of at most 128 puts). */
  async publish(config: TidalConfig): Promise<void> {
    const ops: TxnOp[] = flattenConfig(config).map(([key, value]) => ({ type: 'put', key: PREFIX + key, value }));
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) {
      await this.kv.txn({ compare: [], success: ops.slice(i, i + MAX_TXN_OPS) });
    }
  }

  /**
   * The configs whose key equals one of `keys` or starts with one of `prefixes`, sorted by key.
   * An unknown exact key is NOT_FOUND (a typo should not look like an empty value).
   */
  async get(keys: readonly string[], prefixes: readonly string[]): Promise<Array<{ key: string; value: string }>> {
    if (keys.length === 0 && prefixes.length === 0) throw errors.invalidArgument('give at least one key or key prefix');
    const out = new Map<string, string>();
    for (const key of keys) {
      if (key === '') throw errors.invalidArgument('a config key must not be empty');
      const kv = await this.kv.get(PREFIX + key);
      if (kv === undefined) throw errors.notFound(`config key "${key}" not found`, { key });
      out.set(key, kv.value.toString('utf8'));
    }
    for (const prefix of prefixes) {
      let startAfter: string | undefined;
      for (;;) {
        const page = await this.kv.range(PREFIX + prefix, { limit: 500, startAfter });
        for (const kv of page.kvs) out.set(kv.key.slice(PREFIX.length), kv.value.toString('utf8'));
        if (!page.more || page.kvs.length === 0) break;
        startAfter = page.kvs[page.kvs.length - 1]!.key;
      }
    }
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  }
}
