/**
 * Follows the DD channel (`{prefix}-dd`, named by GetDdChannel) from its end, so the proxy hears of
 * every DDL committed after it started — drop / create collection, create / drop partition — and
 * drops what it cached about that collection (metadata, segment room). Without it a proxy would go
 * on writing into a dropped collection from its cached assignments (Milvus's coordinator tells its
 * proxies to invalidate their caches; here the DD channel does).
 *
 * When reading fails (the channel was truncated under us, the log is away), the watcher reports a
 * reset — the owner forgets every cached collection, since DDL may have been missed — and reads
 * again from the end after `retryDelayMs`.
 */
import { silentLogger, type Logger } from '../common/log.js';
import { StreamMsg } from '../gen/msg.js';
import type { Consumer, MsgStream } from '../mq/msg-stream.js';

/** Options of {@link DdlWatcher}. */
export interface DdlWatcherOptions {
  stream: MsgStream;
  /** The DD channel. */
  channel: string;
  /** Called for every DDL message, in channel order. */
  onDdl: (msg: StreamMsg) => void;
  /** Called when DDL may have been missed (reading failed); every cache entry is suspect. */
  onReset: () => void;
  /** Wait before reading again after a failure, ms. Default 500. */
  retryDelayMs?: number;
  logger?: Logger;
}

/** Lifecycle of a DdlWatcher. */
export type DdlWatcherState = 'idle' | 'running' | 'closed';

/** Reads the DD channel in the background. */
export class DdlWatcher {
  private readonly options: DdlWatcherOptions;
  private readonly log: Logger;
  private stateValue: DdlWatcherState = 'idle';
  private consumer: Consumer | undefined;
  private loop: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: DdlWatcherOptions) {
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ component: 'ddl-watcher', channel: options.channel });
  }

  get state(): DdlWatcherState {
    return this.stateValue;
  }

  /** Opens the channel at its end; resolves once reading has begun. Safe to call twice. */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'running';
    await this.open();
  }

  /** Stops reading. Safe to call twice. */
  async close(): Promise<void> {
    this.stateValue = 'closed';
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.consumer?.close();
    await this.loop;
  }

  private async open(): Promise<void> {
    const consumer = await this.options.stream.consume(this.options.channel, { kind: 'latest' });
    if (this.stateValue !== 'running') {
      await consumer.close();
      return;
    }
    this.consumer = consumer;
    this.loop = this.read(consumer);
  }

  private async read(consumer: Consumer): Promise<void> {
    try {
      for await (const batch of consumer) {
        for (const rec of batch) {
          let msg: StreamMsg;
          try {
            msg = StreamMsg.decode(rec.payload);
          } catch (err) {
            // Not ours to judge; the DataNodes report corrupt DDL. The cache only loses a hint.
            this.log.warn({ err, offset: rec.position.msgId.toString() }, 'undecodable record on the DD channel; forgetting every cached collection');
            this.options.onReset();
            continue;
          }
          this.options.onDdl(msg);
        }
      }
    } catch (err) {
      if (this.stateValue !== 'running') return;
      this.log.warn({ err }, 'reading the DD channel failed; forgetting every cached collection and reading again from its end');
      this.options.onReset();
      await consumer.close().catch(() => undefined);
      this.scheduleReopen();
    }
  }

  private scheduleReopen(): void {
    if (this.stateValue !== 'running') return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stateValue !== 'running') return;
      this.open().catch((err: unknown) => {
        this.log.warn({ err }, 'reopening the DD channel failed; trying again');
        this.options.onReset();
        this.scheduleReopen();
      });
    }, this.options.retryDelayMs ?? 500);
    this.retryTimer.unref();
  }
}
