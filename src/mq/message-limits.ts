/**
 * Checks shared by every MsgStream implementation before anything is written: channel names,
 * message sizes and timestamps. A produce call that fails these checks writes nothing.
 */
import { ErrorCode, TidalError, errors } from '../common/errors.js';
import { DEFAULT_MAX_BATCH_MESSAGES, type ConsumeOptions, type ProduceMessage } from './msg-stream.js';

/** Largest hybrid timestamp a message can carry (unsigned 64-bit). */
export const MAX_TIMESTAMP = (1n << 64n) - 1n;

/** Kafka's own topic-name rule, used by every implementation so a channel name works everywhere. */
const CHANNEL_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Throws INVALID_ARGUMENT unless `channel` is a valid channel (Kafka topic) name. */
export function checkChannelName(channel: string): void {
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel) || channel === '.' || channel === '..') {
    throw errors.invalidArgument(`invalid channel name ${JSON.stringify(channel)}: use 1-249 characters from [a-zA-Z0-9._-]`, { channel });
  }
}

/** Bytes a message counts against the size limit: its payload plus its key. */
export function messageBytes(message: ProduceMessage): number {
  const key = message.key === undefined ? 0 : typeof message.key === 'string' ? Buffer.byteLength(message.key) : message.key.length;
  return message.payload.length + key;
}

/**
 * Checks every message of a produce call: payload present, payload + key at most
 * `maxMessageBytes` (else RESOURCE_EXHAUSTED), timestamp an unsigned 64-bit value (else
 * INVALID_ARGUMENT). Throws on the first bad message, naming its index.
 */
export function checkMessages(channel: string, messages: readonly ProduceMessage[], maxMessageBytes: number): void {
  if (!Array.isArray(messages)) throw errors.invalidArgument('messages must be an array', { channel });
  messages.forEach((message, index) => {
    if (!(message?.payload instanceof Uint8Array)) {
      throw errors.invalidArgument(`message ${index}: payload must be a Buffer or Uint8Array`, { channel, index });
    }
    const bytes = messageBytes(message);
    if (bytes > maxMessageBytes) {
      throw new TidalError(
        ErrorCode.ResourceExhausted,
        `message ${index} is ${bytes} bytes (payload + key), above the channel limit of ${maxMessageBytes} bytes: split it`,
        { context: { channel, index, bytes, maxMessageBytes } },
      );
    }
    const ts = message.timestamp;
    if (ts !== undefined && (typeof ts !== 'bigint' || ts < 0n || ts > MAX_TIMESTAMP)) {
      throw errors.invalidArgument(`message ${index}: timestamp must be an unsigned 64-bit bigint`, { channel, index });
    }
  });
}

/** Payload as a Buffer without copying. */
export function asBuffer(bytes: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Key as a Buffer (strings are UTF-8), or undefined. */
export function keyBuffer(key: Buffer | string | undefined): Buffer | undefined {
  if (key === undefined) return undefined;
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** The batch size a consumer uses: `options.maxBatchMessages` checked, or the default. */
export function maxBatchMessagesOf(options: ConsumeOptions | undefined): number {
  const n = options?.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw errors.invalidArgument(`maxBatchMessages must be a positive integer, got ${String(n)}`);
  }
  return n;
}
