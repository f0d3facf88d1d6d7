/**
 * How an error from `@aws-sdk/client-s3` becomes a TidalError, and so whether the retry helper
 * tries again. Decided on the SDK's error name and HTTP status, never on message text.
 */
import { ErrorCode, TidalError, errors } from '../../common/errors.js';

/** What the SDK attaches to the errors it throws (service errors carry `$metadata`). */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** S3 error names that mean "slow down or try later", whatever status carries them. */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'PriorRequestNotComplete',
  'TimeoutError',
]);

/** S3 error names that mean the object (or bucket) is not there. */
const NOT_FOUND_NAMES: ReadonlySet<string> = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);

/** The HTTP status of an SDK error, or undefined when no response came (network failure). */
export function httpStatusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** The SDK error's name (`NoSuchKey`, `SlowDown`, …), or undefined. */
export function errorNameOf(err: unknown): string | undefined {
  const name = (err as SdkErrorShape | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** True when the SDK error says the object or bucket does not exist (any 404). */
export function isNotFound(err: unknown): boolean {
  return NOT_FOUND_NAMES.has(errorNameOf(err) ?? '') || httpStatusOf(err) === 404;
}

/** Loggable facts about an error: name, code, status and message; never headers or bodies. */
export function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof TidalError) return { code: err.code, retriable: err.retriable, message: err.message, cause: describeError(err.cause) };
  const e = (err ?? {}) as SdkErrorShape;
  return { name: e.name, code: e.code, status: e.$metadata?.httpStatusCode, message: e.message };
}

/**
 * Maps an SDK error to a TidalError:
 * - 404 / NoSuchKey / NoSuchBucket → NOT_FOUND (not retried);
 * - no HTTP response (connection refused or reset, DNS, timeout), 5xx, 408, 429 and throttling
 *   names → BACKEND_UNAVAILABLE, retriable;
 * - 400 → INVALID_ARGUMENT (the request itself is wrong; not retried);
 * - any other 4xx (403 access denied, bad signature, 409 conflict…) → BACKEND_UNAVAILABLE,
 *   not retriable: trying again will not help.
 * A TidalError passes through unchanged. `context` (op, bucket, key) goes on the error.
 */
export function toTidalError(err: unknown, context: Record<string, unknown>): TidalError {
  if (err instanceof TidalError) return err;
  const name = errorNameOf(err);
  const status = httpStatusOf(err);
  const ctx = { ...context, s3Error: name, httpStatus: status };
  const what = `${String(context.op ?? 's3 request')} failed`;

  if (isNotFound(err)) {
    const missing = name === 'NoSuchBucket' ? 'bucket does not exist' : 'object not found';
    return new TidalError(ErrorCode.NotFound, `${missing}: ${String(context.key ?? context.bucket ?? '')}`, { cause: err, context: ctx });
  }
  if (status === undefined) {
    // No response at all. A TypeError/RangeError without a network code is the SDK refusing our
    // input before sending anything: a bug, not an outage.
    const code = (err as SdkErrorShape | undefined)?.code;
    if ((err instanceof TypeError || err instanceof RangeError) && code === undefined) {
      return new TidalError(ErrorCode.Internal, `${what}: ${String((err as Error).message)}`, { cause: err, context: ctx });
    }
    return errors.backend(`${what}: no response from S3 (${code ?? name ?? 'network error'})`, err, true, ctx);
  }
  if (status >= 500 || status === 408 || status === 429 || TRANSIENT_NAMES.has(name ?? '') || (err as SdkErrorShape).$retryable) {
    return errors.backend(`${what}: S3 answered ${status} ${name ?? ''}`.trimEnd(), err, true, ctx);
  }
  if (status === 400) {
    return new TidalError(ErrorCode.InvalidArgument, `${what}: S3 rejected the request (${name ?? 'Bad Request'})`, { cause: err, context: ctx });
  }
  return errors.backend(`${what}: S3 answered ${status} ${name ?? ''}`.trimEnd(), err, false, ctx);
}
