/**
 * The one retry helper: exponential backoff with jitter, honours `retriable`, takes an AbortSignal.
 * Built on p-retry; Tidal only decides what counts as retriable and supplies the defaults.
 */
import pRetry, { AbortError } from 'p-retry';
import { TidalError } from './errors.js';

export interface RetryOptions {
  /** Attempts after the first one. Default 5. */
  retries?: number;
  /** First backoff in ms. Default 100. */
  minTimeoutMs?: number;
  /** Largest backoff in ms. Default 5,000. */
  maxTimeoutMs?: number;
  /** Backoff growth per attempt. Default 2. */
  factor?: number;
  /** Stops retrying (and rejects) when aborted. */
  signal?: AbortSignal;
  /** Decides whether an error is worth another attempt. Default: {@link isRetriable}. */
  shouldRetry?: (err: unknown) => boolean;
  /** Called before each new attempt (for logging). */
  onRetry?: (err: unknown, attempt: number) => void;
}

export const DEFAULT_RETRY: Required<Pick<RetryOptions, 'retries' | 'minTimeoutMs' | 'maxTimeoutMs' | 'factor'>> = {
  retries: 5,
  minTimeoutMs: 100,
  maxTimeoutMs: 5_000,
  factor: 2,
};

/**
 * Whether an error may pass if tried again: a TidalError says so itself; other errors (network
 * errors from a client library) are treated as transient unless they say `retriable: false`.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof TidalError) return err.retriable;
  if (err && typeof err === 'object' && 'retriable' in err) return Boolean((err as { retriable: unknown }).retriable);
  return true;
}

/** Runs `fn` until it succeeds, throws a non-retriable error, runs out of attempts or is aborted. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetriable;
  return pRetry(
    async (attempt) => {
      try {
        return await fn(attempt);
      } catch (err) {
        if (!shouldRetry(err)) throw new AbortError(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
    },
    {
      retries: options.retries ?? DEFAULT_RETRY.retries,
      minTimeout: options.minTimeoutMs ?? DEFAULT_RETRY.minTimeoutMs,
      maxTimeout: options.maxTimeoutMs ?? DEFAULT_RETRY.maxTimeoutMs,
      factor: options.factor ?? DEFAULT_RETRY.factor,
      randomize: true,
      signal: options.signal,
      onFailedAttempt: ({ error, attemptNumber }) => options.onRetry?.(error, attemptNumber),
    },
  );
}
