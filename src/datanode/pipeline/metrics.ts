/**
 * Counters of a DataNode's data path, shared by its parts (dispatcher, flowgraph nodes, sync
 * manager) and read through `DataPath.metrics()`. Plain numbers: the process exports them however
 * it exports metrics.
 */

/** The data path's counters (monotonic unless said otherwise). */
export class DataPathMetrics {
  /** Records skipped because they could not be decoded (header or body), or disagreed with their header. */
  undecodableRecords = 0;
  /** Records read from the log by the dispatchers (every reader counted). */
  recordsRead = 0;
  /** Insert messages appended to write buffers, and their rows. */
  insertMessages = 0;
  insertRows = 0;
  /** Rows skipped on recovery (already flushed, or of a flushed / dropped segment or partition). */
  skippedRows = 0;
  /**
   * Of `skippedRows`: rows past the flushed position of their flushed or dropped segment, in no
   * binlog (a message produced after its segment allocation expired; each is warned about).
   */
  lateSkippedRows = 0;
  /** Deletes (keys) appended to write buffers. */
  deleteRows = 0;
  /** Syncs that completed (objects written and SaveBinlogPaths stored), and what they carried. */
  syncsCompleted = 0;
  syncedRows = 0;
  syncedBytes = 0;
  /** Attempts of an object put or a SaveBinlogPaths that failed and were retried. */
  syncRetries = 0;
  /** Syncs that failed for good (each fails its vchannel's flowgraph). */
  syncsFailed = 0;
  /** Reservations of buffer memory that had to wait (counted when the wait begins: consumption paused), and the total wait, ms. */
  memoryWaits = 0;
  memoryWaitMs = 0;
  /** Flowgraphs that failed. */
  flowgraphFailures = 0;

  /** A plain copy of the counters. */
  snapshot(): Record<string, number> {
    return { ...(this as unknown as Record<string, number>) };
  }
}
