/**
 * A DataNode's session: `session/datanode/{serverId}` → JSON `{"serverId": "7", "address":
 * "host:port"}`, attached to a lease the KV client keeps alive. It is the only key a DataNode
 * writes. The master's channel scheduler watches `session/datanode/` to know the live DataNodes
 * and where to reach them; when the lease lapses the key goes and the master treats the node as
 * gone (its channels move; see src/master/scheduler/channel-scheduler.ts).
 *
 * A server id names one session, not one machine: a node whose lease was lost registers again under
 * a NEW id, so nothing the master recorded for the old session (channel ownership) can be mistaken
 * for the new one.
 */
import { EventEmitter } from 'node:events';
import { errors } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { Lease, MetaKV } from '../kv/meta-kv.js';

/** Key prefix of DataNode sessions (relative to the KV's root path). */
export const DATANODE_SESSION_PREFIX = 'session/datanode/';

/** The session key of DataNode `serverId`. */
export function dataNodeSessionKey(serverId: bigint): string {
  return `${DATANODE_SESSION_PREFIX}${serverId}`;
}

/** The JSON value of a session key (the server id as a decimal string). */
export interface DataNodeSessionValue {
  serverId: string;
  address: string;
}

/** Options of {@link DataNodeSession.register}. */
export interface DataNodeSessionOptions {
  kv: MetaKV;
  /** From {@link allocateServerId}. */
  serverId: bigint;
  /** host:port the master reaches this DataNode at. */
  address: string;
  /** Lease TTL, seconds (≥ 1; etcd raises it to its minimum). */
  ttlSec: number;
  logger?: Logger;
}

/** Events of a {@link DataNodeSession}. */
export interface DataNodeSessionEvents {
  /** The lease expired or could not be kept alive: the key is (or will soon be) gone. Emitted once. */
  lost: [error: Error];
}

/** One registered session. Create it with {@link DataNodeSession.register}. */
export class DataNodeSession extends EventEmitter<DataNodeSessionEvents> {
  private revoked = false;
  private lostFired = false;

  private constructor(
    /** The server id this session registered. */
    readonly serverId: bigint,
    /** The session key. */
    readonly key: string,
    private readonly lease: Lease,
  ) {
    super();
  }

  /**
   * Grants a lease and puts the session key under it, only if the key does not exist. Throws
   * FAILED_PRECONDITION when it does (a server id used twice) and the KV's errors; the lease is
   * revoked then.
   */
  static async register(options: DataNodeSessionOptions): Promise<DataNodeSession> {
    const log = (options.logger ?? silentLogger).child({ component: 'datanode-session' });
    const key = dataNodeSessionKey(options.serverId);
    const value: DataNodeSessionValue = { serverId: options.serverId.toString(), address: options.address };
    const lease = await options.kv.grantLease(options.ttlSec);
    try {
      const res = await options.kv.txn({
        compare: [{ key, target: 'createRevision', op: '==', revision: 0 }],
        success: [{ type: 'put', key, value: JSON.stringify(value), lease: lease.id }],
      });
      if (!res.succeeded) throw errors.failedPrecondition(`session key ${key} already exists: server id ${options.serverId} is in use`);
    } catch (err) {
      await lease.revoke().catch((e: unknown) => log.warn({ err: e }, 'lease revoke failed; it expires by TTL'));
      throw err;
    }
    const session = new DataNodeSession(options.serverId, key, lease);
    lease.once('lost', (err) => {
      if (session.revoked || session.lostFired) return;
      session.lostFired = true;
      log.warn({ err, serverId: options.serverId.toString() }, 'datanode session lost');
      session.emit('lost', err);
    });
    log.info({ key, address: options.address, ttlSec: lease.ttlSec }, 'datanode session registered');
    return session;
  }

  /** True once the lease is lost or revoked. */
  get lost(): boolean {
    return this.lease.lost;
  }

  /** Revokes the lease: the key is deleted now. Safe to call twice; a lost lease is not an error. */
  async revoke(): Promise<void> {
    if (this.revoked) return;
    this.revoked = true;
    await this.lease.revoke();
  }
}
