/**
 * Loads the primary-key stats of a vchannel's existing segments (their stats logs, referenced by
 * the master at watch time) into its registry, so deletes arriving after a restart reach segments
 * whose rows this node never buffered.
 */
import { retry } from '../../common/retry.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { readStatsLog } from '../../storage/binlog/index.js';
import type { SegmentRegistry } from './segment-registry.js';

/** Stats logs read at once. */
const PARALLEL_READS = 8;

/**
 * Reads every referenced stats log of the registry's live segments (retrying transient store
 * errors) and records its stats. Throws the store's error (NOT_FOUND for a missing object) or
 * CORRUPTED for an unreadable stats log.
 */
export async function loadSegmentStats(registry: SegmentRegistry, store: ObjectStore, signal?: AbortSignal): Promise<number> {
  const work: { path: string; push: (s: ReturnType<typeof readStatsLog>['stats']) => void }[] = [];
  for (const rec of registry.all()) {
    if (rec.phase === 'dropped') continue;
    for (const path of rec.statsLogPaths) work.push({ path, push: (s) => rec.pkStats.push(s) });
    rec.statsLogPaths = [];
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) {
      const item = work[next++]!;
      const bytes = await retry(() => store.get(item.path), { signal });
      item.push(readStatsLog(bytes).stats);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, work.length) }, worker));
  return work.length;
}
