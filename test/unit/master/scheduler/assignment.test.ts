import { describe, expect, it } from 'vitest';
import { planAssignments } from '../../../../src/master/scheduler/assignment.js';

const counts = (plan: Map<string, bigint>) => {
  const out = new Map<bigint, number>();
  for (const node of plan.values()) out.set(node, (out.get(node) ?? 0) + 1);
  return out;
};

describe('planAssignments', () => {
  it('assignment - spreads 4 vchannels over 2 empty nodes 2/2, alternating, lowest id first', () => {
    const plan = planAssignments(['v0', 'v1', 'v2', 'v3'], new Map([[9n, 0], [3n, 0]]));
    expect([...plan]).toEqual([
      ['v0', 3n],
      ['v1', 9n],
      ['v2', 3n],
      ['v3', 9n],
    ]);
  });

  it('assignment - gives the fewest-loaded node vchannels until the load evens out', () => {
    const plan = planAssignments(['a', 'b', 'c', 'd', 'e'], new Map([[1n, 4], [2n, 1], [3n, 2]]));
    // a → 2 (2 has 2), b → 2 (tie with 3, lower id), c → 3, d → 2, e → 3: every node ends at 4.
    expect(counts(plan)).toEqual(new Map([[2n, 3], [3n, 2]]));
    expect(plan.get('a')).toBe(2n);
    const final = new Map([[1n, 4], [2n, 1 + 3], [3n, 2 + 2]]);
    expect(Math.max(...final.values()) - Math.min(...final.values())).toBe(0);
  });

  it('assignment - with no live node, plans nothing', () => {
    expect(planAssignments(['v0'], new Map()).size).toBe(0);
  });
});
