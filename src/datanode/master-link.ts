/**
 * MasterLink: the DataNode's way to the serving master, for the data path (SaveBinlogPaths,
 * ReportTimeTick, GetRecoveryInfo).
 *
 * The leader is found in the KV: `election/master` holds JSON `{serverId, address}` written by the
 * leader under its lease. A master that is not (or no longer) the leader answers UNAVAILABLE; the
 * link then reads the key again and goes to whoever it names. The key is the authority, not the
 * text of the UNAVAILABLE answer (which names the leader for people, but is never parsed).
 *
 * Every call is retried with backoff (src/common/retry.ts) while it fails retriably: UNAVAILABLE
 * (no leader yet, a follower, the transport), CLOSED (a master shutting down), BACKEND_UNAVAILABLE
 * and TIMEOUT. Only idempotent calls go through here — SaveBinlogPaths is idempotent by design
 * (binlogs keyed by logID, checkpoints forward only), ticks only move forward, GetRecoveryInfo
 * reads — so a retry after an unclear answer is safe.
 */
import type { handleUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, errors, hasCode } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { isRetriable, retry, type RetryOptions } from '../common/retry.js';
import { MsgType } from '../gen/common.js';
import type { MasterServer } from '../gen/master.js';
import type { VchannelInfo } from '../gen/segment.js';
import type { MetaKV } from '../kv/meta-kv.js';
import { MASTER_ELECTION_KEY } from '../master/election/leader-election.js';
import { MasterClient, type MasterMethod, type PartialRequest } from '../proxy/master-client.js';

/** The serving master, as its election key names it. */
export interface MasterLeader {
  serverId: bigint;
  address: string;
}

/** What a call resolves with: the response message of `method`. */
export type MasterResponse<K extends MasterMethod> = MasterServer[K] extends handleUnaryCall<infer _Q, infer S> ? S : never;

/** Options of {@link MasterLink}. */
export interface MasterLinkOptions {
  kv: MetaKV;
  /** This DataNode's current server id: `base.sourceId` of calls that leave it unset. */
  sourceId: () => bigint;
  /** The election key. Default {@link MASTER_ELECTION_KEY}. */
  electionKey?: string;
  /** Deadline of one attempt, ms. Default 30,000. */
  deadlineMs?: number;
  /**
   * Backoff between attempts. Default: 20 retries, 100 ms doubling to 2 s (about 35 s in all:
   * longer than a leader's lease, so a failover completes within one call).
   */
  retry?: Pick<RetryOptions, 'retries' | 'minTimeoutMs' | 'maxTimeoutMs' | 'factor'>;
  logger?: Logger;
}

/** Options of one call. */
export interface MasterCallOptions {
  /** Stops retrying (rejects with the last error, or CANCELLED) when aborted. */
  signal?: AbortSignal;
}

const MSG_TYPES: Partial<Record<MasterMethod, MsgType>> = {
  saveBinlogPaths: MsgType.SaveBinlogPaths,
  reportTimeTick: MsgType.ReportTimeTick,
  getRecoveryInfo: MsgType.GetRecoveryInfo,
};

const DEFAULT_LINK_RETRY = { retries: 20, minTimeoutMs: 100, maxTimeoutMs: 2_000, factor: 2 };

/** Whether the link tries again (after looking the leader up again). */
function worthRetrying(err: unknown): boolean {
  return hasCode(err, ErrorCode.Closed) || hasCode(err, ErrorCode.Unavailable) || (isRetriable(err) && !hasCode(err, ErrorCode.FailedPrecondition));
}

/** A leader-following, retrying Master client. Methods throw TidalError. */
export class MasterLink {
  private readonly kv: MetaKV;
  private readonly key: string;
  private readonly sourceId: () => bigint;
  private readonly deadlineMs: number;
  private readonly retryOptions: Required<NonNullable<MasterLinkOptions['retry']>>;
  private readonly log: Logger;
  private current: { leader: MasterLeader; client: MasterClient } | undefined;
  private closed = false;

  constructor(options: MasterLinkOptions) {
    this.kv = options.kv;
    this.key = options.electionKey ?? MASTER_ELECTION_KEY;
    this.sourceId = options.sourceId;
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.retryOptions = { ...DEFAULT_LINK_RETRY, ...options.retry };
    this.log = (options.logger ?? silentLogger).child({ component: 'master-link' });
  }

  /**
   * The serving master as the election key names it now (read from the KV). Throws UNAVAILABLE
   * when no master holds the key or its value is not a master's, and the KV's errors.
   */
  async leader(): Promise<MasterLeader> {
    const kv = await this.kv.get(this.key);
    if (kv === undefined) throw errors.unavailable(`no master is serving: the election key ${this.key} is empty`);
    let parsed: { serverId?: unknown; address?: unknown };
    try {
      parsed = JSON.parse(kv.value.toString('utf8')) as typeof parsed;
    } catch {
      throw errors.unavailable(`the election key ${this.key} holds no master's record`);
    }
    if (typeof parsed.serverId !== 'string' || !/^\d+$/.test(parsed.serverId) || typeof parsed.address !== 'string' || parsed.address === '') {
      throw errors.unavailable(`the election key ${this.key} holds no master's record`);
    }
    return { serverId: BigInt(parsed.serverId), address: parsed.address };
  }

  /**
   * Calls `method` on the serving master, following leadership changes and retrying retriable
   * failures (see the file comment). `base.sourceId` defaults to this node's id and
   * `base.msgType` to the method's. Throws the last error once retries run out, a non-retriable
   * error at once, CLOSED after close().
   */
  async call<K extends MasterMethod>(method: K, partial: PartialRequest<K>, options: MasterCallOptions = {}): Promise<MasterResponse<K>> {
    const request = this.withBase(method, partial);
    return retry(
      async () => {
        if (this.closed) throw errors.closed('master link');
        const client = await this.client();
        try {
          return (await client.call(method, request)) as MasterResponse<K>;
        } catch (err) {
          // Whoever answered may no longer lead: look the leader up again before the next attempt.
          if (worthRetrying(err)) this.forget(client);
          throw err;
        }
      },
      {
        ...this.retryOptions,
        signal: options.signal,
        shouldRetry: (err) => !this.closed && worthRetrying(err),
        onRetry: (err, attempt) => this.log.warn({ err, rpc: method, attempt }, 'master call failed; retrying'),
      },
    );
  }

  /** SaveBinlogPaths (see the Master service); resolves once the master stored the request. */
  async saveBinlogPaths(request: PartialRequest<'saveBinlogPaths'>, options?: MasterCallOptions): Promise<void> {
    await this.call('saveBinlogPaths', request, options);
  }

  /** ReportTimeTick: the ticks this node consumed, per vchannel. */
  async reportTimeTick(request: PartialRequest<'reportTimeTick'>, options?: MasterCallOptions): Promise<void> {
    await this.call('reportTimeTick', request, options);
  }

  /** GetRecoveryInfo of one vchannel (or every vchannel of the collection when `vchannel` is empty). */
  async getRecoveryInfo(collectionId: bigint, vchannel = '', options?: MasterCallOptions): Promise<VchannelInfo[]> {
    const res = await this.call('getRecoveryInfo', { collectionId, vchannel }, options);
    return res.channels;
  }

  /** Closes the connection; later calls throw CLOSED. Safe to call twice. */
  close(): void {
    this.closed = true;
    this.current?.client.close();
    this.current = undefined;
  }

  private async client(): Promise<MasterClient> {
    if (this.current !== undefined) return this.current.client;
    const leader = await this.leader();
    if (this.closed) throw errors.closed('master link');
    // Another call may have connected while this one read the key.
    const raced = this.current as { client: MasterClient } | undefined;
    if (raced !== undefined) return raced.client;
    const client = new MasterClient(leader.address, { deadlineMs: this.deadlineMs });
    this.current = { leader, client };
    this.log.info({ leader: leader.serverId.toString(), address: leader.address }, 'connected to the serving master');
    return client;
  }

  private forget(client: MasterClient): void {
    if (this.current?.client !== client) return;
    this.current = undefined;
    client.close();
  }

  private withBase<K extends MasterMethod>(method: K, partial: PartialRequest<K>): PartialRequest<K> {
    const given = (partial as { base?: { sourceId?: unknown; msgType?: unknown } }).base ?? {};
    const base = {
      ...given,
      sourceId: given.sourceId === undefined || given.sourceId === 0n || given.sourceId === 0 ? this.sourceId() : given.sourceId,
      msgType: given.msgType ?? MSG_TYPES[method],
    };
    return { ...(partial as object), base } as PartialRequest<K>;
  }
}
