/**
 * An in-process master for proxy unit tests: MasterServer on MemoryKV + a MemoryMsgStream (with a
 * chosen max message size), on 127.0.0.1 port 0, two DML channels, no master time ticks during a
 * test (so channel offsets move only with what the proxy writes); helpers to
 * create collections and read back what the proxy wrote.
 */
import { loadConfig, type TidalConfigInput } from '../../../src/common/config.js';
import { silentLogger } from '../../../src/common/log.js';
import { MsgType } from '../../../src/gen/common.js';
import { StreamMsg, type DeleteMsg, type InsertMsg } from '../../../src/gen/msg.js';
import { DataType, type FieldSchema } from '../../../src/gen/schema.js';
import { MemoryKV } from '../../../src/kv/embedded/memory-kv.js';
import { MasterServer } from '../../../src/master/server.js';
import { MemoryMsgStream, type MsgStream } from '../../../src/mq/index.js';
import { MasterClient } from '../../../src/proxy/master-client.js';
export { readAll } from '../../helpers/read-all.js';
import { readAll } from '../../helpers/read-all.js';

/** A running master and what tests need around it. */
export interface TestMaster {
  server: MasterServer;
  stream: MemoryMsgStream;
  client: MasterClient;
  address: string;
  dmlChannels: string[];
  close(): Promise<void>;
}

let n = 0;

/** Starts a leader master on MemoryKV and a MemoryMsgStream. */
export async function startTestMaster(options: { maxMessageBytes?: number; overrides?: TidalConfigInput } = {}): Promise<TestMaster> {
  const prefix = `proxy-ut-${process.pid}-${++n}`;
  const config = loadConfig({
    env: {},
    overrides: {
      master: { host: '127.0.0.1', port: 0, dmlChannelNum: 2, channelPrefix: prefix, timeTickIntervalMs: 3_600_000, sessionTtlMs: 2_000, ...options.overrides?.master },
      log: { level: 'silent' },
    },
  });
  const kv = new MemoryKV();
  const stream = new MemoryMsgStream({ maxMessageBytes: options.maxMessageBytes });
  const server = await MasterServer.start({ config, logger: silentLogger, kv, stream });
  await server.waitUntilLeader(10_000);
  const address = `127.0.0.1:${server.port}`;
  const client = new MasterClient(address, { deadlineMs: 10_000 });
  let closed = false;
  return {
    server,
    stream,
    client,
    address,
    dmlChannels: [0, 1].map((i) => `${prefix}-dml_${i}`),
    async close() {
      if (closed) return;
      closed = true;
      client.close();
      await server.close();
      await stream.close();
      await kv.close();
    },
  };
}

/** A field with defaults for everything not given. */
export function field(f: Partial<FieldSchema> & Pick<FieldSchema, 'name' | 'dataType'>): FieldSchema {
  return { fieldId: 0n, isPrimaryKey: false, description: '', dim: 0, maxLength: 0, autoId: false, nullable: false, ...f };
}

/** Creates a collection `name` (pk Int64 `id`, FloatVector `vec` of `dim`, optional extra fields). */
export async function createCollection(
  master: TestMaster,
  name: string,
  options: { dim?: number; shards?: number; fields?: FieldSchema[]; pk?: Partial<FieldSchema> } = {},
): Promise<void> {
  const fields = options.fields ?? [
    field({ name: 'id', dataType: DataType.Int64, isPrimaryKey: true, ...options.pk }),
    field({ name: 'vec', dataType: DataType.FloatVector, dim: options.dim ?? 8 }),
  ];
  await master.client.call('createCollection', {
    collectionName: name,
    schema: { name, description: '', autoId: false, fields, version: 0 },
    shardsNum: options.shards ?? 2,
  });
}


/** Decoded Insert records of `channels` (with the pchannel and record size of each). */
export async function insertsOn(stream: MsgStream, channels: readonly string[]): Promise<{ pchannel: string; bytes: number; header: StreamMsg; msg: InsertMsg }[]> {
  const out: { pchannel: string; bytes: number; header: StreamMsg; msg: InsertMsg }[] = [];
  for (const ch of channels) {
    for (const rec of await readAll(stream, ch)) {
      const m = StreamMsg.decode(rec.payload);
      if (m.body?.$case === 'insert') out.push({ pchannel: ch, bytes: rec.payload.length, header: m, msg: m.body.value });
    }
  }
  return out;
}

/** Decoded Delete records of `channels`. */
export async function deletesOn(stream: MsgStream, channels: readonly string[]): Promise<{ pchannel: string; header: StreamMsg; msg: DeleteMsg }[]> {
  const out: { pchannel: string; header: StreamMsg; msg: DeleteMsg }[] = [];
  for (const ch of channels) {
    for (const rec of await readAll(stream, ch)) {
      const m = StreamMsg.decode(rec.payload);
      if (m.body?.$case === 'delete') out.push({ pchannel: ch, header: m, msg: m.body.value });
    }
  }
  return out;
}

/** Next offsets of the channels (to check that nothing was written). */
export async function offsetsOf(stream: MsgStream, channels: readonly string[]): Promise<bigint[]> {
  return Promise.all(channels.map(async (c) => (await stream.offsets(c)).latest));
}

/** Number of DML records of a kind on the channels. */
export async function countOf(stream: MsgStream, channels: readonly string[], type: MsgType): Promise<number> {
  let count = 0;
  for (const ch of channels) for (const rec of await readAll(stream, ch)) if (StreamMsg.decode(rec.payload).msgType === type) count++;
  return count;
}
