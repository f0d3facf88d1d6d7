/** Builds the ObjectStore the configuration asks for. */
import type { S3Config, StorageConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { LocalObjectStore } from './local/local-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3/s3-object-store.js';

/** `storage.backend: s3` → S3ObjectStore on `s3.*` (bucket created if missing); `local` → LocalObjectStore. */
export function createObjectStore(config: { storage: StorageConfig; s3: S3Config }, logger?: Logger): ObjectStore {
  if (config.storage.backend === 's3') {
    return new S3ObjectStore({
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      bucket: config.s3.bucket,
      rootPath: config.s3.rootPath,
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
      forcePathStyle: config.s3.forcePathStyle,
      unsignedPayload: config.s3.unsignedPayload,
      createBucket: true,
      logger,
    });
  }
  return new LocalObjectStore({ rootDir: config.storage.localDir });
}
