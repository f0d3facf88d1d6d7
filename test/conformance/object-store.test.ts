/**
 * Runs the ObjectStore conformance suite against every implementation: S3ObjectStore on the real
 * S3 API server of this test run (s3proxy or MinIO, never a mock) and LocalObjectStore on a temp
 * directory. S3: one bucket for this file, one unique root path per store.
 */
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { LocalObjectStore, S3ObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';
import { objectStoreConformance } from './object-store.suite.js';

const bucket = uniqueName('tidal-os');
const s3Roots = new WeakMap<ObjectStore, string>();
let admin: S3ObjectStore | undefined;

/** A store on the whole bucket, to clean up after stores that are already closed. */
async function adminStore(): Promise<S3ObjectStore> {
  admin ??= new S3ObjectStore({ ...(await endpoints()).s3, bucket, rootPath: '', createBucket: true });
  return admin;
}

objectStoreConformance('s3', {
  create: async () => {
    const rootPath = `${uniqueName('t')}/root`;
    const store = new S3ObjectStore({ ...(await endpoints()).s3, bucket, rootPath, createBucket: true });
    s3Roots.set(store, rootPath);
    return store;
  },
  dispose: async (store) => {
    const root = s3Roots.get(store);
    if (root !== undefined) await (await adminStore()).deletePrefix(`${root}/`);
  },
});

afterAll(async () => {
  if (admin === undefined) return;
  // Every test cleaned up its root: the bucket must be empty now.
  expect((await admin.list('')).objects).toEqual([]);
  await admin.close();
  const { endpoint, region, accessKeyId, secretAccessKey } = (await endpoints()).s3;
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  try {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
});

const localRoots = new WeakMap<ObjectStore, string>();
objectStoreConformance('local', {
  create: async () => {
    const rootDir = await mkdtemp(path.join(tmpdir(), 'tidal-os-'));
    const store = new LocalObjectStore({ rootDir });
    localRoots.set(store, rootDir);
    return store;
  },
  dispose: async (store) => {
    const root = localRoots.get(store);
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  },
});
