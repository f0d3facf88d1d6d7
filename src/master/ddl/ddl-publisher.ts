/**
 * DdlPublisher: puts one DDL on the channels (msg.proto framing). The DD channel gets one
 * `StreamMsg` about the whole collection (vchannel empty, collection_id set); each of the
 * collection's DML pchannels gets one `StreamMsg` per vchannel it holds (vchannel set), so every
 * flowgraph sees the DDL in order with its rows and each vchannel has its own position. Every
 * message is stamped with the task's timestamp (MsgBase.timestamp and the record's timestamp).
 */
import { TidalError } from '../../common/errors.js';
import { MsgType, type MsgBase } from '../../gen/common.js';
import { StreamMsg } from '../../gen/msg.js';
import type { MsgStream, Position } from '../../mq/msg-stream.js';
import { pchannelOf } from '../channels/channel-names.js';

/** The DDL bodies of the StreamMsg envelope. */
export type DdlBody = Extract<
  NonNullable<StreamMsg['body']>,
  { $case: 'createCollection' | 'dropCollection' | 'createPartition' | 'dropPartition' | 'createIndex' }
>;

const MSG_TYPE: Record<DdlBody['$case'], MsgType> = {
  createCollection: MsgType.CreateCollection,
  dropCollection: MsgType.DropCollection,
  createPartition: MsgType.CreatePartition,
  dropPartition: MsgType.DropPartition,
  createIndex: MsgType.CreateIndex,
};

/** The msg type of a DDL body's case. */
export function ddlMsgType(kind: DdlBody['$case']): MsgType {
  return MSG_TYPE[kind];
}

/** The header a DDL message carries: msg type, the task's timestamp, this master's id. */
export function ddlBase(kind: DdlBody['$case'], ts: bigint, sourceId: bigint): MsgBase {
  return { msgType: MSG_TYPE[kind], msgId: 0n, timestamp: ts, sourceId, targetId: 0n };
}

/** Where one DDL landed. */
export interface PublishedDdl {
  /** Its position on the DD channel. */
  dd: Position;
  /** Its position for each vchannel, in the order given (on the vchannel's pchannel). */
  vchannels: Position[];
}

/** Options of {@link DdlPublisher}. */
export interface DdlPublisherOptions {
  stream: MsgStream;
  /** The DD channel, `{prefix}-dd`. */
  ddChannel: string;
}

/** Publishes DDL messages. Throws the stream's TidalError, prefixed with what was being published. */
export class DdlPublisher {
  private readonly stream: MsgStream;
  readonly ddChannel: string;

  constructor(options: DdlPublisherOptions) {
    this.stream = options.stream;
    this.ddChannel = options.ddChannel;
  }

  /**
   * Publishes `body` (whose base.timestamp is `ts`) about collection `collectionId`: first on the
   * DD channel, then on the pchannel of each of `vchannels`. A failure on the DD channel publishes
   * nothing else; a failure on a DML pchannel may leave the message on the others (their consumers
   * tolerate a DDL the meta table does not confirm).
   */
  async publish(what: string, body: DdlBody, collectionId: bigint, vchannels: readonly string[], ts: bigint): Promise<PublishedDdl> {
    const msgType = MSG_TYPE[body.$case];
    const encode = (vchannel: string) => Buffer.from(StreamMsg.encode({ msgType, vchannel, collectionId, body }).finish());
    const [dd] = await this.produce(what, this.ddChannel, [{ payload: encode(''), timestamp: ts }]);

    // One produce call per pchannel, so its vchannels' messages are contiguous there.
    const byPchannel = new Map<string, number[]>();
    vchannels.forEach((v, i) => {
      const p = pchannelOf(v);
      byPchannel.set(p, [...(byPchannel.get(p) ?? []), i]);
    });
    const positions: Position[] = new Array<Position>(vchannels.length);
    const results = await Promise.allSettled(
      [...byPchannel].map(async ([pchannel, indexes]) => {
        const got = await this.produce(
          what,
          pchannel,
          indexes.map((i) => ({ payload: encode(vchannels[i] as string), timestamp: ts })),
        );
        indexes.forEach((i, k) => (positions[i] = got[k] as Position));
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return { dd: dd as Position, vchannels: positions };
  }

  private async produce(what: string, channel: string, messages: { payload: Buffer; timestamp: bigint }[]): Promise<Position[]> {
    try {
      return await this.stream.produce(channel, messages);
    } catch (err) {
      const code = err instanceof TidalError ? err.code : 'BACKEND_UNAVAILABLE';
      const retriable = err instanceof TidalError ? err.retriable : true;
      const reason = err instanceof Error ? err.message : String(err);
      throw new TidalError(code, `cannot publish ${what} on channel ${channel}: ${reason}`, {
        cause: err,
        retriable,
        context: { channel },
      });
    }
  }
}
