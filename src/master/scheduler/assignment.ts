/**
 * Where new vchannels go: to the live DataNode with the fewest vchannels, one vchannel at a time,
 * so a collection's shards spread evenly (4 shards on 2 empty nodes: 2 and 2) and a node that
 * already carries more gets fewer. Ties go to the lowest node id, so the plan is deterministic.
 */

/**
 * Picks an owner for each of `vchannels`, in order. `load` lists every candidate node with the
 * number of vchannels it owns now; each pick counts towards the next. Returns vchannel → node id,
 * empty when there is no candidate.
 */
export function planAssignments(vchannels: readonly string[], load: ReadonlyMap<bigint, number>): Map<string, bigint> {
  const counts = new Map(load);
  const plan = new Map<string, bigint>();
  if (counts.size === 0) return plan;
  for (const vchannel of vchannels) {
    let best: bigint | undefined;
    let bestCount = Number.POSITIVE_INFINITY;
    for (const [node, count] of counts) {
      if (count < bestCount || (count === bestCount && best !== undefined && node < best)) {
        best = node;
        bestCount = count;
      }
    }
    const chosen = best as bigint;
    plan.set(vchannel, chosen);
    counts.set(chosen, bestCount + 1);
  }
  return plan;
}
