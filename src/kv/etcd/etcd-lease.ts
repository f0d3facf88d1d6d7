/**
 * EtcdLease: an etcd lease kept alive over a gRPC keepalive stream (a keepalive every TTL/3).
 *
 * Not etcd3's Lease: that one declares a lease lost only 2 × TTL after the last good keepalive,
 * when etcd has long deleted its keys. Here the deadline is the *send* time of the last
 * acknowledged keepalive + TTL (etcd counts the TTL from when it received that keepalive, which
 * is later): past it the lease may be gone, so `lost` is emitted then — or at once when etcd
 * answers a keepalive with TTL 0 (it no longer knows the lease). After `release()` no more
 * keepalives go out and `lost` follows at that same deadline.
 */
import { EventEmitter } from 'node:events';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, LeaseClient } from 'etcd3';
import { ErrorCode, TidalError, errors, hasCode } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Lease, LeaseEvents } from '../meta-kv.js';
import { fromEtcdError } from './etcd-errors.js';

/** Lifecycle of an {@link EtcdLease}. */
export type EtcdLeaseState = 'alive' | 'released' | 'lost' | 'revoked' | 'closed';

/** Delay before reopening a failed keepalive stream, ms. */
const REOPEN_DELAY_MS = 200;

/** A lease on etcd. Created by `EtcdKV.grantLease`; see the file comment. */
export class EtcdLease extends EventEmitter<LeaseEvents> implements Lease {
  private state: EtcdLeaseState = 'alive';
  /** Send time of the last acknowledged keepalive (the grant's send time at first), ms. */
  private lastAckedSend: number;
  /** Send times of keepalives not acknowledged yet on the current stream, oldest first. */
  private pending: number[] = [];
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private attempt = 0;
  private sendTimer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private revokedOnServer = false;

  constructor(
    private readonly client: LeaseClient,
    readonly id: string,
    readonly ttlSec: number,
    grantSentAt: number,
    private readonly putKey: (key: string, value: string | Buffer, lease: string) => Promise<number>,
    private readonly log: Logger,
  ) {
    super();
    this.lastAckedSend = grantSentAt;
    this.armDeadline();
    void this.openStream();
  }

  /** Current lifecycle state. */
  get status(): EtcdLeaseState {
    return this.state;
  }

  get lost(): boolean {
    return this.state === 'lost' || this.state === 'revoked';
  }

  /** Wall-clock ms after which etcd may have expired the lease (last acknowledged keepalive's send time + TTL). */
  get deadline(): number {
    return this.lastAckedSend + this.ttlSec * 1000;
  }

  async put(key: string, value: string | Buffer): Promise<void> {
    if (this.lost) throw this.lostError('lease is lost');
    try {
      await this.putKey(key, value, this.id);
    } catch (err) {
      if (hasCode(err, ErrorCode.LeaseLost)) this.markLost('etcd no longer knows the lease');
      throw err;
    }
  }

  async revoke(): Promise<void> {
    if (this.revokedOnServer || this.state === 'lost') return;
    if (this.state === 'closed') throw errors.closed('meta kv');
    this.stopKeepalive();
    clearTimeout(this.deadlineTimer);
    this.state = 'revoked';
    try {
      await this.client.leaseRevoke({ ID: this.id });
    } catch (err) {
      const mapped = fromEtcdError(err, `revoke lease ${this.id}`, { lease: this.id });
      // Already expired or revoked: the keys are gone either way.
      if (mapped.code !== ErrorCode.LeaseLost) throw mapped;
    }
    this.revokedOnServer = true;
  }

  release(): void {
    if (this.state !== 'alive') return;
    this.state = 'released';
    this.stopKeepalive();
  }

  /** Stops keepalives and events without revoking (the client is closing): etcd expires the lease after its TTL. */
  detach(): void {
    if (this.state !== 'alive' && this.state !== 'released') return;
    this.state = 'closed';
    this.stopKeepalive();
    clearTimeout(this.deadlineTimer);
  }

  private async openStream(): Promise<void> {
    const attempt = ++this.attempt;
    let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
    try {
      stream = await this.client.leaseKeepAlive();
    } catch (err) {
      this.onStreamFailure(attempt, err);
      return;
    }
    if (attempt !== this.attempt || this.state !== 'alive') {
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.pending = [];
    stream
      .on('data', (res) => this.onKeepalive(attempt, res))
      .on('error', (err) => this.onStreamFailure(attempt, err))
      .on('end', () => this.onStreamFailure(attempt, new Error('etcd ended the keepalive stream')));
    this.send();
    this.sendTimer = setInterval(() => this.send(), (this.ttlSec * 1000) / 3);
  }

  private send(): void {
    if (this.stream === undefined || this.state !== 'alive') return;
    this.pending.push(Date.now());
    this.stream.write({ ID: this.id });
  }

  private onKeepalive(attempt: number, res: ILeaseKeepAliveResponse): void {
    if (attempt !== this.attempt || this.state !== 'alive') return;
    const sentAt = this.pending.shift();
    if (res.TTL === '0' || Number(res.TTL) <= 0) {
      this.markLost('etcd says the lease is expired or revoked');
      return;
    }
    if (sentAt !== undefined && sentAt > this.lastAckedSend) this.lastAckedSend = sentAt;
    this.armDeadline();
    this.emit('keepalive');
  }

  private onStreamFailure(attempt: number, err: unknown): void {
    if (attempt !== this.attempt || this.state !== 'alive') return;
    this.log.warn({ err, lease: this.id, msLeft: this.deadline - Date.now() }, 'lease keepalive stream failed; reopening');
    this.stopKeepalive();
    this.reopenTimer = setTimeout(() => void this.openStream(), REOPEN_DELAY_MS);
  }

  private stopKeepalive(): void {
    this.attempt += 1;
    clearInterval(this.sendTimer);
    clearTimeout(this.reopenTimer);
    this.sendTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream === undefined) return;
    try {
      stream.cancel();
    } catch {
      // The stream already ended; there is nothing left to cancel.
    }
  }

  /** (Re)arms the timer that declares the lease lost at its deadline. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => this.markLost(this.state === 'released' ? 'lease expired after release' : 'no keepalive acknowledged within the TTL'),
      Math.max(0, this.deadline - Date.now()),
    );
  }

  private markLost(reason: string): void {
    if (this.state !== 'alive' && this.state !== 'released') return;
    this.stopKeepalive();
    clearTimeout(this.deadlineTimer);
    this.state = 'lost';
    this.log.warn({ lease: this.id, reason }, 'lease lost');
    this.emit('lost', this.lostError(reason));
  }

  private lostError(reason: string): TidalError {
    return new TidalError(ErrorCode.LeaseLost, `lease ${this.id}: ${reason}`, { context: { lease: this.id } });
  }
}
