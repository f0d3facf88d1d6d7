/**
 * Resolves where a consumer starts, the same way for every MsgStream implementation: a seek to
 * an offset the log no longer holds (below the low watermark) or never held (above the high
 * watermark) is a loud OFFSET_OUT_OF_RANGE, never a silent jump to earliest or latest.
 */
import { ErrorCode, TidalError, errors } from '../common/errors.js';
import type { ChannelOffsets, SeekFrom } from './msg-stream.js';

/**
 * The first offset a consumer of `channel` reads, given where it asked to start and the channel's
 * current offsets. Throws INVALID_ARGUMENT for a position of another channel or a negative offset,
 * OFFSET_OUT_OF_RANGE when the offset was deleted or is beyond the end of the log.
 */
export function startOffset(channel: string, from: SeekFrom, offsets: ChannelOffsets): bigint {
  switch (from.kind) {
    case 'earliest':
      return offsets.earliest;
    case 'latest':
      return offsets.latest;
    case 'position': {
      const { position, inclusive } = from;
      if (position.channel !== channel) {
        throw errors.invalidArgument(`position is on channel ${position.channel}, not ${channel}`, { channel, positionChannel: position.channel });
      }
      if (typeof position.msgId !== 'bigint' || position.msgId < 0n) {
        throw errors.invalidArgument('position msgId must be a non-negative bigint', { channel });
      }
      const offset = inclusive ? position.msgId : position.msgId + 1n;
      checkInRange(channel, offset, offsets);
      return offset;
    }
    default:
      throw errors.invalidArgument(`unknown seek kind ${JSON.stringify((from as { kind: unknown }).kind)}: use earliest, latest or position`, { channel });
  }
}

/** Throws OFFSET_OUT_OF_RANGE unless `earliest <= offset <= latest`. */
export function checkInRange(channel: string, offset: bigint, offsets: ChannelOffsets): void {
  if (offset < offsets.earliest) {
    throw offsetOutOfRange(channel, offset, offsets, 'was deleted (below the earliest retained offset)');
  }
  if (offset > offsets.latest) {
    throw offsetOutOfRange(channel, offset, offsets, 'is beyond the end of the channel');
  }
}

/** The OFFSET_OUT_OF_RANGE error for `offset` on `channel`. */
export function offsetOutOfRange(channel: string, offset: bigint, offsets: ChannelOffsets, why: string): TidalError {
  return new TidalError(
    ErrorCode.OffsetOutOfRange,
    `offset ${offset} of channel ${channel} ${why}; retained offsets are [${offsets.earliest}, ${offsets.latest})`,
    { context: { channel, offset: offset.toString(), earliest: offsets.earliest.toString(), latest: offsets.latest.toString() } },
  );
}
