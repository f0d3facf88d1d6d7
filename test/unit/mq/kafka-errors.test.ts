import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { fromKafkaError, kafkaErrorType } from '../../../src/mq/kafka/kafka-errors.js';

const protocol = (type: string, retriable = false) => new KafkaJSProtocolError({ type, code: 0, retriable, message: `broker said ${type}` } as never);

describe('kafka-errors', () => {
  it('kafka-errors - broker error types map to Tidal codes, also when wrapped by retries', () => {
    expect(fromKafkaError(protocol('UNKNOWN_TOPIC_OR_PARTITION', true), 'op').code).toBe(ErrorCode.NotFound);
    expect(fromKafkaError(protocol('MESSAGE_TOO_LARGE'), 'op').code).toBe(ErrorCode.ResourceExhausted);
    expect(fromKafkaError(protocol('OFFSET_OUT_OF_RANGE'), 'op').code).toBe(ErrorCode.OffsetOutOfRange);
    const wrapped = new KafkaJSNumberOfRetriesExceeded(protocol('UNKNOWN_TOPIC_OR_PARTITION', true), { retryCount: 5, retryTime: 100 });
    expect(kafkaErrorType(wrapped)).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    const mapped = fromKafkaError(wrapped, 'producing to channel x', { channel: 'x' });
    expect(mapped).toBeInstanceOf(TidalError);
    expect(mapped.code).toBe(ErrorCode.NotFound);
    expect(mapped.message).toMatch(/^producing to channel x: /);
    expect(mapped.context).toMatchObject({ channel: 'x', kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION' });
    expect(mapped.cause).toBe(wrapped);
  });

  it('kafka-errors - other failures are BACKEND_UNAVAILABLE, retriable unless kafkajs says not', () => {
    const lost = fromKafkaError(new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: ECONNREFUSED'), { retryCount: 5, retryTime: 100 }), 'op');
    expect(lost.code).toBe(ErrorCode.BackendUnavailable);
    expect(lost.retriable).toBe(true);
    const bad = fromKafkaError(new KafkaJSNonRetriableError('Invalid topics array'), 'op');
    expect(bad.code).toBe(ErrorCode.BackendUnavailable);
    expect(bad.retriable).toBe(false);
    const same = new TidalError(ErrorCode.Closed, 'closed');
    expect(fromKafkaError(same, 'op')).toBe(same);
  });
});
