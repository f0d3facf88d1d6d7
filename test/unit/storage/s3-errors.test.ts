/**
 * The S3 error mapping decides what the retry helper retries: errors shaped as
 * `@aws-sdk/client-s3` throws them (name, `$metadata.httpStatusCode`) map to stable codes.
 * The live behaviour is covered against a real server in test/conformance/object-store-s3.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { toTidalError } from '../../../src/storage/s3/s3-errors.js';

const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...extra });

const title = (behaviour: string) => `s3-errors - ${behaviour}`;

describe('s3-errors', () => {
  it(title('maps each kind of S3 failure to its code and retriability'), () => {
    const cases: Array<[err: unknown, code: ErrorCode, retriable: boolean]> = [
      [sdkError('NoSuchKey', 404), ErrorCode.NotFound, false],
      [sdkError('NotFound', 404), ErrorCode.NotFound, false],
      [sdkError('NoSuchBucket', 404), ErrorCode.NotFound, false],
      [sdkError('InternalError', 500), ErrorCode.BackendUnavailable, true],
      [sdkError('ServiceUnavailable', 503), ErrorCode.BackendUnavailable, true],
      [sdkError('SlowDown', 503), ErrorCode.BackendUnavailable, true],
      [sdkError('TooManyRequests', 429), ErrorCode.BackendUnavailable, true],
      [sdkError('RequestTimeout', 400), ErrorCode.BackendUnavailable, true],
      [sdkError('Error', undefined, { code: 'ECONNREFUSED' }), ErrorCode.BackendUnavailable, true],
      [sdkError('Error', undefined, { code: 'ECONNRESET' }), ErrorCode.BackendUnavailable, true],
      [sdkError('TimeoutError'), ErrorCode.BackendUnavailable, true],
      [sdkError('AccessDenied', 403), ErrorCode.BackendUnavailable, false],
      [sdkError('SignatureDoesNotMatch', 403), ErrorCode.BackendUnavailable, false],
      [sdkError('BucketAlreadyExists', 409), ErrorCode.BackendUnavailable, false],
      [sdkError('InvalidArgument', 400), ErrorCode.InvalidArgument, false],
      [new TypeError('bad input'), ErrorCode.Internal, false],
    ];
    for (const [err, code, retriable] of cases) {
      const mapped = toTidalError(err, { op: 'get', bucket: 'b', key: 'k' });
      expect({ name: (err as Error).name, code: mapped.code, retriable: mapped.retriable }).toEqual({ name: (err as Error).name, code, retriable });
      expect(mapped.cause).toBe(err);
    }
  });

  it(title('a TidalError passes through unchanged'), () => {
    const original = new TidalError(ErrorCode.Closed, 'closed');
    expect(toTidalError(original, { op: 'get' })).toBe(original);
  });
});
