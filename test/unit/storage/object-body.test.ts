/**
 * Bodies given as a list of parts (`ObjectStore.put(key, Uint8Array[])`): both stores write the
 * parts one after the other, byte for byte, and S3 does so with unsigned (streamed) and signed
 * (joined, hashed) payloads. Real S3 from TIDAL_S3_ENDPOINT (or a harness server).
 */
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import { LocalObjectStore, S3ObjectStore, bodyLength, joinBody, type ObjectStore } from '../../../src/storage/index.js';
import { endpoints, uniqueName } from '../../harness/endpoints.js';

const title = (behaviour: string) => `object body parts - ${behaviour}`;
const bucket = uniqueName('tidal-parts');

/** Parts of every size class: empty, one byte, odd lengths, views into a larger buffer, a big one. */
function parts(): Uint8Array[] {
  const big = randomBytes(3 * 1024 * 1024 + 7);
  const backing = randomBytes(4096);
  return [new Uint8Array(0), Uint8Array.of(42), randomBytes(1001), backing.subarray(13, 2049), new Uint8Array(0), big, new Float32Array([1.5, -2]).subarray(1) as unknown as Uint8Array].map((p) =>
    p instanceof Uint8Array ? p : new Uint8Array((p as ArrayBufferView).buffer, (p as ArrayBufferView).byteOffset, (p as ArrayBufferView).byteLength),
  );
}

async function checkParts(store: ObjectStore): Promise<void> {
  const body = parts();
  await store.put('p/many', body);
  const back = await store.get('p/many');
  expect(back.length).toBe(bodyLength(body));
  expect(back.equals(joinBody(body))).toBe(true);
  expect((await store.head('p/many'))?.size).toBe(bodyLength(body));
  await store.put('p/none', []);
  expect((await store.get('p/none')).length).toBe(0);
  await store.put('p/one', [Buffer.from('only')]);
  expect((await store.get('p/one')).toString()).toBe('only');
  const bad = await store.put('p/bad', ['nope' as unknown as Uint8Array]).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(bad).toBeInstanceOf(TidalError);
  expect((bad as TidalError).code).toBe(ErrorCode.InvalidArgument);
  expect(await store.exists('p/bad')).toBe(false);
}

describe('object body parts', () => {
  const s3Stores: S3ObjectStore[] = [];

  afterAll(async () => {
    const s3 = (await endpoints()).s3;
    for (const s of s3Stores) await s.close();
    const admin = new S3ObjectStore({ ...s3, bucket, rootPath: '', createBucket: true });
    await admin.deletePrefix('');
    await admin.close();
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3 });
    try {
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
  });

  it(title('joinBody and bodyLength: one array is viewed, parts are joined in order'), () => {
    const one = Uint8Array.of(1, 2, 3);
    expect(bodyLength(one)).toBe(3);
    expect(joinBody(one).buffer).toBe(one.buffer);
    expect([...joinBody([Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)])]).toEqual([1, 2, 3]);
    expect(() => bodyLength('x' as unknown as Uint8Array)).toThrow(TidalError);
  });

  it(title('the local store writes the parts one after the other'), async () => {
    const rootDir = await mkdtemp(path.join(tmpdir(), 'tidal-parts-'));
    const store = new LocalObjectStore({ rootDir });
    try {
      await checkParts(store);
    } finally {
      await store.close();
      await rm(rootDir, { recursive: true, force: true });
    }
  });

  for (const unsignedPayload of [true, false]) {
    it(title(`S3 with ${unsignedPayload ? 'unsigned (streamed)' : 'signed (joined, hashed)'} payloads stores the exact bytes`), async () => {
      const store = new S3ObjectStore({ ...(await endpoints()).s3, bucket, rootPath: uniqueName('r'), createBucket: true, unsignedPayload });
      s3Stores.push(store);
      await checkParts(store);
      // A single array goes through the same signing path.
      const single = randomBytes(70_000);
      await store.put('p/single', single);
      expect((await store.get('p/single')).equals(single)).toBe(true);
    });
  }

  it(title('S3 with wrong credentials is refused with unsigned payloads too (the request stays signed)'), async () => {
    const s3 = (await endpoints()).s3;
    const good = new S3ObjectStore({ ...s3, bucket, rootPath: uniqueName('r'), createBucket: true });
    s3Stores.push(good);
    await good.put('warm', Buffer.from('x'));
    const bad = new S3ObjectStore({ ...s3, bucket, rootPath: uniqueName('r'), secretAccessKey: `${s3.secretAccessKey}-wrong`, unsignedPayload: true, retry: { retries: 0 } });
    s3Stores.push(bad);
    const err = await bad.put('k', [Buffer.from('a'), Buffer.from('b')]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TidalError);
    expect(err).toMatchObject({ retriable: false, context: { httpStatus: 403, s3Error: 'SignatureDoesNotMatch' } });
    expect(await good.exists('k')).toBe(false);
  });
});
