import type { ConsumedMessage, MsgStream } from '../../src/mq/msg-stream.js';

/** Every record of a channel, in offset order (reads from earliest up to the current high watermark). */
export async function readAll(stream: MsgStream, channel: string): Promise<ConsumedMessage[]> {
  const { latest } = await stream.offsets(channel);
  if (latest === 0n) return [];
  const consumer = await stream.consume(channel, { kind: 'earliest' });
  const out: ConsumedMessage[] = [];
  try {
    for await (const batch of consumer) {
      out.push(...batch);
      if (out[out.length - 1]!.position.msgId >= latest - 1n) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}
