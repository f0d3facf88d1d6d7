/**
 * The failpoint facility (src/common/failpoint.ts) in this process: parsing, the n-th hit, `error`
 * and `pause`. `kill` is exercised by test/fault/datanode-kill.test.ts on real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import * as fp from '../../../src/common/failpoint.js';

afterEach(() => fp.configureFailpoints(undefined));

const settled = async (p: Promise<unknown>) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (err: unknown) => (err instanceof TidalError ? err.code : 'other error'),
    ),
    new Promise((r) => setTimeout(() => r('pending'), 50)),
  ]);

describe('failpoint', () => {
  it('failpoint - parses name=action[@n] terms separated by ";"', () => {
    expect([...fp.parseFailpoints(' a.b=kill ; c.dE2=pause@3;;x=error')]).toEqual([
      ['a.b', { action: 'kill', nth: undefined }],
      ['c.dE2', { action: 'pause', nth: 3 }],
      ['x', { action: 'error', nth: undefined }],
    ]);
    expect(fp.parseFailpoints('  ').size).toBe(0);
  });

  it('failpoint - a bad spec is INVALID_ARGUMENT naming the term, and changes nothing', () => {
    fp.configureFailpoints('a=error');
    for (const bad of ['a', 'a=explode', 'a=kill@0', 'a=kill@x', '.a=kill', 'a..b=kill', 'a=kill;a=pause', 'A=kill']) {
      let caught: unknown;
      try {
        fp.configureFailpoints(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(TidalError);
      expect((caught as TidalError).code).toBe(ErrorCode.InvalidArgument);
      expect((caught as TidalError).message).toContain('TIDAL_FAILPOINTS');
    }
    expect(fp.failpointsActive).toBe(true);
  });

  it('failpoint - off by default and after clearing: every place passes', async () => {
    fp.configureFailpoints('');
    expect(fp.failpointsActive).toBe(false);
    expect(await settled(fp.failpoint('a'))).toBe('resolved');
  });

  it('failpoint - error fires on every hit, error@n on the n-th only; other names pass', async () => {
    fp.configureFailpoints('a=error;b=error@2');
    expect(fp.failpointsActive).toBe(true);
    expect(await settled(fp.failpoint('a'))).toBe(ErrorCode.Internal);
    expect(await settled(fp.failpoint('a'))).toBe(ErrorCode.Internal);
    expect(await settled(fp.failpoint('b'))).toBe('resolved');
    expect(await settled(fp.failpoint('b'))).toBe(ErrorCode.Internal);
    expect(await settled(fp.failpoint('b'))).toBe('resolved');
    expect(await settled(fp.failpoint('other'))).toBe('resolved');
    expect(fp.failpointHits('b')).toBe(3);
  });

  it('failpoint - pause@2 lets the first hit pass and holds the second for good', async () => {
    fp.configureFailpoints('p=pause@2');
    expect(await settled(fp.failpoint('p'))).toBe('resolved');
    expect(await settled(fp.failpoint('p'))).toBe('pending');
    expect(await settled(fp.failpoint('p'))).toBe('resolved');
  });
});
