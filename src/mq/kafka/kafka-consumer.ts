/**
 * KafkaConsumer: a MsgStream Consumer over one kafkajs consumer.
 *
 * kafkajs has no manual partition assignment, so each consumer joins a consumer group of its own
 * (a throwaway group id, one member, one partition), never commits offsets, and seeks to its own
 * next offset whenever it (re)joins. Positions are Tidal's, kept here.
 *
 * kafkajs "recovers" from OFFSET_OUT_OF_RANGE by committing the default offset and jumping to the
 * earliest (or latest) offset. This consumer never commits, so an OffsetCommit request on its
 * connection means exactly that recovery happened; that, or a fetch that does not start at the
 * expected offset, stops the consumer: a deleted offset ends iteration with OFFSET_OUT_OF_RANGE,
 * any other reset (a group rejoin) seeks back. Never a silent jump.
 */
import { randomUUID } from 'node:crypto';
import type { Batch, Consumer as KafkaJsConsumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ChannelOffsets, ConsumedMessage, Consumer } from '../msg-stream.js';
import { offsetOutOfRange } from '../seek.js';
import { BatchHandoff } from './batch-handoff.js';
import { fromKafkaError } from './kafka-errors.js';
import { TIMESTAMP_HEADER, decodeTimestamp } from './record-batch.js';

/** Fetch and group settings of a KafkaConsumer. */
export interface KafkaConsumerSettings {
  /** Longest a fetch waits on the broker for new data, in ms (also bounds close()). */
  fetchMaxWaitMs: number;
  /** Bytes one fetch may return: the consumer's read-ahead. */
  fetchMaxBytes: number;
  /** Group session timeout, in ms. */
  sessionTimeoutMs: number;
  /** Group heartbeat interval, in ms (also kept up while the reader does not pull). */
  heartbeatIntervalMs: number;
  /** Longest consume() waits for the group join, in ms. */
  startTimeoutMs: number;
}

/** What a KafkaConsumer needs from its stream. */
export interface KafkaConsumerHost {
  kafka: Kafka;
  /** The channel's current offsets (through the stream's admin client). */
  offsets(channel: string): Promise<ChannelOffsets>;
  /** Called once the consumer is closed or failed, so the stream stops tracking it. */
  forget(consumer: KafkaConsumer): void;
  logger: Logger;
}

/** Lifecycle of a KafkaConsumer. */
export type KafkaConsumerState = 'starting' | 'running' | 'failed' | 'closed';

/** Prefix of the throwaway consumer-group ids, so operators can tell them apart. */
export const READER_GROUP_PREFIX = 'tidal-reader-';

/** One channel's consumer: async-iterable batches, pulled. */
export class KafkaConsumer implements Consumer {
  private state: KafkaConsumerState = 'starting';
  private readonly handoff = new BatchHandoff<ConsumedMessage[]>();
  private readonly consumer: KafkaJsConsumer;
  private readonly groupId: string;
  private readonly log: Logger;
  /** How often to heartbeat while parked on a reader that does not pull, in ms. */
  private readonly heartbeatEveryMs: number;
  /** Next offset to hand out: one past the last message queued for the reader. */
  private nextOffset: bigint;
  private checking: Promise<void> | undefined;
  private shutdownDone: Promise<void> | undefined;
  private joined: (() => void) | undefined;
  private startFailed: ((err: unknown) => void) | undefined;

  /** Creates and starts a consumer at `startOffset`; resolves once it has joined its group. */
  static async start(host: KafkaConsumerHost, channel: string, startOffset: bigint, maxBatch: number, settings: KafkaConsumerSettings): Promise<KafkaConsumer> {
    const c = new KafkaConsumer(host, channel, startOffset, maxBatch, settings);
    await c.run(settings.startTimeoutMs);
    return c;
  }

  private constructor(
    private readonly host: KafkaConsumerHost,
    readonly channel: string,
    startOffset: bigint,
    private readonly maxBatch: number,
    settings: KafkaConsumerSettings,
  ) {
    this.nextOffset = startOffset;
    this.groupId = `${READER_GROUP_PREFIX}${randomUUID()}`;
    this.log = host.logger.child({ component: 'kafka-consumer', channel, groupId: this.groupId });
    this.consumer = host.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: settings.fetchMaxWaitMs,
      maxBytesPerPartition: settings.fetchMaxBytes,
      maxBytes: settings.fetchMaxBytes,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      retry: {
        retries: 5,
        initialRetryTime: 100,
        maxRetryTime: 2_000,
        // kafkajs restarts a crashed consumer on retriable errors, even after disconnect() (the
        // restart is scheduled after the CRASH event): say no once this consumer is done, and for
        // a deleted topic, which no restart brings back.
        restartOnFailure: async (err: Error) => this.state !== 'closed' && this.state !== 'failed' && fromKafkaError(err, 'restart').code !== ErrorCode.NotFound,
      },
    });
    this.heartbeatEveryMs = Math.max(250, Math.floor(settings.heartbeatIntervalMs / 3));
    this.listen();
  }

  /** Current lifecycle state. */
  get status(): KafkaConsumerState {
    return this.state;
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage[]> {
    return {
      next: async () => {
        const batch = await this.handoff.take();
        return batch === undefined ? { done: true, value: undefined } : { done: false, value: batch };
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return this.shutdownDone;
    this.state = 'closed';
    this.handoff.end();
    await this.shutdown();
  }

  /** Ends iteration with NOT_FOUND: the channel was deleted (through this process's stream). */
  channelDeleted(): void {
    this.fail(errors.notFound(`channel ${this.channel} was deleted`, { channel: this.channel }));
  }

  private listen(): void {
    const c = this.consumer;
    c.on(c.events.GROUP_JOIN, () => {
      // Every (re)join starts from the committed offset, and there is none: put the position back.
      // Runs synchronously inside kafkajs's join, before its next fetch.
      this.seek();
      this.joined?.();
    });
    c.on(c.events.REQUEST, (event) => {
      if (event.payload.apiName === 'OffsetCommit') {
        this.log.warn({ offset: this.nextOffset.toString() }, 'kafkajs reset the fetch offset');
        void this.checkPosition();
      }
    });
    c.on(c.events.CRASH, (event) => {
      const err = fromKafkaError(event.payload.error, `consuming channel ${this.channel}`, { channel: this.channel });
      this.log.warn({ err, restart: event.payload.restart }, 'kafka consumer crashed');
      if (this.state === 'starting') this.startFailed?.(err);
      // When kafkajs restarts the consumer itself, the rejoin seeks back to our position.
      else if (!event.payload.restart) this.fail(err);
    });
  }

  private async run(startTimeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const joinedOrFailed = new Promise<void>((resolve, reject) => {
      this.joined = resolve;
      this.startFailed = reject;
      timer = setTimeout(
        () => reject(new TidalError(ErrorCode.Timeout, `consumer of channel ${this.channel} did not join its group within ${startTimeoutMs} ms`, { context: { channel: this.channel } })),
        startTimeoutMs,
      );
    });
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topic: this.channel, fromBeginning: true });
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.onBatch(payload),
      });
      await joinedOrFailed;
      if (this.state === 'starting') this.state = 'running';
    } catch (err) {
      this.state = 'failed';
      this.handoff.end();
      await this.shutdown();
      throw fromKafkaError(err, `starting a consumer of channel ${this.channel}`, { channel: this.channel });
    } finally {
      clearTimeout(timer);
      this.joined = undefined;
      this.startFailed = undefined;
    }
  }

  private async onBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    if (this.state === 'closed' || this.state === 'failed' || isStale()) return;
    const fetchedOffset = BigInt((batch as Batch & { fetchedOffset: string }).fetchedOffset);
    if (fetchedOffset !== this.nextOffset) {
      this.log.warn({ fetchedOffset: fetchedOffset.toString(), offset: this.nextOffset.toString() }, 'fetch did not start at the expected offset');
      await this.checkPosition();
      return;
    }
    const messages: ConsumedMessage[] = [];
    for (const m of batch.messages) {
      const offset = BigInt(m.offset);
      // Kafka may return records below the fetch offset (a record batch is returned whole).
      if (offset >= this.nextOffset) messages.push(this.toConsumed(offset, m));
    }
    // lastOffset() also covers records kafkajs filtered out (control records): it is where the next fetch starts.
    this.nextOffset = BigInt(batch.lastOffset()) + 1n;
    const chunks: ConsumedMessage[][] = [];
    for (let i = 0; i < messages.length; i += this.maxBatch) chunks.push(messages.slice(i, i + this.maxBatch));
    // While the reader does not pull, kafkajs cannot heartbeat for us: keep the group membership alive.
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => this.log.debug({ err }, 'heartbeat while parked failed'));
    }, this.heartbeatEveryMs);
    try {
      await this.handoff.offer(chunks);
    } finally {
      clearInterval(beat);
    }
  }

  private toConsumed(offset: bigint, m: KafkaMessage): ConsumedMessage {
    const out: ConsumedMessage = {
      position: { channel: this.channel, msgId: offset, timestamp: decodeTimestamp(m.headers?.[TIMESTAMP_HEADER]) },
      payload: m.value ?? Buffer.alloc(0),
    };
    if (m.key !== null && m.key !== undefined) out.key = m.key;
    return out;
  }

  /**
   * kafkajs moved the fetch position on its own. If the offset we need is gone (deleted, or the
   * log is shorter than it), fail with OFFSET_OUT_OF_RANGE; otherwise seek back to it.
   */
  private checkPosition(): Promise<void> {
    this.checking ??= (async () => {
      const wanted = this.nextOffset;
      let offsets: ChannelOffsets;
      try {
        offsets = await this.host.offsets(this.channel);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (wanted < offsets.earliest) {
        this.fail(offsetOutOfRange(this.channel, wanted, offsets, 'was deleted while the consumer needed it'));
      } else if (wanted > offsets.latest) {
        this.fail(offsetOutOfRange(this.channel, wanted, offsets, 'is beyond the end of the channel (was it recreated?)'));
      } else {
        this.seek();
      }
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private seek(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    try {
      this.consumer.seek({ topic: this.channel, partition: 0, offset: this.nextOffset.toString() });
    } catch (err) {
      this.fail(fromKafkaError(err, `seeking channel ${this.channel}`, { channel: this.channel }));
    }
  }

  private fail(err: unknown): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    const error = err instanceof TidalError ? err : errors.backend(`consuming channel ${this.channel} failed`, err, true, { channel: this.channel });
    this.log.warn({ err: error }, 'consumer failed');
    this.state = 'failed';
    this.handoff.fail(error);
    void this.shutdown();
  }

  private shutdown(): Promise<void> {
    this.shutdownDone ??= (async () => {
      try {
        await this.consumer.disconnect();
      } catch (err) {
        this.log.debug({ err }, 'kafka consumer disconnect failed');
      }
      this.host.forget(this);
    })();
    return this.shutdownDone;
  }
}
