import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/common/errors.js';
import {
  assignShards,
  ddChannelName,
  dmlChannelName,
  dmlChannelNames,
  parseVchannel,
  pchannelOf,
  vchannelName,
} from '../../../../src/master/channels/index.js';

describe('channels', () => {
  it('channels - names the DD channel, DML pchannels and vchannels as DESIGN says', () => {
    expect(ddChannelName('tidal')).toBe('tidal-dd');
    expect(dmlChannelName('tidal', 3)).toBe('tidal-dml_3');
    expect(dmlChannelNames('t', 3)).toEqual(['t-dml_0', 't-dml_1', 't-dml_2']);
    expect(vchannelName('tidal-dml_3', 4411n, 2)).toBe('tidal-dml_3_4411v2');
  });

  it('channels - parses a vchannel back to its pchannel, collection and shard, underscores in the prefix included', () => {
    expect(parseVchannel('my_app-dml_12_987654321v7')).toEqual({ pchannel: 'my_app-dml_12', collectionId: 987654321n, shard: 7 });
    expect(pchannelOf('tidal-dml_0_5v0')).toBe('tidal-dml_0');
    const v = vchannelName(dmlChannelName('a_b_c', 9), 1n << 60n, 15);
    expect(parseVchannel(v)).toEqual({ pchannel: 'a_b_c-dml_9', collectionId: 1n << 60n, shard: 15 });
  });

  it('channels - rejects what is not a vchannel or a valid prefix', () => {
    expect(() => parseVchannel('tidal-dml_0')).toThrow(/is not a vchannel name: expected \{pchannel\}_\{collectionID\}v\{shard\}/);
    expect(() => parseVchannel('tidal-dml_0')).toThrowError(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    expect(() => ddChannelName('bad prefix')).toThrow(/channel prefix must be 1-200 characters/);
    expect(() => dmlChannelName('t', -1)).toThrow(/DML channel index must be a non-negative integer, got -1/);
  });

  it('channels - spreads shards over the least-used pchannels first, ties in pchannel order', () => {
    const p = dmlChannelNames('t', 4);
    expect(assignShards(7n, 2, p).map((s) => s.pchannel)).toEqual(['t-dml_0', 't-dml_1']);
    const usage = new Map([
      ['t-dml_0', 2],
      ['t-dml_1', 1],
      ['t-dml_2', 0],
      ['t-dml_3', 1],
    ]);
    const placed = assignShards(7n, 3, p, usage);
    expect(placed.map((s) => s.pchannel)).toEqual(['t-dml_2', 't-dml_1', 't-dml_2']);
    expect(placed.map((s) => s.vchannel)).toEqual(['t-dml_2_7v0', 't-dml_1_7v1', 't-dml_2_7v2']);
    // Deterministic: the same inputs give the same placement.
    expect(assignShards(7n, 3, p, usage)).toEqual(placed);
  });

  it('channels - wraps round when a collection has more shards than there are pchannels', () => {
    const placed = assignShards(1n, 5, dmlChannelNames('t', 2));
    expect(placed.map((s) => s.pchannel)).toEqual(['t-dml_0', 't-dml_1', 't-dml_0', 't-dml_1', 't-dml_0']);
    expect(new Set(placed.map((s) => s.vchannel)).size).toBe(5);
  });
});
