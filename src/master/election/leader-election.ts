/**
 * Leader election through the KV: the leader holds `election/master` under its session lease.
 *
 * A candidate puts the key only if it does not exist (createRevision == 0), attached to its lease;
 * the others watch it and try again when it is deleted (resign, or lease expiry after a crash).
 * The leader's compares (`guard()`) name its own term, so a deposed leader's transactions fail.
 * A leader stops calling itself leader once its lease may have expired (`isLeader()`), before etcd
 * can hand the key to someone else.
 */
import { EventEmitter } from 'node:events';
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { Compare, Lease, MetaKV, Watcher } from '../../kv/meta-kv.js';

/** The election key the leader master holds (relative to the KV's root path). */
export const MASTER_ELECTION_KEY = 'election/master';

export interface LeaderElectionOptions {
  kv: MetaKV;
  /** The election key. Default {@link MASTER_ELECTION_KEY}. */
  key?: string;
  /** This candidate's server id. */
  serverId: bigint;
  /** Address others reach this candidate at (recorded in the key for followers). */
  address: string;
  /** Session lease TTL, seconds (≥ 1). */
  ttlSec: number;
  logger?: Logger;
}

export interface ElectionEvents {
  /** This candidate became leader. */
  elected: [];
  /** This candidate lost leadership (lease lost, key gone, resigned). */
  deposed: [reason: Error];
}

/** One candidate in the master election. */
export class LeaderElection extends EventEmitter<ElectionEvents> {
  private readonly kv: MetaKV;
  private readonly key: string;
  private readonly ttlSec: number;
  private readonly log: Logger;
  private readonly value: string;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private leader = false;
  private closed = false;
  /** Wall-clock ms after which the lease may have expired on the server. */
  private leaseDeadline = 0;
  private wake: (() => void) | undefined;

  constructor(options: LeaderElectionOptions) {
    super();
    this.kv = options.kv;
    this.key = options.key ?? MASTER_ELECTION_KEY;
    this.ttlSec = options.ttlSec;
    this.log = (options.logger ?? silentLogger).child({ component: 'election' });
    this.value = JSON.stringify({ serverId: options.serverId.toString(), address: options.address, since: Date.now() });
  }

  /**
   * True while this candidate holds the key and its lease cannot have expired yet. The margin is a
   * third of the TTL past the last acknowledged keepalive: keepalives go every TTL/3, and the server
   * counts the TTL from when it received one, which is before our acknowledgement arrived.
   */
  isLeader(): boolean {
    return this.leader && Date.now() < this.leaseDeadline;
  }

  /** Compares that hold only while this candidate's term lasts (for guarded writes). */
  guard(): Compare[] {
    return [{ key: this.key, target: 'value', op: '==', value: this.value }];
  }

  /** Who holds the key now, as recorded by the leader, or undefined. */
  async currentLeader(): Promise<{ serverId: string; address: string } | undefined> {
    const kv = await this.kv.get(this.key);
    if (kv === undefined) return undefined;
    try {
      return JSON.parse(kv.value.toString('utf8')) as { serverId: string; address: string };
    } catch {
      // A value not written by a Tidal master: nobody we can name.
      return undefined;
    }
  }

  /** Campaigns until elected or closed. Resolves once leader; rejects with CLOSED when closed first. */
  async campaign(): Promise<void> {
    while (!this.closed) {
      this.lease ??= await this.grantLease();
      const res = await this.kv.txn({
        compare: [{ key: this.key, target: 'createRevision', op: '==', revision: 0 }],
        success: [{ type: 'put', key: this.key, value: this.value, lease: this.lease.id }],
        failure: [{ type: 'get', key: this.key }],
      });
      if (res.succeeded) {
        this.leader = true;
        this.leaseDeadline = Date.now() + (this.ttlSec * 1000 * 2) / 3;
        this.watchOwnKey();
        this.log.info({ key: this.key }, 'elected leader');
        this.emit('elected');
        return;
      }
      await this.waitForVacancy(res.revision);
    }
    throw errors.closed('election');
  }

  /** Gives up leadership (revokes the lease, deleting the key) and stops campaigning. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.watcher?.close();
    const wasLeader = this.leader;
    this.leader = false;
    await this.lease?.revoke().catch((err: unknown) => this.log.warn({ err }, 'lease revoke failed; it expires by TTL'));
    if (wasLeader) this.emit('deposed', new Error('resigned'));
  }

  private async grantLease(): Promise<Lease> {
    const lease = await this.kv.grantLease(this.ttlSec);
    lease.on('keepalive', () => {
      if (this.leader) this.leaseDeadline = Date.now() + (this.ttlSec * 1000 * 2) / 3;
    });
    lease.on('lost', (err) => {
      this.lease = undefined;
      this.depose(err);
    });
    return lease;
  }

  private depose(reason: Error): void {
    if (!this.leader) return;
    this.leader = false;
    this.log.warn({ err: reason }, 'lost leadership');
    this.emit('deposed', reason);
  }

  /** While leader, a delete or foreign put of the key ends the term. */
  private watchOwnKey(): void {
    const w = this.kv.watch(this.key);
    this.watcher = w;
    w.on('events', (events) => {
      for (const ev of events) {
        if (ev.key !== this.key) continue;
        if (ev.type === 'delete' || ev.value.toString('utf8') !== this.value) this.depose(new Error('election key changed'));
      }
    });
    w.on('error', (err) => this.depose(err));
  }

  /** Waits until the key is deleted (or a poll interval passes), then returns to campaign again. */
  private async waitForVacancy(revision: number): Promise<void> {
    const w = this.kv.watch(this.key, { startRevision: revision + 1 });
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        // A missed event must not stall a candidate forever: re-check at the TTL.
        const timer = setTimeout(resolve, this.ttlSec * 1000);
        timer.unref();
        w.on('events', (events) => {
          if (events.some((e) => e.type === 'delete')) resolve();
        });
        w.on('compacted', () => resolve());
        w.on('error', () => resolve());
      });
    } finally {
      this.wake = undefined;
      await w.close();
    }
  }
}
