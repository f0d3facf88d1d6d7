/**
 * MemoryMsgStream: the embedded MsgStream with its channels in process memory (standalone mode
 * without persistence, unit tests). Same semantics as KafkaMsgStream: offsets from 0, size limit,
 * consumers that wait for new messages, OFFSET_OUT_OF_RANGE for deleted offsets.
 */
import { LogMsgStream, type LogMsgStreamOptions } from './log-msg-stream.js';
import { MemoryLogStore } from './memory-log-store.js';

/** Options of {@link MemoryMsgStream}. */
export type MemoryMsgStreamOptions = LogMsgStreamOptions;

/** A MsgStream kept in memory; lost when the process ends. */
export class MemoryMsgStream extends LogMsgStream {
  constructor(options: MemoryMsgStreamOptions = {}) {
    super(new MemoryLogStore(), options);
  }
}
