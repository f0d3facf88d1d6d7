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
import type { DeferredPieces } from '../../common/arrow/concat.js';
import { ErrorCode, errors, TidalError } from '../../common/errors.js';

/**
 * A file writer that keeps what it writes as the list of pieces the writer emitted (framing,
 * metadata, padding, and views of the columns' own buffers) instead of queueing them for one join.
 */
class PartsFileWriter extends RecordBatchFileWriter {
  readonly parts: Uint8Array[] = [];
  byteLength = 0;

  constructor(private readonly deferred: DeferredPieces | undefined) {
    super();
  }

  protected override _write(chunk: unknown): this {
    if (!this._started) return this;
    if (!ArrayBuffer.isView(chunk)) throw new TidalError(ErrorCode.Internal, 'the Arrow writer emitted a piece that is not a byte view');
    if (chunk.byteLength === 0) return this;
    const pieces = this.deferred?.get(chunk.buffer);
    if (pieces !== undefined) {
      // A stand-in column's values: write the chunks' own bytes, which are its contents.
      let n = 0;
      for (const p of pieces) n += p.byteLength;
      if (chunk.byteOffset !== 0 || n !== chunk.byteLength) {
        throw new TidalError(ErrorCode.Internal, `the Arrow writer emitted ${chunk.byteLength} bytes at ${chunk.byteOffset} of a stand-in column of ${n} bytes`);
      }
      this.parts.push(...pieces);
    } else {
      this.parts.push(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    this.byteLength += chunk.byteLength;
    this._position += chunk.byteLength;
    return this;
  }
}

/**
 * Arrow IPC file of one record batch with `fields` (in order), column data `columns` and schema
 * metadata `metadata`, as the pieces to write one after the other: the column values are not
 * copied (the pieces view the columns' buffers, which must not change until the pieces are
 * written). Deterministic for equal input. `deferred`: the stand-in columns of
 * `concatDataDeferred` among `columns`, written as the pieces they stand for. Join them with {@link writeArrowFile}'s result or write
 * them as they are (`ObjectStore.put` takes a list).
 */
export function writeArrowFileParts(
  fields: readonly Field[],
  columns: readonly Data[],
  numRows: number,
  metadata: Map<string, string>,
  deferred?: DeferredPieces,
): { parts: Uint8Array[]; byteLength: number } {
  const schema = new Schema(fields as Field[], metadata);
  const struct = makeData({ type: new Struct(schema.fields), length: numRows, nullCount: 0, children: columns as Data[] });
  const writer = new PartsFileWriter(deferred);
  writer.write(new RecordBatch(schema, struct));
  writer.finish();
  return { parts: writer.parts, byteLength: writer.byteLength };
}

/**
 * Arrow IPC file bytes of one record batch with `fields` (in order), column data `columns` and
 * schema metadata `metadata`. Deterministic for equal input.
 */
export function writeArrowFile(fields: readonly Field[], columns: readonly Data[], numRows: number, metadata: Map<string, string>): Uint8Array {
  const { parts, byteLength } = writeArrowFileParts(fields, columns, numRows, metadata);
  const out = new Uint8Array(byteLength);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
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
