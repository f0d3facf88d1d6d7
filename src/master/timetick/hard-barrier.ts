/**
 * HardBarrier: how far the DataNodes have consumed. Each DataNode reports, per vchannel it
 * consumes, the tick it has reached (DataNodeTtMsg via ReportTimeTick). The barrier is "hard": it
 * reaches T only when EVERY registered DataNode has reported ≥ T, however long that takes. The
 * caller supplies the list of registered nodes (from their sessions) and updates it as nodes come
 * and go; a node removed from the list no longer holds the barrier back, and its reports are
 * forgotten.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';

/** Options of {@link HardBarrier}. */
export interface HardBarrierOptions {
  logger?: Logger;
}

/** Options of a wait. */
export interface WaitOptions {
  /** Rejects with CANCELLED when aborted. */
  signal?: AbortSignal;
  /** Rejects with TIMEOUT after this many ms. Default: no limit. */
  timeoutMs?: number;
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The hard barrier over DataNodes. In memory; DataNodes report again after a master restart. */
export class HardBarrier {
  private readonly log: Logger;
  private registered = new Set<bigint>();
  /** nodeId → vchannel → tick. */
  private readonly reports = new Map<bigint, Map<string, bigint>>();
  private waiters = new Set<Waiter>();
  private closed = false;

  constructor(options: HardBarrierOptions = {}) {
    this.log = (options.logger ?? silentLogger).child({ component: 'hard-barrier' });
  }

  /** Replaces the set of registered DataNodes. Reports of nodes no longer listed are forgotten. */
  setNodes(nodeIds: Iterable<bigint>): void {
    this.registered = new Set(nodeIds);
    for (const id of [...this.reports.keys()]) if (!this.registered.has(id)) this.reports.delete(id);
    this.check();
  }

  /** The registered DataNodes. */
  nodes(): bigint[] {
    return [...this.registered];
  }

  /**
   * Records that `nodeId` has consumed `vchannel` up to `ts` (a node-wide tick when `vchannel` is
   * empty). Ticks never move back; a lower report is ignored. A report from a node not (yet)
   * registered is kept and counts once it is. Throws INVALID_ARGUMENT for a negative ts.
   */
  report(nodeId: bigint, vchannel: string, ts: bigint): void {
    if (typeof ts !== 'bigint' || ts < 0n) throw errors.invalidArgument(`DataNode tick must be a non-negative hybrid timestamp, got ${String(ts)}`);
    let m = this.reports.get(nodeId);
    if (m === undefined) this.reports.set(nodeId, (m = new Map()));
    const before = m.get(vchannel);
    if (before !== undefined && ts <= before) return;
    m.set(vchannel, ts);
    this.check();
  }

  /** Forgets a node's tick of a vchannel it no longer consumes (the channel moved or was released). */
  release(nodeId: bigint, vchannel: string): void {
    this.reports.get(nodeId)?.delete(vchannel);
    this.check();
  }

  /** The lowest tick of `vchannel` over registered nodes that report it; undefined when none does. */
  channelTs(vchannel: string): bigint | undefined {
    let min: bigint | undefined;
    for (const id of this.registered) {
      const ts = this.reports.get(id)?.get(vchannel);
      if (ts !== undefined && (min === undefined || ts < min)) min = ts;
    }
    return min;
  }

  /** A node's tick: the lowest over what it reported; undefined when it reported nothing. */
  nodeTs(nodeId: bigint): bigint | undefined {
    let min: bigint | undefined;
    for (const ts of this.reports.get(nodeId)?.values() ?? []) if (min === undefined || ts < min) min = ts;
    return min;
  }

  /** The lowest tick over every registered node; undefined when none is registered or one has not reported. */
  barrier(): bigint | undefined {
    if (this.registered.size === 0) return undefined;
    let min: bigint | undefined;
    for (const id of this.registered) {
      const ts = this.nodeTs(id);
      if (ts === undefined) return undefined;
      if (min === undefined || ts < min) min = ts;
    }
    return min;
  }

  /** Resolves once every registered DataNode has reported ≥ `ts`. Rejects with TIMEOUT, CANCELLED or CLOSED. */
  waitFor(ts: bigint, options: WaitOptions = {}): Promise<void> {
    return this.wait(() => {
      const b = this.barrier();
      return b !== undefined && b >= ts;
    }, options);
  }

  /** Resolves once every registered node consuming `vchannel` has reported ≥ `ts` for it (and one does). */
  waitForChannel(vchannel: string, ts: bigint, options: WaitOptions = {}): Promise<void> {
    return this.wait(() => {
      const b = this.channelTs(vchannel);
      return b !== undefined && b >= ts;
    }, options);
  }

  /** Rejects every pending wait with CLOSED. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w.reject(errors.closed('hard barrier'));
  }

  private wait(ready: () => boolean, options: WaitOptions): Promise<void> {
    if (this.closed) return Promise.reject(errors.closed('hard barrier'));
    if (options.signal?.aborted) return Promise.reject(new TidalError(ErrorCode.Cancelled, 'wait for DataNode ticks cancelled'));
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => done(new TidalError(ErrorCode.Cancelled, 'wait for DataNode ticks cancelled'));
      const done = (err?: unknown) => {
        this.waiters.delete(w);
        if (timer !== undefined) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const w: Waiter = { ready, resolve: () => done(), reject: (err) => done(err) };
      this.waiters.add(w);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () => done(new TidalError(ErrorCode.Timeout, `DataNodes did not all reach the tick within ${options.timeoutMs} ms`, { context: { nodes: this.nodes().map(String) } })),
          options.timeoutMs,
        );
      }
    });
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      try {
        if (w.ready()) w.resolve();
      } catch (err) {
        this.log.error({ err }, 'hard barrier waiter check failed');
        w.reject(err);
      }
    }
  }
}
