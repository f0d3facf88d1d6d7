/**
 * Public surface of src/mq: the MsgStream seam and its implementations (Kafka, embedded).
 * Other folders import from here (`../mq/index.js`).
 */
export * from './msg-stream.js';
export { checkChannelName, messageBytes, MAX_TIMESTAMP } from './message-limits.js';
export { KafkaMsgStream, DEFAULT_KAFKA_MAX_MESSAGE_BYTES, type KafkaMsgStreamOptions, type KafkaMsgStreamState } from './kafka/kafka-msg-stream.js';
export { LogMsgStream, DEFAULT_EMBEDDED_MAX_MESSAGE_BYTES, EMBEDDED_READ_MAX_BYTES, type LogMsgStreamOptions, type LogStreamState } from './embedded/log-msg-stream.js';
export { MemoryMsgStream, type MemoryMsgStreamOptions } from './embedded/memory-msg-stream.js';
export { MemoryLogStore } from './embedded/memory-log-store.js';
export { LmdbMsgStream, type LmdbMsgStreamOptions } from './embedded/lmdb-msg-stream.js';
export { LmdbLogStore, DEFAULT_LOG_POLL_INTERVAL_MS, type LmdbLogStoreOptions } from './embedded/lmdb-log-store.js';
export type { LogStore, StoredRecord } from './embedded/log-store.js';
