/**
 * LogMsgStream: the embedded MsgStream, over any LogStore. It holds the semantics the conformance
 * suite checks (validation, seek resolution, consumers that wait for new messages, loud errors
 * for deleted offsets); the store only keeps records.
 *
 * Waking consumers: an append through this stream wakes the consumers of its channel at once. When
 * the store is shared with other processes (`store.pollIntervalMs` set), one timer per stream also
 * checks, every pollIntervalMs while at least one consumer waits, whether a waited-on channel's end
 * moved (or the channel vanished) and wakes its consumers: one offsets lookup per waited-on channel
 * per tick, about 1-3 % of one core here with 1-20 waiting consumers at 20 ms (bench/embedded/log-speed.ts).
 */
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { asBuffer, checkChannelName, checkMessages, keyBuffer, maxBatchMessagesOf } from '../message-limits.js';
import type { ChannelOffsets, ConsumeOptions, ConsumedMessage, Consumer, MsgStream, Position, ProduceMessage, SeekFrom } from '../msg-stream.js';
import { startOffset } from '../seek.js';
import type { LogStore, StoredRecord } from './log-store.js';

/** Default largest message (payload + key) of the embedded log: 1 MiB, like Kafka's default. */
export const DEFAULT_EMBEDDED_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Bytes (payload + key) above which a consumer stops filling a batch: bounds its memory with big messages. */
export const EMBEDDED_READ_MAX_BYTES = 8 * 1024 * 1024;

/** Options of {@link LogMsgStream}. */
export interface LogMsgStreamOptions {
  /** Largest message payload plus key, in bytes. Default 1 MiB. */
  maxMessageBytes?: number;
  logger?: Logger;
}

/** Lifecycle of a stream or consumer. */
export type LogStreamState = 'open' | 'closed';

/** A promise that is replaced each time it fires: waiters grab it before checking, then await it. */
class Signal {
  private resolveFn!: () => void;
  private promise!: Promise<void>;
  constructor() {
    this.reset();
  }
  /** Resolves on the next fire(). */
  wait(): Promise<void> {
    return this.promise;
  }
  fire(): void {
    const resolve = this.resolveFn;
    this.reset();
    resolve();
  }
  private reset(): void {
    this.promise = new Promise((resolve) => (this.resolveFn = resolve));
  }
}

/** The embedded MsgStream over a LogStore. Methods throw TidalError; CLOSED after close(). */
export class LogMsgStream implements MsgStream {
  readonly maxMessageBytes: number;
  private readonly log: Logger;
  private state: LogStreamState = 'open';
  private readonly signals = new Map<string, Signal>();
  private readonly consumers = new Set<LogConsumer>();
  /** Consumers waiting at the end of a channel, with the offset each waits for (cross-process polling). */
  private readonly waiting = new Map<string, Map<LogConsumer, bigint>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly store: LogStore,
    options: LogMsgStreamOptions = {},
  ) {
    const max = options.maxMessageBytes ?? DEFAULT_EMBEDDED_MAX_MESSAGE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw errors.invalidArgument(`maxMessageBytes must be a positive integer, got ${max}`);
    this.maxMessageBytes = max;
    this.log = (options.logger ?? silentLogger).child({ component: 'log-msg-stream' });
  }

  /** Current lifecycle state. */
  get status(): LogStreamState {
    return this.state;
  }

  async createChannel(channel: string): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    if (await this.store.createChannel(channel)) this.log.debug({ channel }, 'channel created');
  }

  async deleteChannel(channel: string): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    if (await this.store.deleteChannel(channel)) {
      this.log.debug({ channel }, 'channel deleted');
      // Consumers waiting on it wake up and report NOT_FOUND.
      this.signal(channel).fire();
    }
  }

  async hasChannel(channel: string): Promise<boolean> {
    this.checkOpen();
    checkChannelName(channel);
    return this.store.hasChannel(channel);
  }

  async produce(channel: string, messages: ProduceMessage[]): Promise<Position[]> {
    this.checkOpen();
    checkChannelName(channel);
    checkMessages(channel, messages, this.maxMessageBytes);
    if (!(await this.store.hasChannel(channel))) throw errors.notFound(`channel ${channel} does not exist`, { channel });
    if (messages.length === 0) return [];
    // No copy here: the store copies what it keeps before it yields (LogStore.append). The store
    // appends atomically and in call order, so a call's messages are contiguous.
    const records: StoredRecord[] = messages.map((m) => {
      const key = keyBuffer(m.key);
      const record: StoredRecord = { payload: asBuffer(m.payload), timestamp: m.timestamp ?? 0n };
      if (key !== undefined) record.key = key;
      return record;
    });
    const first = await this.store.append(channel, records);
    this.signal(channel).fire();
    return records.map((r, i) => ({ channel, msgId: first + BigInt(i), timestamp: r.timestamp }));
  }

  async consume(channel: string, from: SeekFrom, options?: ConsumeOptions): Promise<Consumer> {
    this.checkOpen();
    checkChannelName(channel);
    const maxBatch = maxBatchMessagesOf(options);
    const offset = startOffset(channel, from, await this.store.offsets(channel));
    const consumer = new LogConsumer(channel, offset, maxBatch, {
      store: this.store,
      signal: (c) => this.signal(c),
      isOpen: () => this.state === 'open',
      forget: (c) => this.consumers.delete(c),
      waiting: (c, next) => this.setWaiting(c, next),
    });
    this.consumers.add(consumer);
    return consumer;
  }

  async offsets(channel: string): Promise<ChannelOffsets> {
    this.checkOpen();
    checkChannelName(channel);
    return this.store.offsets(channel);
  }

  /**
   * Deletes every message below `offset`, moving the channel's earliest offset there (what Kafka
   * retention does). Consumers that still need a deleted offset fail with OFFSET_OUT_OF_RANGE.
   * Throws NOT_FOUND for a missing channel, INVALID_ARGUMENT for an offset beyond the end.
   */
  async deleteRecordsBefore(channel: string, offset: bigint): Promise<void> {
    this.checkOpen();
    checkChannelName(channel);
    await this.store.truncateBefore(channel, offset);
    this.signal(channel).fire();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all([...this.consumers].map((c) => c.close()));
    for (const s of this.signals.values()) s.fire();
    this.signals.clear();
    this.waiting.clear();
    this.updatePollTimer();
    await this.store.close();
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw errors.closed('msg stream');
  }

  private signal(channel: string): Signal {
    let s = this.signals.get(channel);
    if (s === undefined) {
      s = new Signal();
      this.signals.set(channel, s);
    }
    return s;
  }

  /** Records that `consumer` waits for offset `next` of its channel (undefined: it stopped waiting). */
  private setWaiting(consumer: LogConsumer, next: bigint | undefined): void {
    if (this.store.pollIntervalMs === undefined) return;
    let waiters = this.waiting.get(consumer.channel);
    if (next !== undefined) {
      if (waiters === undefined) this.waiting.set(consumer.channel, (waiters = new Map()));
      waiters.set(consumer, next);
    } else if (waiters !== undefined) {
      waiters.delete(consumer);
      if (waiters.size === 0) this.waiting.delete(consumer.channel);
    }
    this.updatePollTimer();
  }

  /** Runs the poll timer while some consumer waits and the stream is open, and only then. */
  private updatePollTimer(): void {
    const wanted = this.waiting.size > 0 && this.state === 'open';
    if (wanted && this.pollTimer === undefined) {
      // Not unref'd: a consumer waiting for another process's records keeps the process alive, as
      // a Kafka consumer's socket would.
      this.pollTimer = setInterval(() => void this.poll(), this.store.pollIntervalMs);
    } else if (!wanted && this.pollTimer !== undefined) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  /**
   * Wakes the consumers of every waited-on channel whose end is no longer where they wait (another
   * process appended, or deleted and recreated it) or which is gone; their next read sees why.
   */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const [channel, waiters] of [...this.waiting]) {
        let latest: bigint | undefined;
        try {
          latest = (await this.store.offsets(channel)).latest;
        } catch {
          // Missing (deleted elsewhere) or failing: the consumers' own read reports it.
          latest = undefined;
        }
        if (this.state !== 'open') return;
        if (latest === undefined || [...waiters.values()].some((next) => next !== latest)) this.signal(channel).fire();
      }
    } finally {
      this.polling = false;
    }
  }
}

/** What a LogConsumer needs from its stream. */
interface LogConsumerHost {
  store: LogStore;
  signal(channel: string): Signal;
  isOpen(): boolean;
  forget(consumer: LogConsumer): void;
  /** The consumer waits for offset `next` (undefined: it stopped waiting). */
  waiting(consumer: LogConsumer, next: bigint | undefined): void;
}

/** A pull consumer of one channel of a LogMsgStream: it reads the store only when asked. */
class LogConsumer implements Consumer {
  private state: 'open' | 'failed' | 'closed' = 'open';
  private readonly closedSignal = new Signal();
  /** Serializes next() calls so batches come out in order even if the caller does not await. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly channel: string,
    private nextOffset: bigint,
    private readonly maxBatch: number,
    private readonly host: LogConsumerHost,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage[]> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closedSignal.fire();
    this.host.forget(this);
  }

  private next(): Promise<IteratorResult<ConsumedMessage[]>> {
    const run = this.tail.then(() => this.read());
    this.tail = run.catch(() => {
      // The error reaches the caller through `run`; the chain only keeps order.
    });
    return run;
  }

  private async read(): Promise<IteratorResult<ConsumedMessage[]>> {
    for (;;) {
      if (this.state !== 'open' || !this.host.isOpen()) return { done: true, value: undefined };
      // Take the signal before reading, so an append that lands after the read still wakes us.
      const appended = this.host.signal(this.channel).wait();
      let records: StoredRecord[];
      try {
        records = await this.host.store.read(this.channel, this.nextOffset, this.maxBatch, EMBEDDED_READ_MAX_BYTES);
      } catch (err) {
        if (this.state !== 'open' || !this.host.isOpen()) return { done: true, value: undefined };
        this.state = 'failed';
        this.host.forget(this);
        throw err;
      }
      if (records.length > 0) {
        const first = this.nextOffset;
        this.nextOffset += BigInt(records.length);
        return { done: false, value: records.map((r, i) => toConsumed(this.channel, first + BigInt(i), r)) };
      }
      this.host.waiting(this, this.nextOffset);
      try {
        await Promise.race([appended, this.closedSignal.wait()]);
      } finally {
        this.host.waiting(this, undefined);
      }
    }
  }
}

function toConsumed(channel: string, offset: bigint, r: StoredRecord): ConsumedMessage {
  const m: ConsumedMessage = { position: { channel, msgId: offset, timestamp: r.timestamp }, payload: r.payload };
  if (r.key !== undefined) m.key = r.key;
  return m;
}
