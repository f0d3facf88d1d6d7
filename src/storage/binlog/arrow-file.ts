/**
 * Arrow IPC *file* framing for binlogs: one record batch written with its schema and footer, so any
 * Arrow reader opens it (apache-arrow `tableFromIPC`, pyarrow `ipc.open_file`, arrow-rs
 * `FileReader`), and the matching reader that turns unreadable bytes into CORRUPTED.
 */
import {
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  type Data,
  type Field,
  type RecordBatchFileReader,
  type RecordBatchStreamReader,
} from 'apache-arrow';
import { errors, TidalError } from '../../common/errors.js';

/**
 * Arrow IPC file bytes of one record batch with `fields` (in order), column data `columns` and
 * schema metadata `metadata`. Deterministic for equal input.
 */
export function writeArrowFile(fields: readonly Field[], columns: readonly Data[], numRows: number, metadata: Map<string, string>): Uint8Array {
  const schema = new Schema(fields as Field[], metadata);
  const struct = makeData({ type: new Struct(schema.fields), length: numRows, nullCount: 0, children: columns as Data[] });
  return RecordBatchFileWriter.writeAll([new RecordBatch(schema, struct)]).toUint8Array(true);
}

/**
 * Reads Arrow IPC file bytes into a Table (buffers are views of `bytes`). `what` names the binlog
 * kind in errors. Throws CORRUPTED when the bytes are not a readable Arrow IPC file.
 */
export function readArrowFile(bytes: Uint8Array, what: string): Table {
  let schema: Schema | undefined;
  let batches: RecordBatch[];
  try {
    const reader: RecordBatchFileReader | RecordBatchStreamReader = RecordBatchReader.from(bytes);
    if (!reader.isFile()) throw errors.corrupted(`${what} is not an Arrow IPC file`);
    // The schema must be taken before readAll(): the reader drops it when it closes at the end.
    schema = reader.open().schema;
    batches = reader.readAll();
  } catch (err) {
    if (err instanceof TidalError) throw err;
    throw errors.corrupted(`${what} is not a readable Arrow IPC file: ${(err as Error).message}`, err);
  }
  if (schema === undefined || schema === null) throw errors.corrupted(`${what} holds no Arrow schema`);
  return new Table(schema, batches);
}
