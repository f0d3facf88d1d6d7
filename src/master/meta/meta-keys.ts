/**
 * Keys of the meta table in the metadata KV (relative to the KV's root path; DESIGN "Metadata in
 * etcd"). Values are the protobuf encodings of proto/meta.proto, except the name index, whose value
 * is the collection id as decimal text.
 */

/** Prefix of collection records: `meta/collection/{id}` → meta.CollectionInfo. */
export const COLLECTION_PREFIX = 'meta/collection/';
/** Prefix of the name index: `meta/collection-name/{name}` → id of the live collection of that name. */
export const COLLECTION_NAME_PREFIX = 'meta/collection-name/';
/** Prefix of partition records: `meta/partition/{collectionId}/{partitionId}` → meta.PartitionInfo. */
export const PARTITION_PREFIX = 'meta/partition/';

/** `meta/collection/{id}`. */
export function collectionKey(id: bigint): string {
  return `${COLLECTION_PREFIX}${id}`;
}

/** `meta/collection-name/{name}`. */
export function collectionNameKey(name: string): string {
  return `${COLLECTION_NAME_PREFIX}${name}`;
}

/** `meta/partition/{collectionId}/` (every partition of one collection). */
export function partitionPrefix(collectionId: bigint): string {
  return `${PARTITION_PREFIX}${collectionId}/`;
}

/** `meta/partition/{collectionId}/{partitionId}`. */
export function partitionKey(collectionId: bigint, partitionId: bigint): string {
  return `${partitionPrefix(collectionId)}${partitionId}`;
}
