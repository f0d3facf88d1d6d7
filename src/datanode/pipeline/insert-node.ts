/**
 * The insert buffer node: appends the rows of each Insert message to its segment's buffer (the
 * decoded Arrow batch and the timestamp / row-id views, as they are: no per-row objects).
 *
 * Before appending it reserves the message's bytes from the node-wide memory budget; at the bound
 * it waits (the flowgraph's queues fill, the dispatcher stops reading the pchannel) until syncs
 * release memory. Sync triggers are evaluated after the delete node, where every earlier message
 * is applied by both buffer nodes.
 *
 * Insert messages leave this node as `skip` markers (their rows are in the buffer now); the rest
 * passes on unchanged.
 *
 * Failpoint (src/common/failpoint.ts): `datanode.insert.buffered`, after each Insert message is
 * appended (rows buffered, nothing synced yet).
 */
import type { Node } from '../../../flowgraph/index.js';
import { failpoint, failpointsActive } from '../../common/failpoint.js';
import type { WriteBufferManager } from '../writebuffer/buffer-manager.js';
import type { ChannelWriteBuffer } from '../writebuffer/channel-buffer.js';
import type { FlowMsg } from './messages.js';
import type { DataPathMetrics } from './metrics.js';

/** Options of {@link createInsertNode}. */
export interface InsertNodeOptions {
  channel: ChannelWriteBuffer;
  manager: WriteBufferManager;
  metrics: DataPathMetrics;
}

/** The insert buffer node of one vchannel's flowgraph. */
export function createInsertNode(options: InsertNodeOptions): Node<FlowMsg, FlowMsg> {
  const { channel, manager, metrics } = options;
  return {
    name: 'insert-buffer',
    operate: async (msgs, ctx) => {
      const out: FlowMsg[] = new Array<FlowMsg>(msgs.length);
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]!;
        if (m.kind !== 'insert') {
          out[i] = m;
          continue;
        }
        await manager.reserve(m.bytes, ctx.signal);
        channel.appendInsert(m);
        metrics.insertMessages++;
        metrics.insertRows += m.batch.numRows;
        if (failpointsActive) await failpoint('datanode.insert.buffered');
        out[i] = { kind: 'skip', position: m.position };
      }
      return out;
    },
  };
}
