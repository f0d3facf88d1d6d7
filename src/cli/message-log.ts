/**
 * Which message log a CLI proxy (`tidal insert`) publishes to: the master's. Rows written to a log
 * nobody consumes would be "inserted" and lost from view, so the CLI reads the master's `mq.*` and
 * `kafka.brokers` (GetSysConfigs) and uses them, unless the user chose a log (`--config` or a
 * TIDAL_MQ_* / TIDAL_KAFKA_* variable); a chosen log of another kind, or another embedded
 * directory, than the master's is an error.
 */
import path from 'node:path';
import { loadConfig, type TidalConfig } from '../common/config.js';
import { errors } from '../common/errors.js';
import type { MasterClient } from '../proxy/master-client.js';

const KEYS = ['mq.backend', 'mq.localDir', 'kafka.brokers'] as const;

/**
 * A log's identity, for comparison and messages. Kafka brokers are not compared: the same cluster
 * has different addresses from different networks (compose: kafka:19092 inside, 127.0.0.1:9092 on
 * the host).
 */
function describeLog(backend: string, localDir: string): string {
  return backend === 'kafka' ? 'kafka' : `embedded at ${path.resolve(localDir)}`;
}

/** True when the user picked the log: a config file, or an mq/kafka variable in `env`. */
function chosenByUser(configFile: string | undefined, env: NodeJS.ProcessEnv): boolean {
  return configFile !== undefined || Object.keys(env).some((k) => k.startsWith('TIDAL_MQ_') || k.startsWith('TIDAL_KAFKA_'));
}

/**
 * The configuration to open the message log with. Throws FAILED_PRECONDITION when the user's log
 * differs from the master's, naming both.
 */
export async function messageLogConfig(master: MasterClient, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<TidalConfig> {
  const own = loadConfig({ file: configFile });
  const res = await master.call('getSysConfigs', { keys: [...KEYS] });
  const value = (key: (typeof KEYS)[number]) => res.configs.find((c) => c.key === key)?.value;
  const backend = value('mq.backend');
  const localDir = value('mq.localDir');
  const brokers = (value('kafka.brokers') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  // A master that does not publish its log: keep the local configuration.
  if (backend === undefined || localDir === undefined) return own;
  const masters = describeLog(backend, localDir);
  if (chosenByUser(configFile, env)) {
    const mine = describeLog(own.mq.backend, own.mq.localDir);
    if (mine !== masters) {
      throw errors.failedPrecondition(
        `the master's message log is ${masters}, but this command's configuration names ${mine}; drop the --config / TIDAL_MQ_* / TIDAL_KAFKA_* override or point it at the master's log`,
      );
    }
    return own;
  }
  if (backend === 'embedded' && !path.isAbsolute(localDir)) {
    throw errors.failedPrecondition(
      `the master's embedded message log is at the relative path ${localDir} (relative to the master's working directory); set TIDAL_MQ_LOCAL_DIR to its absolute path`,
    );
  }
  return loadConfig({ file: configFile, overrides: { mq: { backend: backend as TidalConfig['mq']['backend'], localDir }, kafka: { brokers } } });
}
