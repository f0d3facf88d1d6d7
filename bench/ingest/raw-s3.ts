/**
 * Baseline (c): plain PutObject calls (@aws-sdk/client-s3, nothing of Tidal's) writing objects of
 * given sizes to the same S3 server and bucket the DataNode writes to. The objects come in groups
 * (one group = one DataNode sync: an insert log and its stats log, written in parallel), and
 * `concurrency` groups are in flight at once, as the DataNode's SyncManager runs its syncs. The
 * client is configured like the DataNode's (keep-alive agent, path-style, no SDK retries); the
 * bytes come from one preallocated buffer, so nothing is encoded.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Endpoint } from '../../test/harness/endpoints.js';

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
  const agent = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    endpoint: options.s3.endpoint,
    region: options.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: options.s3.accessKeyId, secretAccessKey: options.s3.secretAccessKey },
    maxAttempts: 1,
    requestHandler: { httpAgent: agent, httpsAgent: agent },
  });
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
