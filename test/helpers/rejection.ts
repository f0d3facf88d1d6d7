import { TidalError } from '../../src/common/errors.js';

/** The rejection of `p` as a TidalError; throws (failing the test) if `p` resolves or rejects with something else. */
export async function rejection(p: Promise<unknown>): Promise<TidalError> {
  const outcome = await p.then(
    (res) => ({ ok: true as const, res }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.res, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  if (!(outcome.err instanceof TidalError)) throw new Error(`expected a TidalError, got ${String(outcome.err)}`, { cause: outcome.err });
  return outcome.err;
}
