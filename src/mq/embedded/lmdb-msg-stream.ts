/**
 * LmdbMsgStream: the persistent embedded MsgStream (`mq.backend: embedded`), a LogMsgStream over
 * an LmdbLogStore in one directory. Several processes may open the same directory at once, like
 * SQLite: offsets stay contiguous across them, and a consumer waiting at the end of a channel sees
 * another process's records within about pollIntervalMs. Records are kept until truncated or
 * their channel is deleted (no time or size retention).
 */
import { LmdbLogStore, type LmdbLogStoreOptions } from './lmdb-log-store.js';
import { LogMsgStream, type LogMsgStreamOptions } from './log-msg-stream.js';

/** Options of {@link LmdbMsgStream}: where the log lives, how often waiting consumers poll, and the stream's own options. */
export type LmdbMsgStreamOptions = LmdbLogStoreOptions & LogMsgStreamOptions;

/** A MsgStream kept on disk under `options.dir`. The constructor throws what LmdbLogStore.open throws. */
export class LmdbMsgStream extends LogMsgStream {
  constructor(options: LmdbMsgStreamOptions) {
    super(LmdbLogStore.open({ dir: options.dir, pollIntervalMs: options.pollIntervalMs }), options);
  }
}
