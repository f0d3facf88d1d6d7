/**
 * EtcdWatcher: a prefix watch on etcd over its own gRPC watch stream.
 *
 * Not etcd3's Watcher: on a reconnect that one resumes from the revision in the last response
 * *header* + 1, and a watch's `created` response carries the store's current revision, so a
 * watcher still catching up from an old revision skips the rest of its backlog when the
 * connection drops. This one resumes from the last revision it *delivered* + 1 (or from a
 * progress notification's revision, which etcd sends only to watchers that are caught up), drops
 * anything at or below what it delivered, and reports etcd's compaction cancel with its revision
 * (etcd3 turns it into an error without the revision).
 */
import { EventEmitter } from 'node:events';
import type { IDuplexStream, IWatchRequest, IWatchResponse, WatchClient } from 'etcd3';
import { ErrorCode, TidalError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { WatchEvent, Watcher, WatcherEvents } from '../meta-kv.js';
import { fromEtcdError } from './etcd-errors.js';

/** Lifecycle of an {@link EtcdWatcher}. */
export type EtcdWatcherState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Delays between reconnect attempts: the first, and the cap (ms). Each failure doubles the delay, with ±25 % jitter. */
export interface WatchBackoff {
  minMs: number;
  maxMs: number;
}

/** etcd's ErrInvalidAuthToken, as it reaches a watch (a cancel reason or a stream status). */
const isInvalidToken = (message: string): boolean => message.includes('invalid auth token');

/** The default reconnect backoff: 100 ms doubling up to 2 s. */
export const DEFAULT_WATCH_BACKOFF: WatchBackoff = { minMs: 100, maxMs: 2_000 };

/** Where an EtcdWatcher watches: the full byte range and the root to strip from keys. */
export interface EtcdWatchTarget {
  key: Buffer;
  rangeEnd: Buffer;
  rootLength: number;
}

/** A watch on etcd. Created by `EtcdKV.watch`; see the file comment. */
export class EtcdWatcher extends EventEmitter<WatcherEvents> implements Watcher {
  private state: EtcdWatcherState = 'connecting';
  /** Next revision to ask etcd for; undefined until the first watch is created without a start revision. */
  private next: number | undefined;
  /** Highest revision delivered to listeners. */
  private delivered = 0;
  /** Identifies the current stream: responses and failures of older streams are ignored. */
  private attempt = 0;
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private readonly established: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    private readonly client: WatchClient,
    private readonly target: EtcdWatchTarget,
    startRevision: number | undefined,
    private readonly log: Logger,
    private readonly onClosed: (w: EtcdWatcher) => void,
    private readonly backoff: WatchBackoff = DEFAULT_WATCH_BACKOFF,
    /**
     * Gets etcd3 a new auth token (etcd forgets its tokens when it restarts, and a watch created
     * with a stale one is cancelled). Called before reconnecting after such a refusal.
     */
    private readonly refreshAuth?: () => Promise<void>,
  ) {
    super();
    this.backoffMs = backoff.minMs;
    if (startRevision !== undefined) {
      this.next = startRevision;
      this.delivered = startRevision - 1;
    }
    this.established = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits ready() must not see an unhandled rejection when closed early.
    this.established.catch(() => undefined);
    void this.connect();
  }

  /** Current lifecycle state. */
  get status(): EtcdWatcherState {
    return this.state;
  }

  ready(): Promise<void> {
    return this.established;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.dropStream();
    this.rejectReady(new TidalError(ErrorCode.Closed, 'watcher is closed'));
    this.onClosed(this);
  }

  private async connect(): Promise<void> {
    const attempt = ++this.attempt;
    let stream: IDuplexStream<IWatchRequest, IWatchResponse>;
    try {
      stream = await this.client.watch();
    } catch (err) {
      this.onFailure(attempt, err);
      return;
    }
    if (attempt !== this.attempt) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream
      .on('data', (res) => this.onResponse(attempt, res))
      .on('error', (err) => this.onFailure(attempt, err))
      .on('end', () => this.onFailure(attempt, new Error('etcd ended the watch stream')));
    stream.write({
      create_request: {
        key: this.target.key,
        range_end: this.target.rangeEnd,
        progress_notify: true,
        ...(this.next === undefined ? {} : { start_revision: this.next }),
      },
    });
  }

  private onResponse(attempt: number, res: IWatchResponse): void {
    if (attempt !== this.attempt) return;
    const compactRevision = Number(res.compact_revision);
    if (compactRevision > 0) {
      this.log.warn({ compactRevision, next: this.next }, 'watch start revision is compacted');
      void this.close();
      this.deliver('compacted', compactRevision);
      return;
    }
    if (res.canceled && this.refreshAuth !== undefined && isInvalidToken(res.cancel_reason)) {
      // The token died with a restart of etcd: get a new one and resume where we were.
      this.onFailure(attempt, new TidalError(ErrorCode.BackendUnavailable, `etcd cancelled the watch: ${res.cancel_reason}`, { retriable: true }), true);
      return;
    }
    if (res.canceled) {
      // etcd refused or ended the watch for a reason other than compaction: nothing to resume.
      const err = new TidalError(ErrorCode.BackendUnavailable, `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`, { retriable: false });
      void this.close();
      if (this.listenerCount('error') > 0) this.deliver('error', err);
      else this.log.error({ err }, 'watch cancelled by etcd');
      return;
    }
    if (res.created) {
      this.next ??= Number(res.header.revision) + 1;
      if (this.delivered === 0) this.delivered = this.next - 1;
      this.state = 'connected';
      this.backoffMs = this.backoff.minMs;
      this.deliver('connected');
      this.resolveReady();
      return;
    }
    const events: WatchEvent[] = [];
    for (const ev of res.events) {
      const modRevision = Number(ev.kv.mod_revision);
      // Already delivered before a reconnect: never repeat.
      if (modRevision <= this.delivered) continue;
      // etcd3 types this as 'Put' | 'Delete'; at run time it is the proto enum name ('PUT', 'DELETE').
      const isDelete = String(ev.type).toUpperCase() === 'DELETE';
      events.push({
        type: isDelete ? 'delete' : 'put',
        key: ev.kv.key.subarray(this.target.rootLength).toString('utf8'),
        value: isDelete ? Buffer.alloc(0) : ev.kv.value,
        modRevision,
      });
    }
    if (events.length > 0) {
      this.delivered = events[events.length - 1]!.modRevision;
      this.next = this.delivered + 1;
      this.deliver('events', events);
    } else if (res.events.length === 0) {
      // A progress notification: nothing under the prefix changed up to the header revision.
      const upTo = Number(res.header.revision);
      if (upTo >= (this.next ?? 0)) this.next = upTo + 1;
    }
  }

  private onFailure(attempt: number, err: unknown, staleToken = isInvalidToken(err instanceof Error ? err.message : String(err))): void {
    if (attempt !== this.attempt || this.state === 'closed') return;
    this.attempt += 1;
    this.dropStream();
    if (this.state !== 'disconnected') {
      this.state = 'disconnected';
      this.log.warn({ err, next: this.next }, 'watch disconnected; resuming');
      this.deliver('disconnected', fromEtcdError(err, 'watch'));
    }
    const jitter = 0.75 + Math.random() / 2;
    this.reconnectTimer = setTimeout(() => void this.reconnect(staleToken), Math.round(this.backoffMs * jitter));
    this.backoffMs = Math.min(this.backoff.maxMs, this.backoffMs * 2);
  }

  private async reconnect(staleToken: boolean): Promise<void> {
    if (staleToken && this.refreshAuth !== undefined) {
      // A failure here (etcd still down) shows again as the next attempt's failure.
      await this.refreshAuth().catch((err: unknown) => this.log.debug({ err }, 'refreshing the etcd auth token failed'));
      if (this.state === 'closed') return;
    }
    await this.connect();
  }

  private dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream === undefined) return;
    try {
      stream.cancel();
    } catch {
      // The stream already ended; there is nothing left to cancel.
    }
  }

  /** Emits to listeners; a listener's exception is rethrown outside the gRPC callback. */
  private deliver<K extends keyof WatcherEvents>(event: K, ...args: WatcherEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WatcherEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      setImmediate(() => {
        throw err;
      });
    }
  }
}
