/**
 * Produces an operation's encoded records to their pchannels: one produce call per pchannel (the
 * stream splits it into broker batches by bytes and keeps the call's records contiguous), all
 * pchannels at once, resolving once the log holds every record.
 *
 * Failure: when a pchannel fails after another succeeded, the records on the successful ones stay
 * (a log cannot take them back). The error says which pchannels were written
 * (`context.writtenChannels`) and which failed (a failed channel may hold part of its records, as
 * the stream's error says), so the caller can decide whether to repeat the operation: a repeated
 * insert writes the rows again with new row ids.
 */
import { TidalError, ErrorCode } from '../common/errors.js';
import type { MsgStream, Position } from '../mq/msg-stream.js';
import type { EncodedMessage } from './insert-messages.js';

/** Produces `byChannel` (pchannel → records, in order) and returns the positions in the same order per channel. */
export async function publish(stream: MsgStream, byChannel: ReadonlyMap<string, readonly EncodedMessage[]>, what: string): Promise<Position[]> {
  const channels = [...byChannel.keys()];
  const results = await Promise.allSettled(
    channels.map((ch) =>
      stream.produce(
        ch,
        byChannel.get(ch)!.map((m) => ({ payload: m.payload, timestamp: m.timestamp })),
      ),
    ),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ channel: channels[i]!, error: r.reason as unknown }] : []));
  if (failed.length > 0) {
    const written = channels.filter((_, i) => results[i]!.status === 'fulfilled');
    const first = failed[0]!.error;
    const code = first instanceof TidalError ? first.code : ErrorCode.BackendUnavailable;
    const reason = first instanceof Error ? first.message : String(first);
    const partial = written.length > 0 ? `; the records on [${written.join(', ')}] were written` : '';
    throw new TidalError(code, `${what}: producing to [${failed.map((f) => f.channel).join(', ')}] failed: ${reason}${partial}`, {
      cause: first,
      retriable: false,
      context: { writtenChannels: written, failedChannels: failed.map((f) => f.channel) },
    });
  }
  return results.flatMap((r) => (r as PromiseFulfilledResult<Position[]>).value);
}
