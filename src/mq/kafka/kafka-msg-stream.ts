/**
 * KafkaMsgStream: the MsgStream on Apache Kafka through kafkajs.
 *
 * A channel is a topic with one partition (cleanup.policy=delete, so offsets stay contiguous).
 * Produce: one idempotent producer per stream, acks from all in-sync replicas, the hybrid
 * timestamp in a `tidal-ts` header (8 bytes, big-endian), each call split into sends whose record
 * batch stays under the broker's limit, calls to one channel serialized so a call's messages are
 * contiguous. Consume: see KafkaConsumer (a throwaway group per consumer, explicit seeks, loud
 * OFFSET_OUT_OF_RANGE). Offsets: the admin client's ListOffsets.
 */
import { Kafka, type Admin, type Message, type Producer } from 'kafkajs';
import { ErrorCode, TidalError, errors, hasCode } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { asBuffer, checkChannelName, checkMessages, keyBuffer, maxBatchMessagesOf } from '../message-limits.js';
import type { ChannelOffsets, ConsumeOptions, Consumer, MsgStream, Position, ProduceMessage, SeekFrom } from '../msg-stream.js';
import { startOffset } from '../seek.js';
import { ClientSlot } from './client-slot.js';
import { KafkaConsumer, type KafkaConsumerSettings } from './kafka-consumer.js';
import { fromKafkaError } from './kafka-errors.js';
import { kafkaLogCreator, kafkaLogLevel } from './kafka-logger.js';
import { TIMESTAMP_HEADER, encodeTimestamp, maxPayloadBytes, recordBytes, splitByBatchBytes } from './record-batch.js';

/** The broker's default `message.max.bytes`, rounded down to 1 MiB. */
export const DEFAULT_KAFKA_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Options of {@link KafkaMsgStream}. */
export interface KafkaMsgStreamOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id the broker sees. Default `tidal`. */
  clientId?: string;
  /**
   * Largest record batch the broker accepts, in bytes (Kafka's `message.max.bytes`). Default 1 MiB.
   * Channels this stream creates get it as their topic's `max.message.bytes`. The largest message
   * payload + key (`stream.maxMessageBytes`) is this minus the record overhead (about 120 bytes).
   */
  maxMessageBytes?: number;
  /** Replication factor of created channels. Default: the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** Longest a consumer's fetch waits on the broker for new data, in ms. Default 500. */
  fetchMaxWaitMs?: number;
  /** Bytes one consumer fetch may return (its read-ahead), in bytes. Default 1 MiB. */
  fetchMaxBytes?: number;
  /** Timeout of admin operations (create/delete topic, waiting for them to settle), in ms. Default 15,000. */
  adminTimeoutMs?: number;
  logger?: Logger;
}

/** Lifecycle of a KafkaMsgStream. */
export type KafkaMsgStreamState = 'open' | 'closed';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The MsgStream on Kafka. Methods throw TidalError; CLOSED after close(). */
export class KafkaMsgStream implements MsgStream {
  readonly maxMessageBytes: number;
  /** Record batch limit the producer splits under (the `maxMessageBytes` option). */
  readonly maxBatchBytes: number;
  private readonly kafka: Kafka;
  private readonly log: Logger;
  private readonly rootLog: Logger;
  private readonly admin: ClientSlot<Admin>;
  private readonly producer: ClientSlot<Producer>;
  private readonly consumers = new Set<KafkaConsumer>();
  /** Channels known to exist, so produce need not ask the broker each time. */
  private readonly knownChannels = new Set<string>();
  /** Produce calls to one channel run one after another. */
  private readonly produceTails = new Map<string, Promise<unknown>>();
  private readonly consumerSettings: KafkaConsumerSettings;
  /** Bytes one consumer fetch returns at most (the `fetchMaxBytes` option). */
  readonly fetchMaxBytes: number;
  private readonly replicationFactor: number;
  private readonly adminTimeoutMs: number;
  private state: KafkaMsgStreamState = 'open';

  constructor(options: KafkaMsgStreamOptions) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0) throw errors.invalidArgument('brokers must list at least one host:port');
    this.maxBatchBytes = positiveInt('maxMessageBytes', options.maxMessageBytes ?? DEFAULT_KAFKA_MAX_MESSAGE_BYTES);
    this.maxMessageBytes = maxPayloadBytes(this.maxBatchBytes);
    if (this.maxMessageBytes < 1) throw errors.invalidArgument(`maxMessageBytes ${this.maxBatchBytes} leaves no room for a payload`);
    this.replicationFactor = options.replicationFactor ?? -1;
    this.adminTimeoutMs = positiveInt('adminTimeoutMs', options.adminTimeoutMs ?? 15_000);
    const logger = options.logger ?? silentLogger;
    this.rootLog = logger;
    this.log = logger.child({ component: 'kafka-msg-stream' });
    this.fetchMaxBytes = positiveInt('fetchMaxBytes', options.fetchMaxBytes ?? 1024 * 1024);
    this.consumerSettings = {
      fetchMaxWaitMs: positiveInt('fetchMaxWaitMs', options.fetchMaxWaitMs ?? 500),
      fetchMaxBytes: this.fetchMaxBytes,
      sessionTimeoutMs: 30_000,
      heartbeatIntervalMs: 3_000,
      startTimeoutMs: this.adminTimeoutMs,
    };
    this.kafka = new Kafka({
      brokers: options.brokers,
      clientId: options.clientId ?? 'tidal',
      logLevel: kafkaLogLevel(logger),
      logCreator: kafkaLogCreator(logger),
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    // Few retries: admin calls are rare, a broken (poisoned) admin is then replaced within a few
    // hundred ms, and TidalError BACKEND_UNAVAILABLE is retriable for the caller anyway.
    this.admin = new ClientSlot(() => this.kafka.admin({ retry: { retries: 2 } }), this.log);
    this.producer = new ClientSlot(
      () =>
        this.kafka.producer({
          idempotent: true,
          allowAutoTopicCreation: false,
          // Every send names partition 0; the partitioner is never consulted.
          createPartitioner: () => () => 0,
          // Bounded, unlike kafkajs's idempotent default (retry forever): a dead broker must surface.
          retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
        }),
      this.log,
    );
  }

  /** Current lifecycle state. */
  get status(): KafkaMsgStreamState {
    return this.state;
  }

  async createChannel(channel: string): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    const created = await this.withAdmin(`creating channel ${channel}`, channel, (admin) =>
      admin.createTopics({
        topics: [
          {
            topic: channel,
            numPartitions: 1,
            replicationFactor: this.replicationFactor,
            configEntries: [
              { name: 'cleanup.policy', value: 'delete' },
              { name: 'max.message.bytes', value: String(this.maxBatchBytes) },
            ],
          },
        ],
        waitForLeaders: true,
        timeout: this.adminTimeoutMs,
      }),
      // Creating cannot be NOT_FOUND by itself: that comes from a poisoned metadata refresh.
      'always',
    );
    if (!created) await this.checkPartitions(channel);
    // Leaders known is not yet "usable": wait until the partition answers ListOffsets.
    let lastError: unknown;
    await this.until(
      `channel ${channel} to become usable`,
      async () => {
        try {
          await this.offsets(channel);
          return true;
        } catch (err) {
          if (hasCode(err, ErrorCode.Closed)) throw err;
          lastError = err;
          return false;
        }
      },
      () => lastError,
    );
    this.knownChannels.add(channel);
    if (created) this.log.info({ channel }, 'channel created');
  }

  async deleteChannel(channel: string): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    this.knownChannels.delete(channel);
    // Ask first: kafkajs retries a DeleteTopics of a missing topic for seconds before giving up.
    if (!(await this.listChannels()).has(channel)) return;
    try {
      await this.withAdmin(`deleting channel ${channel}`, channel, (admin) => admin.deleteTopics({ topics: [channel], timeout: this.adminTimeoutMs }));
      this.log.info({ channel }, 'channel deleted');
    } catch (err) {
      if (!hasCode(err, ErrorCode.NotFound)) throw err;
    }
    // The producer would keep the deleted topic in its metadata and fail every later send.
    this.producer.retire();
    // Our own readers learn it now rather than after kafkajs's retries (a few seconds).
    for (const c of this.consumers) if (c.channel === channel) c.channelDeleted();
    await this.until(`channel ${channel} to disappear`, async () => !(await this.listChannels()).has(channel));
  }

  async hasChannel(channel: string): Promise<boolean> {
    this.checkOpen();
    checkChannelName(channel);
    return (await this.listChannels()).has(channel);
  }

  async produce(channel: string, messages: ProduceMessage[]): Promise<Position[]> {
    this.checkOpen();
    checkChannelName(channel);
    checkMessages(channel, messages, this.maxMessageBytes);
    await this.checkExists(channel);
    if (messages.length === 0) return [];
    const prev = this.produceTails.get(channel) ?? Promise.resolve();
    const run = prev.then(() => this.send(channel, messages));
    const tail = run.catch(() => {
      // The caller gets the error through `run`; the chain only keeps calls in order.
    });
    this.produceTails.set(channel, tail);
    void tail.then(() => {
      if (this.produceTails.get(channel) === tail) this.produceTails.delete(channel);
    });
    return run;
  }

  async consume(channel: string, from: SeekFrom, options?: ConsumeOptions): Promise<Consumer> {
    this.checkOpen();
    checkChannelName(channel);
    const maxBatch = maxBatchMessagesOf(options);
    const offset = startOffset(channel, from, await this.offsets(channel));
    const consumer = await KafkaConsumer.start(
      {
        kafka: this.kafka,
        offsets: (c) => this.offsets(c),
        forget: (c) => this.consumers.delete(c),
        logger: this.rootLog,
      },
      channel,
      offset,
      maxBatch,
      this.consumerSettings,
    );
    if (this.state !== 'open') {
      await consumer.close();
      throw errors.closed('msg stream');
    }
    this.consumers.add(consumer);
    return consumer;
  }

  async offsets(channel: string): Promise<ChannelOffsets> {
    this.checkOpen();
    checkChannelName(channel);
    // Ask first: kafkajs retries ListOffsets of a missing topic for seconds before giving up.
    await this.checkExists(channel);
    let partitions: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
    try {
      partitions = await this.withAdmin(`reading offsets of channel ${channel}`, channel, (admin) => admin.fetchTopicOffsets(channel));
    } catch (err) {
      if (hasCode(err, ErrorCode.NotFound)) this.knownChannels.delete(channel);
      throw err;
    }
    const p = partitions.find((x) => x.partition === 0);
    if (p === undefined) throw errors.notFound(`channel ${channel} has no partition 0`, { channel });
    return { earliest: BigInt(p.low), latest: BigInt(p.high) };
  }

  /**
   * Deletes every message below `offset` (Kafka DeleteRecords), moving the channel's earliest
   * offset there, as retention would. Consumers that still need a deleted offset fail with
   * OFFSET_OUT_OF_RANGE. Throws NOT_FOUND for a missing channel, INVALID_ARGUMENT for an offset
   * beyond the end.
   */
  async deleteRecordsBefore(channel: string, offset: bigint): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    const { latest } = await this.offsets(channel);
    if (offset > latest) throw errors.invalidArgument(`cannot delete records before ${offset}: channel ${channel} ends at ${latest}`, { channel });
    await this.withAdmin(`deleting records of channel ${channel}`, channel, (admin) =>
      admin.deleteTopicRecords({ topic: channel, partitions: [{ partition: 0, offset: offset.toString() }] }),
    );
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all([...this.consumers].map((c) => c.close()));
    await Promise.all([this.producer.close(), this.admin.close()]);
    this.log.debug('closed');
  }

  /** Sends one produce call's messages as one or more record batches, in order. */
  private async send(channel: string, messages: ProduceMessage[]): Promise<Position[]> {
    const records = messages.map((m) => {
      const key = keyBuffer(m.key);
      const record: Message & { value: Buffer; key?: Buffer; headers?: Record<string, Buffer> } = { value: asBuffer(m.payload), partition: 0 };
      if (key !== undefined) record.key = key;
      if (m.timestamp !== undefined) record.headers = { [TIMESTAMP_HEADER]: encodeTimestamp(m.timestamp) };
      return record;
    });
    const groups = splitByBatchBytes(records, (r) => recordBytes(r.value.length, r.key?.length, r.headers !== undefined), this.maxBatchBytes);
    const positions: Position[] = [];
    for (const group of groups) {
      const base = await this.sendGroup(channel, group, positions.length);
      for (let i = 0; i < group.length; i += 1) {
        const index = positions.length;
        positions.push({ channel, msgId: base + BigInt(i), timestamp: messages[index]?.timestamp ?? 0n });
      }
    }
    return positions;
  }

  /**
   * Sends one record batch and returns its base offset. NOT_FOUND for a channel that does exist
   * means the producer's metadata is poisoned by a topic deleted elsewhere: retry once on a fresh
   * producer (nothing was written: the send failed on metadata, before producing).
   */
  private async sendGroup(channel: string, group: Message[], written: number): Promise<bigint> {
    for (let attempt = 0; ; attempt += 1) {
      this.checkOpen();
      try {
        return await this.producer.use(async (producer, generation) => {
          try {
            const meta = await producer.send({ topic: channel, acks: -1, messages: group });
            const p = meta.find((m) => m.partition === 0);
            if (p?.baseOffset === undefined) throw new TidalError(ErrorCode.Internal, `produce to channel ${channel}: no base offset in the broker's answer`);
            return BigInt(p.baseOffset);
          } catch (err) {
            const mapped = fromKafkaError(err, `producing to channel ${channel}`, { channel, written });
            if (mapped.code === ErrorCode.NotFound || mapped.code === ErrorCode.BackendUnavailable) this.producer.retire(generation);
            throw mapped;
          }
        });
      } catch (err) {
        const mapped = fromKafkaError(err, `producing to channel ${channel}`, { channel, written });
        if (mapped.code !== ErrorCode.NotFound) throw mapped;
        if (attempt > 0 || !(await this.listChannels()).has(channel)) {
          this.knownChannels.delete(channel);
          throw mapped;
        }
        this.log.warn({ channel }, 'producer metadata broken by a deleted topic; retrying on a fresh producer');
      }
    }
  }

  /** Throws NOT_FOUND unless the channel exists (asks the broker only for channels not seen yet). */
  private async checkExists(channel: string): Promise<void> {
    if (this.knownChannels.has(channel)) return;
    if (!(await this.listChannels()).has(channel)) throw errors.notFound(`channel ${channel} does not exist`, { channel });
    this.knownChannels.add(channel);
  }

  /** An existing topic must have exactly one partition to be a channel. */
  private async checkPartitions(channel: string): Promise<void> {
    const meta = await this.withAdmin(`describing channel ${channel}`, channel, (admin) => admin.fetchTopicMetadata({ topics: [channel] }));
    const count = meta.topics.find((t) => t.name === channel)?.partitions.length ?? 0;
    if (count !== 1) {
      throw errors.failedPrecondition(`topic ${channel} exists with ${count} partitions; a channel needs exactly 1`, { channel, partitions: count });
    }
  }

  private async listChannels(): Promise<Set<string>> {
    return new Set(await this.withAdmin('listing channels', undefined, (admin) => admin.listTopics()));
  }

  /**
   * Runs an admin call, mapping errors to TidalError. A NOT_FOUND for a channel that does exist
   * (or, with `retryNotFound: 'always'`, any NOT_FOUND) means the admin client's metadata is
   * poisoned by a topic deleted elsewhere: retry once on a fresh client.
   */
  private async withAdmin<T>(what: string, channel: string | undefined, fn: (admin: Admin) => Promise<T>, retryNotFound: 'if-exists' | 'always' = 'if-exists'): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      this.checkOpen();
      let generation = 0;
      try {
        return await this.admin.use((admin, g) => {
          generation = g;
          return fn(admin);
        });
      } catch (err) {
        const mapped = fromKafkaError(err, what, channel === undefined ? {} : { channel });
        if (mapped.code !== ErrorCode.NotFound || attempt > 0) throw mapped;
        this.admin.retire(generation);
        if (retryNotFound === 'if-exists' && (channel === undefined || !(await this.listChannels()).has(channel))) throw mapped;
        this.log.warn({ channel }, 'admin metadata broken by a deleted topic; retrying on a fresh admin client');
      }
    }
  }

  /** Polls `check` until true, or throws TIMEOUT (with `cause()` as its cause) after adminTimeoutMs. */
  private async until(what: string, check: () => Promise<boolean>, cause?: () => unknown): Promise<void> {
    const deadline = Date.now() + this.adminTimeoutMs;
    for (let delayMs = 20; ; delayMs = Math.min(delayMs * 2, 250)) {
      if (await check()) return;
      if (Date.now() > deadline) throw new TidalError(ErrorCode.Timeout, `timed out waiting for ${what}`, { cause: cause?.() });
      await sleep(delayMs);
    }
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw errors.closed('msg stream');
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw errors.invalidArgument(`${name} must be a positive integer, got ${value}`);
  return value;
}
