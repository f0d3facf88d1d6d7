/**
 * MemoryLease: a lease on an {@link MvccStore}, kept alive like an etcd client keeps its lease:
 * a renewal every TTL/3 (each one emits `keepalive`). The store expires the lease at its deadline
 * whatever this object does; `release()` stops the renewals (a simulated crash), so the store
 * expires it one TTL later and this object emits `lost`.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import type { Lease, LeaseEvents } from '../meta-kv.js';
import type { MvccStore } from './mvcc-store.js';

/** Lifecycle of a {@link MemoryLease}. */
export type MemoryLeaseState = 'alive' | 'released' | 'lost' | 'revoked' | 'closed';

/** A lease on the embedded store. Created by `MemoryKV.grantLease`. */
export class MemoryLease extends EventEmitter<LeaseEvents> implements Lease {
  private state: MemoryLeaseState = 'alive';
  private readonly renewTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: MvccStore,
    readonly id: string,
    readonly ttlSec: number,
    private readonly putKey: (key: string, value: string | Buffer, lease: string) => Promise<number>,
  ) {
    super();
    this.renewTimer = setInterval(() => this.renew(), (ttlSec * 1000) / 3);
    this.renewTimer.unref();
    this.unsubscribe = store.onLeaseExpired((leaseId) => {
      if (leaseId === this.id) this.markLost('lease expired');
    });
  }

  /** Current lifecycle state. */
  get status(): MemoryLeaseState {
    return this.state;
  }

  get lost(): boolean {
    return this.state === 'lost' || this.state === 'revoked';
  }

  async put(key: string, value: string | Buffer): Promise<void> {
    if (this.lost) throw this.lostError('lease is lost');
    await this.putKey(key, value, this.id);
  }

  async revoke(): Promise<void> {
    if (this.state === 'revoked' || this.state === 'lost') return;
    if (this.state === 'closed') throw errors.closed('meta kv');
    this.stop('revoked');
    this.store.revokeLease(this.id);
  }

  release(): void {
    if (this.state !== 'alive') return;
    clearInterval(this.renewTimer);
    this.state = 'released';
  }

  /** Stops renewals and events without revoking (the client closed): the store expires the lease after its TTL. */
  detach(): void {
    if (this.state === 'alive' || this.state === 'released') this.stop('closed');
  }

  private renew(): void {
    if (this.state !== 'alive') return;
    if (this.store.renewLease(this.id)) this.emit('keepalive');
    else this.markLost('lease not found');
  }

  private markLost(reason: string): void {
    if (this.state !== 'alive' && this.state !== 'released') return;
    this.stop('lost');
    this.emit('lost', this.lostError(reason));
  }

  private stop(state: MemoryLeaseState): void {
    this.state = state;
    clearInterval(this.renewTimer);
    this.unsubscribe();
  }

  private lostError(reason: string): TidalError {
    return new TidalError(ErrorCode.LeaseLost, `lease ${this.id}: ${reason}`, { context: { lease: this.id } });
  }
}
