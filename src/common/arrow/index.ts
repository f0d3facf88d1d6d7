/**
 * Public surface of src/common/arrow: the Arrow shape of a collection and the Insert message's row
 * codec (Arrow IPC stream of one record batch), shared by the proxy and the DataNode, plus the
 * buffer-level column concatenation the binlog writers use.
 */
export {
  FIELD_ID_KEY,
  PRIMARY_KEY_KEY,
  ROW_ID_FIELD,
  ROW_ID_FIELD_ID,
  TIMESTAMP_FIELD,
  TIMESTAMP_FIELD_ID,
  VECTOR_ITEM_FIELD,
  arrowFieldOf,
  arrowSchemaOf,
  arrowTypeOf,
  checkArrowFields,
  checkColumnData,
  dataTypeName,
  primaryKeyField,
  systemArrowFields,
  typeMatches,
  type CheckCode,
} from './arrow-schema.js';
export { buildColumn, columnRows, type ColumnInput } from './column-builder.js';
export { concatData, concatDataDeferred, copyBits, setBits, type DeferredPieces } from './concat.js';
export {
  batchOf,
  buildInsertBatch,
  buildInsertBatchFromRows,
  checkInsertBatch,
  decodeInsertBatch,
  encodeInsertBatch,
  type InsertColumns,
  type InsertRow,
} from './insert-batch.js';
