/** Builds the MsgStream the configuration asks for. */
import type { KafkaConfig, MqConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { KafkaMsgStream } from './kafka/kafka-msg-stream.js';
import { LmdbMsgStream } from './embedded/lmdb-msg-stream.js';
import type { MsgStream } from './msg-stream.js';

/**
 * `mq.backend: kafka` → KafkaMsgStream on `kafka.*`; `embedded` → the persistent embedded log in
 * `mq.localDir` (LmdbMsgStream), which other processes may open at the same time. Throws what
 * LmdbLogStore.open throws when the directory cannot be used.
 */
export function createMsgStream(config: { mq: MqConfig; kafka: KafkaConfig }, logger?: Logger): MsgStream {
  if (config.mq.backend === 'kafka') {
    return new KafkaMsgStream({
      brokers: [...config.kafka.brokers],
      clientId: config.kafka.clientId,
      maxMessageBytes: config.kafka.maxMessageBytes,
      fetchMaxBytes: config.kafka.fetchMaxBytes,
      logger,
    });
  }
  return new LmdbMsgStream({ dir: config.mq.localDir, logger });
}
