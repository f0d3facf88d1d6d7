/**
 * A second process on a persistent embedded log, for test/unit/mq/lmdb-log-processes.test.ts.
 * Run with `node --import tsx test/unit/mq/lmdb-log-child.ts <mode> <dir> <channel> <args...>`.
 * Writes one JSON line per resolved produce call to stdout: `{"call": n, "msgIds": ["..."]}`.
 *
 * Modes:
 * - `produce-then-kill <calls> <perCall>`: produces, then SIGKILLs itself right after the last
 *   call resolved (nothing closed, nothing flushed by an orderly exit).
 * - `produce-until-killed <perCall>`: produces forever; the parent kills it at some point.
 * - `produce <calls> <perCall> <tag> [padBytes] [startFile]`: produces and exits cleanly. Payload of
 *   record i of call c is `${tag}:${c}:${i}|` then padBytes bytes. With startFile, it prints
 *   `{"ready": true}` and waits for that file to exist before producing (a start line for several
 *   children).
 * - `delete`: deletes the channel and exits.
 */
import { existsSync, writeSync } from 'node:fs';
import { LmdbMsgStream } from '../../../src/mq/index.js';

const [mode, dir, channelArg, ...rest] = process.argv.slice(2);
if (mode === undefined || dir === undefined || channelArg === undefined) throw new Error('usage: lmdb-log-child.ts <mode> <dir> <channel> <args...>');
const channel: string = channelArg;

const stream = new LmdbMsgStream({ dir });
if (mode !== 'delete') await stream.createChannel(channel);

function payloadOf(tag: string, call: number, index: number, padBytes: number): Buffer {
  return Buffer.concat([Buffer.from(`${tag}:${call}:${index}|`), Buffer.alloc(padBytes, (call + index) % 251)]);
}

async function produceCall(tag: string, call: number, perCall: number, padBytes: number): Promise<void> {
  const messages = Array.from({ length: perCall }, (_, i) => ({ payload: payloadOf(tag, call, i, padBytes), timestamp: BigInt(call * 1000 + i) }));
  const positions = await stream.produce(channel, messages);
  // Synchronous: the line is out before anything else happens (a kill follows at once).
  writeSync(1, `${JSON.stringify({ call, msgIds: positions.map((p) => p.msgId.toString()) })}\n`);
}

switch (mode) {
  case 'produce-then-kill': {
    const [calls, perCall] = rest.map(Number) as [number, number];
    for (let c = 0; c < calls; c++) await produceCall('k', c, perCall, 64 * 1024);
    process.kill(process.pid, 'SIGKILL');
    break;
  }
  case 'produce-until-killed': {
    const [perCall] = rest.map(Number) as [number];
    for (let c = 0; ; c++) await produceCall('u', c, perCall, 200 * 1024);
  }
  case 'produce': {
    const [calls, perCall, tag, padBytes, startFile] = [Number(rest[0]), Number(rest[1]), String(rest[2]), Number(rest[3] ?? 0), rest[4]];
    if (startFile !== undefined) {
      writeSync(1, `${JSON.stringify({ ready: true })}\n`);
      while (!existsSync(startFile)) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (let c = 0; c < calls; c++) await produceCall(tag, c, perCall, padBytes);
    await stream.close();
    break;
  }
  case 'delete':
    await stream.deleteChannel(channel);
    await stream.close();
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
