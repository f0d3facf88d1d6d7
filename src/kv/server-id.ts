/**
 * Cluster-unique server ids for every Tidal process (masters, DataNodes): a counter in the KV,
 * advanced by compare-and-swap. Lives with the KV so the master and the DataNode, which never
 * import each other, share one implementation.
 */
import type { MetaKV } from './meta-kv.js';

/** Key of the server-id counter shared by every Tidal process. */
export const SERVER_ID_KEY = 'session/id';

/** Allocates a cluster-unique server id (≥ 1). Throws the KV's errors. */
export async function allocateServerId(kv: MetaKV): Promise<bigint> {
  for (;;) {
    const cur = await kv.get(SERVER_ID_KEY);
    const next = (cur === undefined ? 0n : BigInt(cur.value.toString('utf8'))) + 1n;
    const res = await kv.txn({
      compare: [
        cur === undefined
          ? { key: SERVER_ID_KEY, target: 'createRevision', op: '==', revision: 0 }
          : { key: SERVER_ID_KEY, target: 'modRevision', op: '==', revision: cur.modRevision },
      ],
      success: [{ type: 'put', key: SERVER_ID_KEY, value: next.toString() }],
    });
    if (res.succeeded) return next;
  }
}
