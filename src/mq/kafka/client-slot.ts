/**
 * ClientSlot: holds one connected kafkajs client (producer or admin) and swaps it for a fresh one
 * when it goes bad. Needed because a kafkajs client keeps every topic it ever touched in its
 * metadata "target topics", and once one of them is deleted every metadata refresh, hence every
 * later call, fails with UNKNOWN_TOPIC_OR_PARTITION.
 */
import { errors } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';

/** What a slot needs of a client. */
export interface Connectable {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

interface Entry<C> {
  client: C;
  ready: Promise<void>;
  users: number;
  retired: boolean;
  generation: number;
}

/** One lazily connected client, replaced on demand; old clients disconnect once their calls finish. */
export class ClientSlot<C extends Connectable> {
  private current: Entry<C> | undefined;
  private generation = 0;
  private readonly live = new Set<Entry<C>>();
  private closed = false;

  constructor(
    private readonly create: () => C,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `fn` with the current client, connecting it first if needed. A failed connect retires
   * the client so the next call tries a fresh one. Returns what `fn` returns; throws what it throws.
   */
  async use<T>(fn: (client: C, generation: number) => Promise<T>): Promise<T> {
    if (this.closed) throw errors.closed('kafka client');
    const entry = this.entry();
    entry.users += 1;
    try {
      try {
        await entry.ready;
      } catch (err) {
        this.retire(entry.generation);
        throw err;
      }
      return await fn(entry.client, entry.generation);
    } finally {
      entry.users -= 1;
      if (entry.retired && entry.users === 0) void this.disconnect(entry);
    }
  }

  /** Replaces the client of `generation` (the current one if omitted) with a fresh one on next use. */
  retire(generation?: number): void {
    const entry = this.current;
    if (entry === undefined || (generation !== undefined && entry.generation !== generation)) return;
    this.current = undefined;
    entry.retired = true;
    this.log.debug({ generation: entry.generation }, 'kafka client retired');
    if (entry.users === 0) void this.disconnect(entry);
  }

  /** Disconnects every client now, in use or not. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.current = undefined;
    await Promise.all([...this.live].map((e) => this.disconnect(e)));
  }

  private entry(): Entry<C> {
    if (this.current === undefined) {
      const client = this.create();
      this.generation += 1;
      const entry: Entry<C> = { client, ready: client.connect(), users: 0, retired: false, generation: this.generation };
      // A connect failure surfaces through use(); this handler only keeps it from being unhandled.
      entry.ready.catch(() => undefined);
      this.live.add(entry);
      this.current = entry;
    }
    return this.current;
  }

  private async disconnect(entry: Entry<C>): Promise<void> {
    if (!this.live.delete(entry)) return;
    try {
      await entry.client.disconnect();
    } catch (err) {
      this.log.debug({ err }, 'kafka client disconnect failed');
    }
  }
}
