/**
 * A master's session: `session/master/{serverId}` → JSON `{"serverId": "3", "address":
 * "host:port"}` under a lease the KV client keeps alive (the layout of DataNode sessions), so
 * ShowNodes lists followers as well as the leader. When the lease lapses (a crash) the key goes.
 *
 * Meant for MasterServer: register once listening (server id and address known), revoke on close
 * after resigning.
 */
import { errors } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Lease, MetaKV } from '../kv/meta-kv.js';
import { MASTER_SESSION_PREFIX } from './cluster-view.js';

/** The session key of master `serverId`. */
export function masterSessionKey(serverId: bigint): string {
  return `${MASTER_SESSION_PREFIX}${serverId}`;
}

/** Options of {@link MasterSession.register}. */
export interface MasterSessionOptions {
  kv: MetaKV;
  serverId: bigint;
  /** host:port clients reach this master at. */
  address: string;
  /** Lease TTL, seconds (≥ 1; etcd raises it to its minimum). */
  ttlSec: number;
  logger?: Logger;
}

/** A registered master session. */
export class MasterSession {
  private revoked = false;

  private constructor(
    readonly key: string,
    private readonly lease: Lease,
  ) {}

  /**
   * Grants a lease and puts the key under it, only if the key does not exist. Throws
   * FAILED_PRECONDITION when it does (a server id used twice) and the KV's errors; the lease is
   * revoked then.
   */
  static async register(options: MasterSessionOptions): Promise<MasterSession> {
    const log = (options.logger ?? silentLogger).child({ component: 'master-session' });
    const key = masterSessionKey(options.serverId);
    const lease = await options.kv.grantLease(options.ttlSec);
    try {
      const res = await options.kv.txn({
        compare: [{ key, target: 'createRevision', op: '==', revision: 0 }],
        success: [{ type: 'put', key, value: JSON.stringify({ serverId: options.serverId.toString(), address: options.address }), lease: lease.id }],
      });
      if (!res.succeeded) throw errors.failedPrecondition(`session key ${key} already exists: server id ${options.serverId} is in use`);
    } catch (err) {
      await lease.revoke().catch((e: unknown) => log.warn({ err: e }, 'lease revoke failed; it expires by TTL'));
      throw err;
    }
    lease.once('lost', (err) => log.warn({ err, key }, 'master session lost; ShowNodes no longer lists this master'));
    return new MasterSession(key, lease);
  }

  /** True once the lease is lost or revoked. */
  get lost(): boolean {
    return this.revoked || this.lease.lost;
  }

  /** Revokes the lease (the key is deleted now). Safe to call twice; a lost lease is not an error. */
  async revoke(): Promise<void> {
    if (this.revoked) return;
    this.revoked = true;
    await this.lease.revoke();
  }
}
