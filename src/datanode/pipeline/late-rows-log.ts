/**
 * LateRowsLog: the warning for rows the dd node skips although they are in no binlog — an Insert
 * message past the flushed position of its segment, which was flushed or dropped (a producer that
 * wrote after its segment allocation expired). A replay after recovery (a message at or below the
 * segment's flushed position, whose rows the binlogs hold) is not late and is not logged here.
 *
 * Each (segment, message) is warned about once (a message read again after a catch-up or a
 * restart of the flowgraph is not warned twice), and at most `maxWarnings` per `windowMs`: the
 * rest of a window is counted, and the next warning carries how many messages and rows were not
 * logged (`suppressedMessages`, `suppressedRows`), so a burst cannot flood the log.
 */
import type { Logger } from '../../common/log.js';

/** Options of {@link LateRowsLog}. */
export interface LateRowsLogOptions {
  /** Logger of the vchannel (its bindings name the vchannel). */
  logger: Logger;
  /** Most warnings per window. Default 10. */
  maxWarnings?: number;
  /** Length of a window, ms. Default 10,000. */
  windowMs?: number;
  /** (segment, message) pairs remembered for the once-only rule (oldest forgotten first). Default 4,096. */
  rememberMessages?: number;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

/** One skipped late message. */
export interface LateRows {
  segmentId: bigint;
  /** Offset of the message in the pchannel. */
  msgId: bigint;
  rows: number;
  /** Why the segment takes no rows: it is flushed, or dropped. */
  segmentState: 'flushed' | 'dropped';
  /** Offset up to which the segment's rows are in its binlogs. */
  flushedMsgId: bigint;
}

/** Rate-limited, once-per-message warnings for late rows skipped on one vchannel. */
export class LateRowsLog {
  private readonly log: Logger;
  private readonly maxWarnings: number;
  private readonly windowMs: number;
  private readonly remember: number;
  private readonly now: () => number;
  /** Keys `segmentId/msgId` already seen, in insertion order (a Set iterates oldest first). */
  private readonly seen = new Set<string>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private warnedInWindow = 0;
  private suppressedMessages = 0;
  private suppressedRows = 0;

  constructor(options: LateRowsLogOptions) {
    this.log = options.logger;
    this.maxWarnings = options.maxWarnings ?? 10;
    this.windowMs = options.windowMs ?? 10_000;
    this.remember = options.rememberMessages ?? 4_096;
    this.now = options.now ?? Date.now;
  }

  /**
   * Notes a late message: warns unless it was seen before or the window's warnings are used up.
   * Returns whether a warning was logged.
   */
  note(late: LateRows): boolean {
    const key = `${late.segmentId}/${late.msgId}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > this.remember) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.warnedInWindow = 0;
    }
    if (this.warnedInWindow >= this.maxWarnings) {
      this.suppressedMessages++;
      this.suppressedRows += late.rows;
      return false;
    }
    this.warnedInWindow++;
    const suppressed = this.suppressedMessages === 0 ? {} : { suppressedMessages: this.suppressedMessages, suppressedRows: this.suppressedRows };
    this.suppressedMessages = 0;
    this.suppressedRows = 0;
    this.log.warn(
      {
        segmentId: late.segmentId.toString(),
        msgId: late.msgId.toString(),
        rows: late.rows,
        segmentState: late.segmentState,
        flushedMsgId: late.flushedMsgId.toString(),
        ...suppressed,
      },
      'insert past its segment flushed position skipped; its rows are in no binlog',
    );
    return true;
  }
}
