import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/common/config.js';
import { createMsgStream } from '../../../src/mq/create.js';
import { KafkaMsgStream } from '../../../src/mq/kafka/kafka-msg-stream.js';

describe('createMsgStream', () => {
  it('create-msg-stream - the Kafka stream takes kafka.maxMessageBytes and kafka.fetchMaxBytes from the config (no broker is contacted)', async () => {
    const make = async (env: Record<string, string>) => {
      const stream = createMsgStream(loadConfig({ env: { TIDAL_MQ_BACKEND: 'kafka', TIDAL_KAFKA_BROKERS: '127.0.0.1:1', ...env } }));
      expect(stream).toBeInstanceOf(KafkaMsgStream);
      const { fetchMaxBytes, maxMessageBytes } = stream as KafkaMsgStream;
      await stream.close();
      return { fetchMaxBytes, maxMessageBytes };
    };
    const defaults = await make({});
    expect(defaults.fetchMaxBytes).toBe(1024 * 1024);
    const set = await make({ TIDAL_KAFKA_FETCH_MAX_BYTES: String(8 * 1024 * 1024), TIDAL_KAFKA_MAX_MESSAGE_BYTES: String(2 * 1024 * 1024) });
    expect(set.fetchMaxBytes).toBe(8 * 1024 * 1024);
    expect(set.maxMessageBytes).toBeGreaterThan(defaults.maxMessageBytes);
  });
});
