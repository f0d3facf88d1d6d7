/**
 * The write side of the DataNode fault tests, without the proxy library: Insert messages shaped as
 * the proxy sends them (segment from AssignSegmentID, timestamp from AllocTimestamp), produced onto
 * the Kafka pchannels. A row counts as acknowledged once its produce resolved; {@link
 * Workload.verify} reads the binlogs that the master's meta references and checks that they hold
 * every acknowledged row exactly once, with its timestamp and vector bytes.
 */
import { tableFromIPC } from 'apache-arrow';
import { expect } from 'vitest';
import { pchannelOf } from '../../src/datanode/pipeline/messages.js';
import { SegmentState, type SegmentInfo } from '../../src/gen/segment.js';
import type { KafkaMsgStream } from '../../src/mq/index.js';
import type { MasterClient } from '../../src/proxy/master-client.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { DIM, insertArrowBatch, insertPayload, testSchema, vectorOf } from '../unit/datanode/helpers.js';

/** The rows of an Insert message, built ahead. */
export interface PreparedRows {
  pks: bigint[];
  arrowBatch: Uint8Array;
}

/** A collection being written to, and what was acknowledged. */
export class Workload {
  /** pk → timestamp of every acknowledged row. */
  readonly acked = new Map<bigint, bigint>();
  /** Rows acknowledged, counting rows sent more than once (see {@link send}) each time. */
  ackedRows = 0;
  private nextPk = 1n;
  private message = 0;

  private constructor(
    private readonly master: MasterClient,
    private readonly producer: KafkaMsgStream,
    readonly collectionId: bigint,
    readonly vchannels: string[],
    private readonly schema = testSchema(),
  ) {}

  /** Creates a collection `name` with `shards` vchannels. */
  static async create(master: MasterClient, producer: KafkaMsgStream, name: string, shards: number): Promise<Workload> {
    const schema = testSchema(name);
    const created = await master.call('createCollection', { collectionName: name, schema, shardsNum: shards });
    return new Workload(master, producer, created.collectionId, created.vchannels, schema);
  }

  /** Produces one Insert message of `rows` rows on the next vchannel (round robin). */
  async insert(rows: number): Promise<void> {
    await this.send(this.prepare(rows));
  }

  /**
   * Builds the rows of one Insert message ahead (their Arrow batch: the CPU-heavy part). Send it
   * with {@link send}, which assigns its segment and timestamp right before producing it, as the
   * proxy does (a message must reach the log before its segment allocation expires).
   */
  prepare(rows: number): PreparedRows {
    const pks = Array.from({ length: rows }, () => this.nextPk++);
    return { pks, arrowBatch: insertArrowBatch(this.schema, pks) };
  }

  /**
   * Sends prepared rows on the next vchannel; they count as acknowledged once the produce resolved.
   * Rows sent twice are two rows for the log (only {@link verify} expects each pk once).
   */
  async send(p: PreparedRows): Promise<void> {
    const vchannel = this.vchannels[this.message++ % this.vchannels.length]!;
    const a = (await this.master.call('assignSegmentId', { segmentIdRequests: [{ count: p.pks.length, channelName: vchannel, collectionId: this.collectionId }] })).segIdAssignments[0]!;
    const ts = (await this.master.call('allocTimestamp', { count: 1 })).timestamp;
    const msg = insertPayload({ schema: this.schema, collectionId: this.collectionId, partitionId: a.partitionId, segmentId: a.segmentId, vchannel, pks: p.pks, ts, arrowBatch: p.arrowBatch });
    await this.producer.produce(pchannelOf(vchannel)!, [msg]);
    for (const pk of p.pks) this.acked.set(pk, ts);
    this.ackedRows += p.pks.length;
  }

  /** Calls Flush until it answers OK (a Flush can time out while no DataNode owns a vchannel). */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.master.call('flush', { collectionId: this.collectionId });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Segments of the collection with their binlogs. */
  async segments(): Promise<SegmentInfo[]> {
    return (await this.master.call('showSegments', { collectionId: this.collectionId, includeBinlogs: true })).segments;
  }

  /**
   * Reads every insert log the meta references and checks: each acknowledged row exactly once
   * (pk, timestamp, vector bytes), nothing else, and each segment's row count equal to its rows.
   * Returns the number of insert logs read.
   */
  async verify(store: ObjectStore): Promise<{ insertLogs: number; segments: number }> {
    const seen = new Set<bigint>();
    const dup: bigint[] = [];
    const wrong: string[] = [];
    let insertLogs = 0;
    const segments = await this.segments();
    for (const s of segments) {
      if (s.state === SegmentState.Dropped) continue;
      let rows = 0;
      for (const log of s.insertLogs) {
        insertLogs++;
        const t = tableFromIPC(await store.get(log.logPath));
        const pks = t.getChild('pk')!.toArray() as BigInt64Array;
        const ts = t.getChild('Timestamp')!.toArray() as BigUint64Array;
        const vec = t.getChild('vec')!;
        rows += t.numRows;
        for (let r = 0; r < t.numRows; r++) {
          const pk = pks[r]!;
          if (seen.has(pk)) dup.push(pk);
          seen.add(pk);
          if (this.acked.get(pk) !== ts[r]) wrong.push(`pk ${pk}: ts ${ts[r]}, acknowledged ${this.acked.get(pk)}`);
          const v = Float32Array.from((vec.get(r) as { toArray(): Float32Array }).toArray());
          if (v.length !== DIM || !Buffer.from(v.buffer).equals(Buffer.from(vectorOf(pk).buffer))) wrong.push(`pk ${pk}: vector differs`);
        }
      }
      expect({ segment: s.segmentId, numRows: s.numRows }).toEqual({ segment: s.segmentId, numRows: BigInt(rows) });
    }
    const missing = [...this.acked.keys()].filter((pk) => !seen.has(pk));
    expect({ duplicates: dup.slice(0, 20), missing: missing.slice(0, 20), wrong: wrong.slice(0, 20) }).toEqual({ duplicates: [], missing: [], wrong: [] });
    expect(seen.size).toBe(this.acked.size);
    return { insertLogs, segments: segments.length };
  }
}
