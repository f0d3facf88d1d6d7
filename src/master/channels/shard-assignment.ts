/**
 * Spreading a new collection's shards over the DML pchannels: each shard goes to the pchannel with
 * the fewest vchannels so far (counting the shards already placed), ties broken by pchannel order,
 * so the result depends only on the inputs.
 */
import { errors } from '../../common/errors.js';
import { vchannelName } from './channel-names.js';

/** One shard's place: its pchannel and vchannel name. */
export interface ShardPlacement {
  shard: number;
  pchannel: string;
  vchannel: string;
}

/**
 * Places `shardsNum` shards of collection `collectionId` on `pchannels`, least-used first.
 * `usage` counts the live vchannels per pchannel (missing: 0). With more shards than pchannels,
 * placement wraps round. Throws INVALID_ARGUMENT when there is no pchannel or shardsNum < 1.
 */
export function assignShards(
  collectionId: bigint,
  shardsNum: number,
  pchannels: readonly string[],
  usage: ReadonlyMap<string, number> = new Map(),
): ShardPlacement[] {
  if (pchannels.length === 0) throw errors.invalidArgument('there are no DML pchannels to place shards on');
  if (!Number.isSafeInteger(shardsNum) || shardsNum < 1) throw errors.invalidArgument(`shardsNum must be a positive integer, got ${shardsNum}`);
  const counts = pchannels.map((p) => usage.get(p) ?? 0);
  const out: ShardPlacement[] = [];
  for (let shard = 0; shard < shardsNum; shard += 1) {
    let best = 0;
    for (let i = 1; i < counts.length; i += 1) if ((counts[i] as number) < (counts[best] as number)) best = i;
    counts[best] = (counts[best] as number) + 1;
    const pchannel = pchannels[best] as string;
    out.push({ shard, pchannel, vchannel: vchannelName(pchannel, collectionId, shard) });
  }
  return out;
}
