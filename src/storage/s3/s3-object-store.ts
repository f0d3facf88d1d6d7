/**
 * S3ObjectStore: the ObjectStore on any S3 API (AWS S3, MinIO, s3proxy) through
 * `@aws-sdk/client-s3`.
 *
 * Retry policy is ours, not the SDK's: the client is built with `maxAttempts: 1` (the SDK never
 * retries) and bounded connect/request timeouts, and every request runs inside the one retry helper
 * (`common/retry.ts`), which retries what `toTidalError` marks retriable (network errors, 5xx,
 * throttling) and nothing else. With the defaults (5 retries, 100 ms doubling to 5 s, ×1–2 jitter)
 * an outage surfaces as BACKEND_UNAVAILABLE after 6 attempts and at most ~6 s of backoff plus the
 * attempts' own timeouts.
 *
 * Upload cost: the client is built with `requestChecksumCalculation: 'WHEN_REQUIRED'` (no CRC32 of
 * every body, which PutObject does not require), and with `unsignedPayload` (default) every
 * request is signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD` instead of the SHA-256 of its
 * body: the headers, key and credentials stay signed, only the body's bytes are not part of the
 * signature. That spares hashing every binlog (about one CPU-second per GB) and lets a body given
 * as parts be streamed without joining them. Over https, TLS already protects the body; over plain
 * http a party on the network path could alter a body undetected (it can read it either way), so
 * set `unsignedPayload: false` where that matters: bodies are then hashed and parts joined first.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type _Object,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ErrorCode, TidalError, errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { retry, type RetryOptions } from '../../common/retry.js';
import {
  MAX_LIST_KEYS,
  assertValidKey,
  assertValidPrefix,
  bodyLength,
  bodyParts,
  joinBody,
  type ObjectBody,
  assertValidRange,
  pageSize,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
} from '../object-store.js';
import { describeError, errorNameOf, httpStatusOf, isNotFound, toTidalError } from './s3-errors.js';

/** How to reach the bucket. The secret key is handed to the SDK and kept nowhere else. */
export interface S3ObjectStoreOptions {
  /** Endpoint URL, e.g. `http://127.0.0.1:9000`. */
  endpoint: string;
  region: string;
  /** Bucket name: 3..63 characters of lowercase letters, digits, '.' and '-'. */
  bucket: string;
  /** Every key lives under this path inside the bucket ('' for the bucket's root). */
  rootPath: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style addressing (`endpoint/bucket/key`), as MinIO and s3proxy need. Default true. */
  forcePathStyle?: boolean;
  /** Create the bucket before the first request if it is missing (idempotent). Default false. */
  createBucket?: boolean;
  /** Retry policy for transient errors. Defaults: `DEFAULT_RETRY` of common/retry.ts. */
  retry?: RetryOptions;
  /** Longest wait for a TCP connection, in ms. Default 5,000. */
  connectionTimeoutMs?: number;
  /** Longest one HTTP request (send and whole response) may take, in ms. Default 60,000. */
  requestTimeoutMs?: number;
  logger?: Logger;
  /**
   * Sign requests with `UNSIGNED-PAYLOAD` instead of the SHA-256 of the body, and stream a body
   * given as parts without joining them (see the file comment). Default true.
   */
  unsignedPayload?: boolean;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The ObjectStore on an S3 API. Throws TidalError (see `s3-errors.ts` for the mapping). */
export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  /** '' or the root path with one trailing '/'. */
  private readonly root: string;
  private readonly retryOptions: RetryOptions;
  private readonly createBucket: boolean;
  private readonly log: Logger;
  private readonly unsignedPayload: boolean;
  private bucketReady: Promise<void> | undefined;
  private closed = false;

  /** Validates the options (INVALID_ARGUMENT) and builds the client; sends nothing yet. */
  constructor(options: S3ObjectStoreOptions) {
    if (!BUCKET_NAME.test(options.bucket)) {
      throw errors.invalidArgument('bucket name must be 3..63 characters of lowercase letters, digits, "." and "-"', { bucket: options.bucket });
    }
    const rootPath = options.rootPath.replace(/^\/+|\/+$/g, '');
    if (rootPath !== '') assertValidKey(rootPath);
    this.bucket = options.bucket;
    this.root = rootPath === '' ? '' : `${rootPath}/`;
    this.retryOptions = options.retry ?? {};
    this.createBucket = options.createBucket ?? false;
    this.log = (options.logger ?? silentLogger).child({ component: 's3-object-store', endpoint: options.endpoint, bucket: this.bucket, rootPath });
    this.unsignedPayload = options.unsignedPayload ?? true;
    const agent = { keepAlive: true, maxSockets: 64 };
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? true,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // Our retry helper is the policy; the SDK's own retries would multiply its attempts.
      maxAttempts: 1,
      // The SDK's own messages (e.g. "error in a non-retryable streaming request" for every failed
      // streamed put) go to our log at debug level, not to the console: the retry helper already
      // logs each failure with its context.
      logger: sdkLogger(this.log),
      // PutObject does not require a checksum; computing CRC32 of every body is CPU for nothing.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        requestTimeout: options.requestTimeoutMs ?? 60_000,
        throwOnRequestTimeout: true,
        httpAgent: agent,
        httpsAgent: agent,
      },
    });
    if (this.unsignedPayload) {
      // The signer (finalizeRequest step) takes a payload hash header it finds as given; set it
      // before signing, at the build step (setting it after signing breaks the signature).
      this.client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (request.headers !== undefined) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
          return next(args);
        },
        { step: 'build', name: 'tidalUnsignedPayload', override: true },
      );
    }
  }

  /**
   * Writes the object whole (a single PutObject), replacing any object with that key. A body of
   * several parts is streamed part after part when payloads are unsigned, else joined first (the
   * signature needs the body's hash).
   */
  async put(key: string, body: ObjectBody): Promise<void> {
    assertValidKey(key);
    const length = bodyLength(body);
    const parts = bodyParts(body);
    const single = parts.length === 1 ? parts[0]! : !this.unsignedPayload || parts.length === 0 ? joinBody(body) : undefined;
    await this.run('put', key, async () => {
      // A stream is read once: each attempt gets a fresh one over the same parts.
      const payload = single ?? Readable.from(parts, { objectMode: false });
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.path(key), Body: payload, ContentLength: length }));
    });
  }

  /** Reads the object whole. NOT_FOUND when missing. */
  async get(key: string): Promise<Buffer> {
    assertValidKey(key);
    return this.run('get', key, async () => readBody(await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.path(key) }))));
  }

  /**
   * Reads `length` bytes from `offset` with an HTTP Range request, clamped at the object's end;
   * an offset at or past the end gives an empty buffer (S3 answers 416, which means the object
   * exists: a missing one is 404 → NOT_FOUND).
   */
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    assertValidKey(key);
    assertValidRange(offset, length);
    if (length === 0) {
      // "bytes=a-(a-1)" is not a valid range: check existence instead, so a missing key still throws.
      if ((await this.head(key)) === undefined) throw errors.notFound(`object not found: ${key}`, { key });
      return Buffer.alloc(0);
    }
    return this.run('getRange', key, async () => {
      let out: GetObjectCommandOutput;
      try {
        out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.path(key), Range: `bytes=${offset}-${offset + length - 1}` }));
      } catch (err) {
        if (httpStatusOf(err) === 416 || errorNameOf(err) === 'InvalidRange') return Buffer.alloc(0);
        throw err;
      }
      const body = await readBody(out);
      // A server that ignores Range answers 200 with the whole object: cut the range out ourselves.
      if (out.ContentRange === undefined && out.$metadata.httpStatusCode === 200) return body.subarray(offset, offset + length);
      return body.length > length ? body.subarray(0, length) : body;
    });
  }

  /** The object's size, modification time and ETag, or undefined when missing. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    return this.run('head', key, async () => {
      try {
        const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.path(key) }));
        return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0), etag: out.ETag };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** Whether the object exists (a HEAD request). */
  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** One ListObjectsV2 page; the token is S3's continuation token, passed through. */
  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const maxKeys = pageSize(options);
    const token = options.continuationToken === '' ? undefined : options.continuationToken;
    return this.run('list', prefix, async () => {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, MaxKeys: maxKeys, ContinuationToken: token }),
      );
      if (out.IsTruncated === true && !out.NextContinuationToken) {
        throw new TidalError(ErrorCode.Internal, 'S3 listing is truncated but has no continuation token', { context: { prefix } });
      }
      return {
        objects: (out.Contents ?? []).map((o) => this.info(o)),
        nextToken: out.IsTruncated === true ? out.NextContinuationToken : undefined,
      };
    });
  }

  /** Every object under the prefix, page by page (1,000 keys per request). */
  async *listAll(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.list(prefix, { continuationToken: token });
      yield* page.objects;
      token = page.nextToken;
    } while (token !== undefined);
  }

  /** Deletes the object; a missing key is not an error (S3 answers 204 either way). */
  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.run('delete', key, async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.path(key) }));
    });
  }

  /**
   * Deletes every object under the prefix: lists 1,000 keys at a time (resuming after the last key
   * listed, which stays valid once those keys are gone) and removes each batch with one
   * DeleteObjects. Returns how many objects it deleted.
   */
  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    let deleted = 0;
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.run('deletePrefix.list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, MaxKeys: MAX_LIST_KEYS, StartAfter: startAfter })),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => k !== undefined);
      if (keys.length === 0) break;
      await this.run('deletePrefix.delete', prefix, async () => {
        const out = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
        );
        const failed = out.Errors ?? [];
        if (failed.length > 0) {
          // Deleting again is harmless, so a batch with per-key server errors is worth a retry.
          const transient = failed.every((e) => e.Code === 'InternalError' || e.Code === 'SlowDown' || e.Code === 'ServiceUnavailable');
          throw errors.backend(`DeleteObjects failed for ${failed.length} of ${keys.length} keys`, undefined, transient, {
            prefix,
            first: { key: failed[0]?.Key, code: failed[0]?.Code },
          });
        }
      });
      deleted += keys.length;
      startAfter = keys[keys.length - 1];
      if (page.IsTruncated !== true) break;
    }
    return deleted;
  }

  /** Destroys the SDK client (its sockets). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  private path(key: string): string {
    return this.root + key;
  }

  private info(o: _Object): ObjectInfo {
    const full = o.Key ?? '';
    return { key: full.slice(this.root.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0), etag: o.ETag };
  }

  /** Runs one request under the retry policy, after making sure the bucket exists. */
  private async run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw errors.closed('S3ObjectStore');
    if (this.createBucket) await this.ensureBucket();
    return this.withRetry(op, key, fn);
  }

  private withRetry<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    const context = { op, bucket: this.bucket, key };
    return retry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          throw toTidalError(err, context);
        }
      },
      {
        ...this.retryOptions,
        onRetry: (err, attempt) => {
          this.log.warn({ op, key, attempt, err: describeError(err) }, 's3 request failed');
          this.retryOptions.onRetry?.(err, attempt);
        },
      },
    );
  }

  /** Creates the bucket once per store (concurrent callers share the attempt; a failure is retried by the next call). */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.withRetry('createBucket', '', async () => {
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
        this.log.info('bucket created');
      } catch (err) {
        if (errorNameOf(err) === 'BucketAlreadyOwnedByYou') return;
        throw err;
      }
    }).catch((err: unknown) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }
}

/**
 * The SDK's logger interface over ours: its warnings and errors at debug level (the retry helper
 * logs each failure itself); its per-request debug and info records are dropped.
 */
function sdkLogger(log: Logger): { debug: () => void; info: () => void; warn: (...a: unknown[]) => void; error: (...a: unknown[]) => void } {
  const toLog = (...args: unknown[]): void => log.debug({ sdk: args.map((a) => (typeof a === 'string' ? a : describeError(a))) }, 's3 sdk message');
  const drop = (): void => undefined;
  return { debug: drop, info: drop, warn: toLog, error: toLog };
}

/** The response body as one Buffer (no copy of the SDK's byte array). */
async function readBody(out: GetObjectCommandOutput): Promise<Buffer> {
  if (out.Body === undefined) return Buffer.alloc(0);
  const bytes = await out.Body.transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
