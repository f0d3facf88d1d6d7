/**
 * How the proxy calls the master: the {@link MasterClient} call signature, wrapped so that an
 * error the master or the transport marks retriable (UNAVAILABLE during a leader change, a timeout)
 * is tried again with the one retry helper. Every call the proxy makes can be repeated safely: a
 * repeated allocation only wastes timestamps, ids or segment room.
 */
import { retry, type RetryOptions } from '../common/retry.js';
import type { MasterClient } from './master-client.js';

/** The part of MasterClient the proxy uses (tests may pass anything with this shape). */
export type MasterRpc = Pick<MasterClient, 'call'>;

/** Retry policy of master calls. Default: 4 retries, 50 ms doubling to at most 1 s. */
export type MasterRetryOptions = Pick<RetryOptions, 'retries' | 'minTimeoutMs' | 'maxTimeoutMs' | 'signal' | 'onRetry'>;

/** `master` with each call retried on retriable errors. */
export function retryingMaster(master: MasterRpc, options: MasterRetryOptions = {}): MasterRpc {
  const policy: RetryOptions = { retries: 4, minTimeoutMs: 50, maxTimeoutMs: 1_000, ...options };
  const call = ((method: Parameters<MasterClient['call']>[0], partial: Parameters<MasterClient['call']>[1]) =>
    retry(() => master.call(method, partial), policy)) as MasterClient['call'];
  return { call };
}
