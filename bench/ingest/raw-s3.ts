/**
 * Baseline (c): plain PutObject calls (@aws-sdk/client-s3, nothing of Tidal's) writing objects of
 * given sizes to the same S3 server and bucket the DataNode writes to. The objects come in groups
 * (one group = one DataNode sync: an insert log and its stats log, written in parallel), and
 * `concurrency` groups are in flight at once, as the DataNode's SyncManager runs its syncs. The
 * client has the DataNode's connection settings (keep-alive agent, path-style, no SDK retries); the
 * bytes come from one preallocated buffer, so nothing is encoded.
 *
 * Request settings (`settings`):
 * - `sdk-default`: the SDK's defaults, as a plain PutObject sends it: the body's SHA-256 in
 *   `x-amz-content-sha256` (signed payload) and a CRC32 checksum header. The ratio's baseline (c).
 * - `datanode`: the request settings the DataNode's S3ObjectStore uses by default
 *   (`s3.unsignedPayload`): `UNSIGNED-PAYLOAD` and no request checksum. Neither the client nor the
 *   server hashes the body, so the server accepts more bytes per CPU second: (c_dn).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Endpoint } from '../../test/harness/endpoints.js';

/** How the PutObject requests are made (see the file comment). */
export type RawS3Settings = 'sdk-default' | 'datanode';

/** An S3 client with the DataNode's connection settings and the given request settings. */
export function rawS3Client(s3: S3Endpoint, settings: RawS3Settings): S3Client {
  const agent = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
    requestHandler: { httpAgent: agent, httpsAgent: agent },
    ...(settings === 'datanode' ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
  });
  if (settings === 'datanode') {
    // As S3ObjectStore does: the payload hash header set before signing (build step).
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers !== undefined) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'benchUnsignedPayload', override: true },
    );
  }
  return client;
}

/** Options of {@link putRaw}. */
export interface RawS3Options {
  s3: S3Endpoint;
  bucket: string;
  /** Key prefix of the objects (deleted by the caller). */
  prefix: string;
  /** Object sizes, bytes, grouped as the DataNode writes them (one group per sync). */
  groups: readonly (readonly number[])[];
  /** Groups in flight at once. */
  concurrency: number;
  /** Request settings. Default `sdk-default`. */
  settings?: RawS3Settings;
  /** Called right before the measured window opens. */
  onStart?: () => void;
}

/** What the raw puts measured. */
export interface RawS3Result {
  elapsedMs: number;
  objects: number;
  bytes: number;
}

/** Writes every group's objects; throws the SDK's error on the first failed put. */
export async function putRaw(options: RawS3Options): Promise<RawS3Result> {
  const client = rawS3Client(options.s3, options.settings ?? 'sdk-default');
  const largest = Math.max(0, ...options.groups.flat());
  const source = Buffer.alloc(largest);
  // Not all zeros (a server could treat those specially): a cheap repeating pattern.
  for (let i = 0; i < largest; i += 4096) source[i] = (i / 4096) & 0xff;
  let next = 0;
  let objects = 0;
  let bytes = 0;
  try {
    const worker = async () => {
      while (next < options.groups.length) {
        const g = next++;
        await Promise.all(
          options.groups[g]!.map((size, i) =>
            client.send(new PutObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${g}-${i}`, Body: source.subarray(0, size), ContentLength: size })).then(() => {
              objects++;
              bytes += size;
            }),
          ),
        );
      }
    };
    options.onStart?.();
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
    return { elapsedMs: performance.now() - started, objects, bytes };
  } finally {
    client.destroy();
  }
}
