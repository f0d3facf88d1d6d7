/**
 * SoftBarrier: the minimum of the ticks reported by live proxies (Milvus's proxy time-tick
 * barrier). A proxy's tick promises it will publish no more DML below it (per channel, or on every
 * other channel by default). It is "soft" because a proxy whose session lapses — no report for
 * `ttlMs` of the master's clock, or an explicit deregister — is dropped rather than waited for.
 * With no live proxy the barrier has no value and the time-tick producer follows the TSO.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';

/** One report of a proxy: a default tick and, optionally, ticks of particular channels. */
export interface ProxyTick {
  /** No more DML below this on any channel not listed in `channels` (hybrid ts). */
  defaultTs: bigint;
  /** No more DML below `ts` on `channel` (a DML pchannel), per channel. */
  channels?: ReadonlyMap<string, bigint>;
}

/** Options of {@link SoftBarrier}. */
export interface SoftBarrierOptions {
  /** A proxy with no report (or registration) for this long is dropped, ms (`master.proxyTtlMs`). */
  ttlMs: number;
  /** The master's clock in ms (tests inject one). Default Date.now. */
  now?: () => number;
  logger?: Logger;
}

/** Events of a SoftBarrier. */
export interface SoftBarrierEvents {
  /** A proxy was dropped because it reported nothing for `ttlMs`. */
  lapsed: [proxyId: bigint];
}

interface ProxyEntry {
  defaultTs: bigint;
  channels: Map<string, bigint>;
  /** Master clock (ms) of its registration or latest report. */
  lastSeenMs: number;
}

/** The soft barrier over proxies. Synchronous and in memory: proxies re-register after a master restart. */
export class SoftBarrier extends EventEmitter<SoftBarrierEvents> {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly proxies = new Map<bigint, ProxyEntry>();

  constructor(options: SoftBarrierOptions) {
    super();
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs < 1) throw errors.invalidArgument(`proxy ttlMs must be a positive integer, got ${options.ttlMs}`);
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger).child({ component: 'soft-barrier' });
  }

  /** The session TTL, ms (what RegisterProxy answers as `ttl_ms`). */
  get sessionTtlMs(): number {
    return this.ttlMs;
  }

  /**
   * Registers a proxy whose first tick is `startTs`: a TSO timestamp taken at registration, below
   * every timestamp the proxy will use. Throws ALREADY_EXISTS for a live proxy id, INVALID_ARGUMENT
   * for a negative ts.
   */
  register(proxyId: bigint, startTs: bigint): void {
    checkTs('startTs', startTs);
    this.sweep();
    if (this.proxies.has(proxyId)) throw errors.alreadyExists(`proxy ${proxyId} is already registered`, { proxyId: proxyId.toString() });
    this.proxies.set(proxyId, { defaultTs: startTs, channels: new Map(), lastSeenMs: this.now() });
    this.log.info({ proxyId: proxyId.toString(), startTs: startTs.toString() }, 'proxy registered');
  }

  /**
   * Records a proxy's tick and renews its session. Ticks never move back: a lower value than an
   * earlier promise is ignored. Throws FAILED_PRECONDITION for a proxy that is not registered or
   * whose session lapsed (it must register again), INVALID_ARGUMENT for a negative ts.
   */
  report(proxyId: bigint, tick: ProxyTick): void {
    checkTs('defaultTs', tick.defaultTs);
    for (const [channel, ts] of tick.channels ?? []) checkTs(`tick of channel ${channel}`, ts);
    this.sweep();
    const p = this.proxies.get(proxyId);
    if (p === undefined) {
      throw new TidalError(
        ErrorCode.FailedPrecondition,
        `proxy ${proxyId} is not registered (never, deregistered, or silent for more than ${this.ttlMs} ms): register again`,
        { context: { proxyId: proxyId.toString() } },
      );
    }
    const newDefault = tick.defaultTs > p.defaultTs ? tick.defaultTs : p.defaultTs;
    const channels = new Map<string, bigint>();
    for (const ch of new Set([...p.channels.keys(), ...(tick.channels?.keys() ?? [])])) {
      const before = p.channels.get(ch) ?? p.defaultTs;
      const now = tick.channels?.get(ch) ?? tick.defaultTs;
      const eff = now > before ? now : before;
      if (eff !== newDefault) channels.set(ch, eff);
    }
    p.defaultTs = newDefault;
    p.channels = channels;
    p.lastSeenMs = this.now();
  }

  /** Drops a proxy now. Returns whether it was registered. */
  deregister(proxyId: bigint): boolean {
    const had = this.proxies.delete(proxyId);
    if (had) this.log.info({ proxyId: proxyId.toString() }, 'proxy deregistered');
    return had;
  }

  /**
   * The minimum tick over live proxies for `channel` (each proxy's tick for it, else its default),
   * or over their defaults when no channel is given; undefined when no proxy is live.
   */
  barrier(channel?: string): bigint | undefined {
    this.sweep();
    let min: bigint | undefined;
    for (const p of this.proxies.values()) {
      const ts = channel === undefined ? p.defaultTs : (p.channels.get(channel) ?? p.defaultTs);
      if (min === undefined || ts < min) min = ts;
    }
    return min;
  }

  /** Ids of the live proxies. */
  liveProxies(): bigint[] {
    this.sweep();
    return [...this.proxies.keys()];
  }

  /** Drops proxies silent for more than ttlMs. */
  private sweep(): void {
    const now = this.now();
    for (const [id, p] of this.proxies) {
      if (now - p.lastSeenMs > this.ttlMs) {
        this.proxies.delete(id);
        this.log.warn({ proxyId: id.toString(), silentMs: now - p.lastSeenMs, ttlMs: this.ttlMs }, 'proxy session lapsed');
        this.emit('lapsed', id);
      }
    }
  }
}

function checkTs(what: string, ts: bigint): void {
  if (typeof ts !== 'bigint' || ts < 0n) throw errors.invalidArgument(`${what} must be a non-negative hybrid timestamp (bigint), got ${String(ts)}`);
}
