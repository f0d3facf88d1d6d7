/**
 * The time-tick node: the last stage of a vchannel's flowgraph.
 *
 * - Every message it sees moves the vchannel's `consumed` position (the channel checkpoint when
 *   nothing is buffered); it is the last stage, so everything up to there is fully handled.
 * - A time tick moves `consumedTs`, runs the staleness policy, and is handed to `onTick` (the
 *   DataPath reports the node's tick to the master — the hard barrier the master's flush orders
 *   follow — and wakes flushes waiting for that tick).
 * - DropCollection: every segment of the vchannel is synced with `dropped` (its buffered rows are
 *   written, and the master marks it Dropped); later records of the collection are skipped. The
 *   vchannel itself is released when the master says so (ReleaseDmChannels).
 * - DropPartition: the same for the partition's segments.
 */
import type { Node } from '../../../flowgraph/index.js';
import type { Logger } from '../../common/log.js';
import type { WriteBufferManager } from '../writebuffer/buffer-manager.js';
import type { ChannelWriteBuffer } from '../writebuffer/channel-buffer.js';
import type { FlowMsg } from './messages.js';

/** Options of {@link createTimeTickNode}. */
export interface TimeTickNodeOptions {
  channel: ChannelWriteBuffer;
  manager: WriteBufferManager;
  /** A tick was consumed (after `channel.consumedTs` moved). */
  onTick: (ts: bigint) => void;
  logger: Logger;
}

/** The time-tick node of one vchannel's flowgraph. */
export function createTimeTickNode(options: TimeTickNodeOptions): Node<FlowMsg, never> {
  const { channel, manager, onTick } = options;
  const log = options.logger.child({ node: 'time-tick', vchannel: channel.vchannel });
  const dropSegments = async (partitionId?: bigint): Promise<void> => {
    const segments = channel.registry.segmentsOf(partitionId).filter((s) => s.phase !== 'dropped');
    try {
      await Promise.all(segments.map((s) => channel.sync(s.segmentId, { dropped: true })));
    } catch (err) {
      // Released meanwhile (the master releases a dropped collection's vchannels): nothing left to do.
      if (!channel.isReleased) throw err;
    }
  };
  return {
    name: 'time-tick',
    operate: async (msgs) => {
      for (const m of msgs) {
        switch (m.kind) {
          case 'tick':
            if (m.ts > channel.consumedTs) channel.consumedTs = m.ts;
            manager.onTick(channel);
            break;
          case 'drop-collection':
            log.info({ msgId: m.position.msgId.toString() }, 'collection dropped: syncing its segments as dropped');
            channel.registry.collectionDropped = true;
            await dropSegments();
            break;
          case 'drop-partition':
            log.info({ msgId: m.position.msgId.toString(), partitionId: m.partitionId.toString() }, 'partition dropped: syncing its segments as dropped');
            channel.registry.dropPartition(m.partitionId);
            await dropSegments(m.partitionId);
            break;
          default:
            break;
        }
        channel.consumed = m.position;
        if (m.kind === 'tick') onTick(m.ts);
      }
      return [];
    },
  };
}
