/**
 * DataNodeSessions: the live DataNodes, from their sessions `session/datanode/{id}` → JSON
 * `{"serverId": "7", "address": "host:port"}` (written by src/datanode/session.ts under a lease;
 * the master and the DataNode share the layout, not code).
 *
 * Reads the prefix once, then watches it from the read's revision + 1, so no change between the
 * two is missed; a compacted or failed watch reads again and watches anew. A value that is not a
 * session is logged and ignored.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../../common/log.js';
import type { MetaKV, WatchEvent, Watcher } from '../../kv/meta-kv.js';

/** Key prefix of DataNode sessions. */
export const DATANODE_SESSION_PREFIX = 'session/datanode/';

/** A live DataNode. */
export interface DataNodeInfo {
  nodeId: bigint;
  /** host:port of its gRPC server. */
  address: string;
}

/** Events of {@link DataNodeSessions}. */
export interface DataNodeSessionsEvents {
  /** The set of live DataNodes (or an address) changed. */
  changed: [nodes: ReadonlyMap<bigint, DataNodeInfo>];
}

/** Options of {@link DataNodeSessions}. */
export interface DataNodeSessionsOptions {
  kv: MetaKV;
  logger?: Logger;
  /** Delay before reading again after a failed watch, ms. Default 500. */
  rewatchDelayMs?: number;
}

/** Parses a session's key and value; undefined when they are not a DataNode session. */
export function parseDataNodeSession(key: string, value: Buffer): DataNodeInfo | undefined {
  if (!key.startsWith(DATANODE_SESSION_PREFIX)) return undefined;
  const id = key.slice(DATANODE_SESSION_PREFIX.length);
  if (!/^\d+$/.test(id)) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { serverId?: unknown; address?: unknown };
    if (parsed.serverId !== id || typeof parsed.address !== 'string' || parsed.address === '') return undefined;
    return { nodeId: BigInt(id), address: parsed.address };
  } catch {
    // Not JSON: not a session this master can use (reported by the caller).
    return undefined;
  }
}

/** The live DataNodes, kept current by a watch. `start()` before use. */
export class DataNodeSessions extends EventEmitter<DataNodeSessionsEvents> {
  private readonly kv: MetaKV;
  private readonly log: Logger;
  private readonly rewatchDelayMs: number;
  private live = new Map<bigint, DataNodeInfo>();
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private state: 'idle' | 'running' | 'closed' = 'idle';

  constructor(options: DataNodeSessionsOptions) {
    super();
    this.kv = options.kv;
    this.log = (options.logger ?? silentLogger).child({ component: 'datanode-sessions' });
    this.rewatchDelayMs = options.rewatchDelayMs ?? 500;
  }

  /** Reads the sessions and starts watching. Throws the KV's errors. Safe to call twice. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    try {
      await this.sync();
    } catch (err) {
      this.state = 'idle';
      throw err;
    }
  }

  /** The live DataNodes by id (a copy). */
  nodes(): Map<bigint, DataNodeInfo> {
    return new Map(this.live);
  }

  /** Stops watching. Safe to call twice. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  private async sync(): Promise<void> {
    const page = await this.kv.range(DATANODE_SESSION_PREFIX);
    const next = new Map<bigint, DataNodeInfo>();
    for (const kv of page.kvs) {
      const info = parseDataNodeSession(kv.key, kv.value);
      if (info === undefined) this.log.warn({ key: kv.key }, 'ignoring a key under session/datanode/ that is not a DataNode session');
      else next.set(info.nodeId, info);
    }
    this.replace(next);
    if (this.state !== 'running') return;
    const w = this.kv.watch(DATANODE_SESSION_PREFIX, { startRevision: page.revision + 1 });
    this.watcher = w;
    w.on('events', (events) => this.apply(events));
    w.on('compacted', () => this.rewatch(w, new Error('the session watch was compacted')));
    w.on('error', (err) => this.rewatch(w, err));
    try {
      await w.ready();
    } catch (err) {
      // The caller retries; this watcher must not schedule a second retry of its own.
      if (this.watcher === w) this.watcher = undefined;
      void w.close().catch(() => undefined); // it failed to start; closing is only tidying up
      throw err;
    }
  }

  private apply(events: readonly WatchEvent[]): void {
    const next = new Map(this.live);
    for (const ev of events) {
      const id = ev.key.slice(DATANODE_SESSION_PREFIX.length);
      if (ev.type === 'delete') {
        if (/^\d+$/.test(id)) next.delete(BigInt(id));
        continue;
      }
      const info = parseDataNodeSession(ev.key, ev.value);
      if (info === undefined) this.log.warn({ key: ev.key }, 'ignoring a key under session/datanode/ that is not a DataNode session');
      else next.set(info.nodeId, info);
    }
    this.replace(next);
  }

  private replace(next: Map<bigint, DataNodeInfo>): void {
    const same = next.size === this.live.size && [...next].every(([id, n]) => this.live.get(id)?.address === n.address);
    this.live = next;
    if (same) return;
    this.log.info({ nodes: [...next.values()].map((n) => `${n.nodeId}@${n.address}`) }, 'live datanodes changed');
    this.emit('changed', this.nodes());
  }

  private rewatch(w: Watcher, err: Error): void {
    if (this.state !== 'running' || this.watcher !== w) return;
    this.watcher = undefined;
    this.log.warn({ err }, 'session watch ended; reading the sessions again');
    void w.close().catch(() => undefined); // already ended; closing is only tidying up
    const again = () => {
      this.timer = setTimeout(() => {
        if (this.state !== 'running') return;
        this.sync().catch((e: unknown) => {
          this.log.warn({ err: e }, 'reading the sessions failed; retrying');
          again();
        });
      }, this.rewatchDelayMs);
    };
    again();
  }
}
