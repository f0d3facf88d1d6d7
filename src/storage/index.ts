/**
 * Public surface of src/storage: the ObjectStore seam, its key rules, and its two implementations
 * (S3/MinIO for production, the local filesystem for standalone).
 */
export * from './object-store.js';
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3/s3-object-store.js';
export { LocalObjectStore, LOCAL_TMP_DIR, type LocalObjectStoreOptions } from './local/local-object-store.js';
