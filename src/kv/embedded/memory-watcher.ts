/**
 * MemoryWatcher: a prefix watch on an {@link MvccStore}, behaving like an etcd watch.
 *
 * It replays history from its start revision, then follows live commits; events are emitted
 * asynchronously (never inside the writer's call), in revision order. A simulated disconnect drops
 * everything not yet emitted and, when "the connection comes back", resumes from the last
 * revision it emitted + 1, so nothing is repeated or skipped. A start revision below the store's
 * compaction revision is reported with `compacted`, after which the watcher is closed. A store
 * whose journal failed (see {@link MvccStore}) is reported with `error` (when someone listens),
 * after which the watcher is closed too.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors, hasCode } from '../../common/errors.js';
import type { WatchEvent, Watcher, WatcherEvents } from '../meta-kv.js';
import type { ChangeRecord, MvccStore } from './mvcc-store.js';

/** Lifecycle of a {@link MemoryWatcher}. */
export type MemoryWatcherState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** A watch on the embedded store. Created by `MemoryKV.watch`. */
export class MemoryWatcher extends EventEmitter<WatcherEvents> implements Watcher {
  private state: MemoryWatcherState = 'connecting';
  /** Highest revision whose events were emitted (or skipped as not ours). */
  private delivered: number;
  /** Highest revision queued for emission. */
  private queuedUpTo: number;
  private queue: WatchEvent[] = [];
  private flushScheduled = false;
  private unsubscribe: (() => void) | undefined;
  private readonly unsubscribeFailure: () => void;
  /** The pending (re)attach: one at a time, so a disconnect before the first attach cannot attach twice. */
  private attachTimer: NodeJS.Timeout | undefined;
  private readonly established: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    private readonly store: MvccStore,
    private readonly prefix: string,
    startRevision: number | undefined,
    private readonly onClosed: (w: MemoryWatcher) => void,
  ) {
    super();
    this.delivered = startRevision === undefined ? store.revision : startRevision - 1;
    this.queuedUpTo = this.delivered;
    this.established = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits ready() must not see an unhandled rejection when closed early.
    this.established.catch(() => undefined);
    this.unsubscribeFailure = store.onFailed((err) => this.fail(err));
    this.attachTimer = setTimeout(() => this.attach(), 0);
  }

  /** Current lifecycle state. */
  get status(): MemoryWatcherState {
    return this.state;
  }

  ready(): Promise<void> {
    return this.established;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.detach();
    this.unsubscribeFailure();
    clearTimeout(this.attachTimer);
    this.rejectReady(errors.closed('watcher'));
    this.onClosed(this);
  }

  /**
   * Test hook: the connection drops now (`disconnected`), and comes back after `downMs`
   * (`connected`), resuming after the last emitted revision.
   */
  simulateDisconnect(downMs: number): void {
    if (this.state !== 'connected' && this.state !== 'connecting') return;
    this.detach();
    clearTimeout(this.attachTimer);
    this.state = 'disconnected';
    this.emit('disconnected', new TidalError(ErrorCode.BackendUnavailable, 'embedded store connection dropped (simulated)'));
    this.attachTimer = setTimeout(() => this.attach(), downMs);
  }

  /** Follows live commits and replays what this watcher has not emitted yet. */
  private attach(): void {
    this.attachTimer = undefined;
    if (this.state === 'closed') return;
    this.state = 'connected';
    this.emit('connected');
    this.resolveReady();
    let backlog: ChangeRecord[];
    try {
      backlog = this.store.changesSince(this.delivered + 1, this.prefix);
    } catch (err) {
      if (!hasCode(err, ErrorCode.Compacted)) {
        this.fail(err);
        return;
      }
      const compactRevision = (err.context.compactRevision as number | undefined) ?? this.store.compactRevision;
      this.emit('compacted', compactRevision);
      void this.close();
      return;
    }
    // Subscribing and replaying in one synchronous step: no commit can fall between the two.
    this.unsubscribe = this.store.onCommit((record) => this.enqueue(record));
    for (const record of backlog) this.enqueue(record);
  }

  /** Reports an unrecoverable failure (only to a listener: a watcher never throws an unhandled 'error') and closes. */
  private fail(err: unknown): void {
    if (this.state === 'closed') return;
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
    void this.close();
  }

  private detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    // Not yet emitted: dropped, and replayed from history on the next attach.
    this.queue = [];
    this.queuedUpTo = this.delivered;
  }

  private enqueue(record: ChangeRecord): void {
    if (record.revision <= this.queuedUpTo) return;
    this.queuedUpTo = record.revision;
    const events = record.events.filter((e) => e.key.startsWith(this.prefix));
    if (events.length === 0) return;
    this.queue.push(...events);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.state !== 'connected' || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.delivered = batch[batch.length - 1]!.modRevision;
    this.emit('events', batch);
  }
}
