/**
 * Public surface of src/master/meta: the meta table (collections, partitions, indexes in etcd with
 * an in-memory view), its key layout, and the validation of DDL names and schemas.
 */
export {
  MetaTable,
  MetaChange,
  DEFAULT_PARTITION_NAME,
  DEFAULT_MAX_PARTITIONS,
  type MetaTableOptions,
  type CollectionRef,
  type CollectionView,
} from './meta-table.js';
export { COLLECTION_PREFIX, COLLECTION_NAME_PREFIX, PARTITION_PREFIX, collectionKey, collectionNameKey, partitionKey, partitionPrefix } from './meta-keys.js';
export {
  validateName,
  validateKeyValues,
  validateCollectionSchema,
  dataTypeName,
  isVectorType,
  MAX_NAME_LENGTH,
  MAX_DIM,
  MAX_VARCHAR_LENGTH,
  MAX_FIELDS,
  FIRST_USER_FIELD_ID,
  RESERVED_FIELD_NAMES,
  SUPPORTED_DATA_TYPES,
  type NameKind,
} from './schema-validation.js';
