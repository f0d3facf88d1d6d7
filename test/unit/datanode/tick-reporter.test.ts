import { describe, expect, it } from 'vitest';
import { TidalError, errors } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/log.js';
import type { DataNodeTtMsg } from '../../../src/gen/msg.js';
import { TickReporter } from '../../../src/datanode/pipeline/tick-reporter.js';
import type { VchannelPipeline } from '../../../src/datanode/pipeline/vchannel-pipeline.js';

/** What the reporter reads of a pipeline: its vchannel, tick, dirty flag and segment stats. */
function pipeline(vchannel: string, ts: bigint): VchannelPipeline {
  const p = { vchannel, tickDirty: true, failed: undefined, buffer: { consumedTs: ts, segmentStats: () => [] } };
  return p as unknown as VchannelPipeline;
}

/** A master that answers each ReportTimeTick by `answer(msgs)`, recording the vchannels of every call. */
function master(answer: (vchannels: string[]) => TidalError | undefined) {
  const calls: string[][] = [];
  const reportTimeTick = async (req: { msgs?: Partial<DataNodeTtMsg>[] }): Promise<void> => {
    const vchannels = (req.msgs ?? []).map((m) => m.channelName!);
    calls.push(vchannels);
    const err = answer(vchannels);
    if (err !== undefined) throw err;
  };
  return { calls, reportTimeTick, saveBinlogPaths: async () => {} };
}

function reporter(m: ReturnType<typeof master>, pipelines: VchannelPipeline[]): TickReporter {
  return new TickReporter({ master: m, pipelines: () => pipelines, intervalMs: 1_000, checkpointIntervalMs: 60_000, logger: silentLogger });
}

describe('TickReporter', () => {
  it('tick-reporter - one report carries every vchannel whose tick moved; nothing is sent again until a tick moves', async () => {
    const m = master(() => undefined);
    const ps = [pipeline('c_1v0', 10n), pipeline('c_1v1', 11n)];
    const r = reporter(m, ps);
    await r.runOnce();
    await r.runOnce();
    expect(m.calls).toEqual([['c_1v0', 'c_1v1']]);
    ps[1]!.tickDirty = true;
    await r.runOnce();
    expect(m.calls).toEqual([['c_1v0', 'c_1v1'], ['c_1v1']]);
  });

  it('tick-reporter - a failure that may pass (master unavailable) sends every tick again at the next round', async () => {
    let down = true;
    const m = master(() => (down ? errors.unavailable('no leader') : undefined));
    const r = reporter(m, [pipeline('c_1v0', 10n), pipeline('c_1v1', 11n)]);
    await r.runOnce();
    down = false;
    await r.runOnce();
    await r.runOnce();
    expect(m.calls).toEqual([
      ['c_1v0', 'c_1v1'],
      ['c_1v0', 'c_1v1'],
    ]);
  });

  it('tick-reporter - a vchannel the master refuses does not hold back the others, and is not sent again until its tick moves', async () => {
    // c_2v0 was dropped with its collection; c_3v0 moved to another node.
    const refusal = (vchannels: string[]) => {
      if (vchannels.includes('c_2v0')) return errors.notFound('msgs[1]: "c_2v0" is not a vchannel of any collection');
      if (vchannels.includes('c_3v0')) return errors.failedPrecondition('DataNode 1 does not own "c_3v0" (owned by DataNode 2)');
      return undefined;
    };
    const m = master(refusal);
    const ps = [pipeline('c_1v0', 10n), pipeline('c_2v0', 11n), pipeline('c_3v0', 12n)];
    const r = reporter(m, ps);
    await r.runOnce();
    expect(m.calls).toEqual([['c_1v0', 'c_2v0', 'c_3v0'], ['c_1v0'], ['c_2v0'], ['c_3v0']]);
    expect(ps.map((p) => p.tickDirty)).toEqual([false, false, false]);
    await r.runOnce();
    expect(m.calls).toHaveLength(4);

    // The next tick of the good vchannel goes alone, in one call.
    ps[0]!.tickDirty = true;
    await r.runOnce();
    expect(m.calls.at(-1)).toEqual(['c_1v0']);
  });

  it('tick-reporter - alone, a failure that may pass ends the round: that vchannel and the ones after it go at the next round', async () => {
    let calls = 0;
    // The combined report is refused for c_2v0; then c_1v0's own report meets an outage.
    const m = master((vchannels) => {
      calls += 1;
      if (vchannels.includes('c_2v0')) return errors.notFound('"c_2v0" is not a vchannel of any collection');
      return calls === 2 ? errors.unavailable('no leader') : undefined;
    });
    const ps = [pipeline('c_1v0', 10n), pipeline('c_2v0', 11n)];
    const r = reporter(m, ps);
    await r.runOnce();
    expect(m.calls).toEqual([['c_1v0', 'c_2v0'], ['c_1v0']]);
    expect(ps.map((p) => p.tickDirty)).toEqual([true, true]);
    await r.runOnce();
    expect(m.calls.slice(2)).toEqual([['c_1v0', 'c_2v0'], ['c_1v0'], ['c_2v0']]);
    expect(ps.map((p) => p.tickDirty)).toEqual([false, false]);
  });
});
