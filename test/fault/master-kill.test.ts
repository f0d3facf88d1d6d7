/**
 * Fault: the master PROCESS (`node bin/tidal.js master`, real etcd and Kafka) is killed with
 * SIGKILL and restarted 5 times while clients allocate timestamps and IDs in a loop. Timestamps
 * never go back (every one served after a restart exceeds every one served before) and ID ranges
 * never overlap, across all restarts. A restarted master serves only once the dead one's election
 * lease has lapsed (session TTL 2 s), so the clients poll Ping until it says `leader: true`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { TidalError } from '../../src/common/errors.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import {
  cleanupNamespace,
  ErrorCode,
  killAllMasterProcesses,
  masterNamespace,
  processExists,
  spawnMaster,
  waitForLeader,
  type MasterProcess,
} from '../integration/helpers/master.js';

const RESTARTS = 5;
/** Concurrent allocation loops. */
const LANES = 4;
/** Allocations (timestamps and ID ranges) each master serves before it is killed. */
const SERVED_PER_MASTER = 300;

const ns = masterNamespace('fault-master-kill');

afterAll(async () => {
  await killAllMasterProcesses();
  await cleanupNamespace(ns);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Served {
  /** Timestamps this master served: first..first+count-1 of each AllocTimestamp. */
  ts: { first: bigint; count: number }[];
  /** ID ranges this master served. */
  ids: { first: bigint; count: number }[];
}

describe('fault: master killed with SIGKILL during allocation', () => {
  it('master-kill - after each of 5 SIGKILL restarts, timestamps exceed all served before and ID ranges never overlap', async () => {
    const incarnations: { proc: MasterProcess; serverId: bigint; served: Served }[] = [];
    /** The master the lanes talk to now; undefined between a kill and the next leader. */
    let current: { index: number; client: MasterClient } | undefined;
    let stop = false;
    const failures: string[] = [];
    /** Each lane's timestamps in the order it got them, across every restart. */
    const laneTs: bigint[][] = Array.from({ length: LANES }, () => []);

    const lane = async (l: number) => {
      let round = 0;
      while (!stop) {
        const cur = current;
        if (cur === undefined) {
          await sleep(5);
          continue;
        }
        round += 1;
        const served = incarnations[cur.index]!.served;
        try {
          const ts = await cur.client.call('allocTimestamp', { count: 1 + ((l + round) % 5) });
          served.ts.push({ first: ts.timestamp, count: ts.count });
          laneTs[l]!.push(ts.timestamp);
          const id = await cur.client.call('allocId', { count: 1 + ((l * 31 + round * 17) % 200) });
          served.ids.push({ first: id.id, count: id.count });
        } catch (err) {
          // The master died under the call, or is not serving yet: what a client sees in a crash.
          failures.push(err instanceof TidalError ? err.code : String(err));
          await sleep(10);
        }
      }
    };
    const lanes = Array.from({ length: LANES }, (_, l) => lane(l));

    try {
      for (let i = 0; i <= RESTARTS; i += 1) {
        const proc = await spawnMaster(ns);
        const client = new MasterClient(proc.address, { deadlineMs: 3_000 });
        // A restarted master waits for the killed one's lease (2 s) to lapse before it serves.
        const serverId = await waitForLeader(client, 20_000);
        expect(serverId).toBe(proc.serverId);
        incarnations.push({ proc, serverId, served: { ts: [], ids: [] } });
        current = { index: i, client };
        while (incarnations[i]!.served.ts.length < SERVED_PER_MASTER || incarnations[i]!.served.ids.length < SERVED_PER_MASTER) {
          if (!proc.alive) throw new Error(`master ${serverId} died on its own:\n${proc.log}`);
          await sleep(10);
        }
        if (i === RESTARTS) break;
        // Kill while the lanes are mid-call; close the client at once so no later answer (from a
        // new process that happens to get the same port) is counted as this master's.
        await proc.kill();
        current = undefined;
        client.close();
        expect(processExists(proc.pid)).toBe(false);
      }
    } finally {
      stop = true;
      await Promise.all(lanes);
      current?.client.close();
      for (const inc of incarnations) await inc.proc.kill();
    }

    expect(incarnations).toHaveLength(RESTARTS + 1);
    expect(new Set(incarnations.map((x) => x.serverId)).size).toBe(RESTARTS + 1);
    // Killed mid-allocation: the lanes saw the outages, as transport or not-serving errors.
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.filter((code) => code !== ErrorCode.Unavailable && code !== ErrorCode.Timeout && code !== ErrorCode.Cancelled)).toEqual([]);

    // Every timestamp served after a restart exceeds every timestamp served before it.
    let maxBefore = 0n;
    for (const [i, inc] of incarnations.entries()) {
      const firsts = inc.served.ts.map((r) => r.first);
      const lasts = inc.served.ts.map((r) => r.first + BigInt(r.count) - 1n);
      const min = firsts.reduce((a, b) => (b < a ? b : a));
      const max = lasts.reduce((a, b) => (b > a ? b : a));
      expect({ master: i, aboveAllBefore: min > maxBefore }).toEqual({ master: i, aboveAllBefore: true });
      maxBefore = max > maxBefore ? max : maxBefore;
    }
    // Each lane's timestamps strictly increase, across every restart.
    for (const seq of laneTs) {
      expect(seq.length).toBeGreaterThan(0);
      expect(seq.filter((ts, k) => k > 0 && ts <= seq[k - 1]!)).toEqual([]);
    }
    // Timestamp ranges are disjoint too.
    const allTs = incarnations.flatMap((inc) => inc.served.ts).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    expect(allTs.filter((r, k) => k > 0 && r.first < allTs[k - 1]!.first + BigInt(allTs[k - 1]!.count))).toEqual([]);

    // ID ranges never overlap, within and across masters.
    const allIds = incarnations.flatMap((inc) => inc.served.ids).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    expect(allIds.length).toBeGreaterThanOrEqual((RESTARTS + 1) * SERVED_PER_MASTER);
    expect(allIds.every((r) => r.first > 0n && r.count > 0)).toBe(true);
    expect(allIds.filter((r, k) => k > 0 && r.first < allIds[k - 1]!.first + BigInt(allIds[k - 1]!.count))).toEqual([]);
    // And a later master's IDs are above every earlier master's.
    let maxIdBefore = 0n;
    for (const [i, inc] of incarnations.entries()) {
      const min = inc.served.ids.map((r) => r.first).reduce((a, b) => (b < a ? b : a));
      expect({ master: i, aboveAllBefore: min > maxIdBefore }).toEqual({ master: i, aboveAllBefore: true });
      for (const r of inc.served.ids) if (r.first + BigInt(r.count) - 1n > maxIdBefore) maxIdBefore = r.first + BigInt(r.count) - 1n;
    }

    // No master process is left.
    for (const inc of incarnations) expect(processExists(inc.proc.pid)).toBe(false);
  }, 90_000);
});
