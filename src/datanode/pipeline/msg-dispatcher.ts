/**
 * MsgDispatcher: reads each pchannel ONCE for all the vchannels of this node that live on it
 * (Milvus's msgdispatcher), and hands every vchannel its records.
 *
 * - Routing decodes only the `StreamMsgHeader` of a record (the body is skipped unparsed): a
 *   record naming a vchannel goes to that vchannel; a record without one goes to every vchannel of
 *   its collection, or to every vchannel on the pchannel when it names no collection (time ticks).
 *   A record whose header does not decode is skipped, logged and counted.
 * - Backpressure: after routing a batch, the reader awaits every target's push; a vchannel whose
 *   flowgraph is full therefore pauses the read of the whole pchannel (not only its own records).
 *   Pushes are split by payload bytes (`maxPushBytes`), so the batches queued in a flowgraph
 *   ahead of its memory reservation stay small whatever the log hands out at once.
 * - A vchannel that joins a pchannel already being read: if its seek position is still ahead of
 *   what the main reader has routed, it is simply added to the main reader, with a filter that
 *   drops the records before its seek position. If it is behind, it gets a reader of its own from
 *   its seek position (a catch-up reader); after each of its batches, that reader checks whether
 *   it has reached what the main reader has routed and, if so, moves the vchannel to the main
 *   reader with a filter "offsets after mine" and stops. Routing is decided synchronously per
 *   batch, so the hand-over loses and repeats nothing. A catch-up reader finding no main reader
 *   becomes the main one.
 * - A reader that fails (the log refused a seek, the broker is gone) fails every vchannel it
 *   feeds (their flowgraphs then fail and reach their owner).
 */
import { errors } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { StreamMsgHeader } from '../../gen/msg.js';
import type { ConsumedMessage, Consumer, MsgStream, Position } from '../../mq/msg-stream.js';
import type { DispatchedMsg } from './messages.js';
import type { DataPathMetrics } from './metrics.js';

/** Default of {@link MsgDispatcherOptions.maxPushBytes}: 2 MiB. */
export const DEFAULT_MAX_PUSH_BYTES = 2 * 1024 * 1024;

/** A vchannel fed by the dispatcher. */
export interface DispatchTarget {
  readonly vchannel: string;
  readonly collectionId: bigint;
  /** Hands the vchannel its records (in order); resolves once they are queued. A rejection removes the target. */
  push(batch: readonly DispatchedMsg[]): Promise<void>;
  /** The read of the pchannel failed: this vchannel cannot go on. */
  fail(error: unknown): void;
}

/** Options of {@link MsgDispatcher}. */
export interface MsgDispatcherOptions {
  stream: MsgStream;
  metrics: DataPathMetrics;
  logger?: Logger;
  /** Largest batch a reader takes from the log at once. Default: the stream's default. */
  maxBatchMessages?: number;
  /**
   * Largest batch handed to one flowgraph at once, in payload bytes (a batch holds at least one
   * record). What sits in a flowgraph's queues before its insert node reserves memory is bounded
   * by about 2 × queue capacity × this, per vchannel. Default {@link DEFAULT_MAX_PUSH_BYTES}.
   */
  maxPushBytes?: number;
}

/** What {@link MsgDispatcher.stats} reports per pchannel. */
export interface PchannelStats {
  pchannel: string;
  /** Readers (log consumers) open on it: 1 in the steady state, more while vchannels catch up. */
  readers: number;
  vchannels: string[];
}

interface Entry {
  target: DispatchTarget;
  /** Records at lower offsets are not for this target (before its seek, or already delivered). */
  fromMsgId: bigint;
}

interface Group {
  pchannel: string;
  main: Reader | undefined;
  readers: Set<Reader>;
}

/** One consumer of a pchannel and the targets it feeds. */
class Reader {
  readonly entries = new Map<string, Entry>();
  /** Offset of the last record whose routing is decided (seek offset − 1 before the first). */
  routedUpTo: bigint;
  private stopped = false;
  loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly dispatcher: MsgDispatcher,
    readonly group: Group,
    private readonly consumer: Consumer,
    firstMsgId: bigint,
  ) {
    this.routedUpTo = firstMsgId - 1n;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.group.readers.delete(this);
    if (this.group.main === this) this.group.main = undefined;
    await this.consumer.close();
  }

  private async run(): Promise<void> {
    try {
      for await (const batch of this.consumer) {
        if (this.stopped) break;
        await this.route(batch);
        if (this.stopped) break;
        if (this.group.main !== this) this.dispatcher.tryMerge(this);
        if (this.entries.size === 0) break;
      }
    } catch (err) {
      if (!this.stopped) this.dispatcher.readerFailed(this, err);
    } finally {
      await this.stop();
    }
  }

  private async route(batch: ConsumedMessage[]): Promise<void> {
    const { metrics, log, maxPushBytes } = this.dispatcher;
    /** Per target, its records in sub-batches of at most maxPushBytes of payload. */
    const out = new Map<Entry, { batches: DispatchedMsg[][]; bytes: number }>();
    const add = (e: Entry, m: DispatchedMsg): void => {
      let o = out.get(e);
      if (o === undefined) {
        o = { batches: [[]], bytes: 0 };
        out.set(e, o);
      }
      let current = o.batches[o.batches.length - 1]!;
      if (current.length > 0 && o.bytes + m.payload.byteLength > maxPushBytes) {
        current = [];
        o.batches.push(current);
        o.bytes = 0;
      }
      current.push(m);
      o.bytes += m.payload.byteLength;
    };
    for (const m of batch) {
      metrics.recordsRead++;
      let header: StreamMsgHeader;
      try {
        header = StreamMsgHeader.decode(m.payload);
      } catch (err) {
        metrics.undecodableRecords++;
        log.error({ err, pchannel: this.group.pchannel, msgId: m.position.msgId.toString() }, 'undecodable record header; record skipped');
        continue;
      }
      const msg: DispatchedMsg = { position: m.position, header, payload: m.payload };
      const offset = m.position.msgId;
      if (header.vchannel !== '') {
        const e = this.entries.get(header.vchannel);
        if (e !== undefined && offset >= e.fromMsgId) add(e, msg);
        continue;
      }
      for (const e of this.entries.values()) {
        if (offset < e.fromMsgId) continue;
        if (header.collectionId === 0n || header.collectionId === e.target.collectionId) add(e, msg);
      }
    }
    const last = batch[batch.length - 1];
    // Decided before the first await: a vchannel moved here later starts after this batch.
    if (last !== undefined) this.routedUpTo = last.position.msgId;
    await Promise.all(
      [...out].map(async ([e, o]) => {
        try {
          for (const msgs of o.batches) await e.target.push(msgs);
        } catch (err) {
          // The flowgraph stopped taking input (released, closed or failed): stop feeding it.
          if (this.entries.get(e.target.vchannel) === e) this.entries.delete(e.target.vchannel);
          log.debug({ err, vchannel: e.target.vchannel }, 'flowgraph refused records; detached from the pchannel');
        }
      }),
    );
  }
}

/** Reads pchannels once each and feeds the vchannels' flowgraphs. */
export class MsgDispatcher {
  /** @internal */
  readonly log: Logger;
  /** @internal */
  readonly metrics: DataPathMetrics;
  /** @internal */
  readonly maxPushBytes: number;
  private readonly stream: MsgStream;
  private readonly maxBatchMessages: number | undefined;
  private readonly groups = new Map<string, Group>();
  private closed = false;

  constructor(options: MsgDispatcherOptions) {
    this.stream = options.stream;
    this.metrics = options.metrics;
    this.maxBatchMessages = options.maxBatchMessages;
    this.maxPushBytes = options.maxPushBytes ?? DEFAULT_MAX_PUSH_BYTES;
    this.log = (options.logger ?? silentLogger).child({ component: 'msg-dispatcher' });
  }

  /**
   * Starts feeding `target` the records of `pchannel` from `seek` (inclusive). Throws the log's
   * errors (OFFSET_OUT_OF_RANGE when the seek position was deleted, NOT_FOUND for a missing
   * channel), CLOSED after close(), and INVALID_ARGUMENT when the vchannel is already fed.
   */
  async add(pchannel: string, target: DispatchTarget, seek: Position): Promise<void> {
    if (this.closed) throw errors.closed('message dispatcher');
    if (this.find(target.vchannel) !== undefined) throw errors.invalidArgument(`vchannel ${target.vchannel} is already dispatched`, { vchannel: target.vchannel });
    let group = this.groups.get(pchannel);
    if (group === undefined) {
      group = { pchannel, main: undefined, readers: new Set() };
      this.groups.set(pchannel, group);
    }
    const main = group.main;
    if (main !== undefined && seek.msgId > main.routedUpTo) {
      main.entries.set(target.vchannel, { target, fromMsgId: seek.msgId });
      return;
    }
    let consumer: Consumer;
    try {
      consumer = await this.stream.consume(pchannel, { kind: 'position', position: seek, inclusive: true }, this.maxBatchMessages === undefined ? undefined : { maxBatchMessages: this.maxBatchMessages });
    } catch (err) {
      if (group.readers.size === 0 && this.groups.get(pchannel) === group) this.groups.delete(pchannel);
      throw err;
    }
    const reader = new Reader(this, group, consumer, seek.msgId);
    reader.entries.set(target.vchannel, { target, fromMsgId: seek.msgId });
    group.readers.add(reader);
    if (group.main === undefined) group.main = reader;
    else this.log.info({ pchannel, vchannel: target.vchannel, seek: seek.msgId.toString() }, 'vchannel behind the pchannel reader; catching up on its own reader');
    reader.start();
  }

  /** Stops feeding a vchannel (closing a reader left without targets). Unknown vchannels are ignored. */
  async remove(vchannel: string): Promise<void> {
    const reader = this.find(vchannel);
    if (reader === undefined) return;
    reader.entries.delete(vchannel);
    if (reader.entries.size > 0) return;
    const group = reader.group;
    await reader.stop();
    if (group.main === undefined) {
      // Promote the most advanced catch-up reader; the others merge into it.
      let best: Reader | undefined;
      for (const r of group.readers) if (best === undefined || r.routedUpTo > best.routedUpTo) best = r;
      group.main = best;
    }
    if (group.readers.size === 0) this.groups.delete(group.pchannel);
  }

  /** Readers and vchannels per pchannel. */
  stats(): PchannelStats[] {
    return [...this.groups.values()].map((g) => ({
      pchannel: g.pchannel,
      readers: g.readers.size,
      vchannels: [...g.readers].flatMap((r) => [...r.entries.keys()]),
    }));
  }

  /** Stops every reader. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const readers = [...this.groups.values()].flatMap((g) => [...g.readers]);
    this.groups.clear();
    await Promise.all(readers.map((r) => r.stop()));
    await Promise.all(readers.map((r) => r.loop));
  }

  /** @internal A catch-up reader that reached the main reader hands its vchannels over. */
  tryMerge(reader: Reader): void {
    const group = reader.group;
    if (group.main === undefined) {
      group.main = reader;
      return;
    }
    const main = group.main;
    if (main.routedUpTo > reader.routedUpTo) return;
    for (const [vchannel, e] of reader.entries) {
      main.entries.set(vchannel, { target: e.target, fromMsgId: reader.routedUpTo + 1n });
      this.log.info({ pchannel: group.pchannel, vchannel, at: reader.routedUpTo.toString() }, 'vchannel caught up; merged into the pchannel reader');
    }
    reader.entries.clear();
  }

  /** @internal A reader's consumer failed: its vchannels cannot go on. */
  readerFailed(reader: Reader, err: unknown): void {
    this.log.error({ err, pchannel: reader.group.pchannel, vchannels: [...reader.entries.keys()] }, 'reading the pchannel failed');
    for (const e of reader.entries.values()) e.target.fail(err);
    reader.entries.clear();
  }

  private find(vchannel: string): Reader | undefined {
    for (const g of this.groups.values()) for (const r of g.readers) if (r.entries.has(vchannel)) return r;
    return undefined;
  }
}
