/**
 * MemoryLogStore: a LogStore in process memory, for standalone mode without persistence and for
 * tests. Each channel is an array of records plus the offset of its first element.
 */
import { errors } from '../../common/errors.js';
import type { ChannelOffsets } from '../msg-stream.js';
import { checkInRange } from '../seek.js';
import { recordBytes, type LogStore, type StoredRecord } from './log-store.js';

interface ChannelLog {
  /** Offset of records[0]: the low watermark. */
  base: bigint;
  records: StoredRecord[];
}

/** A LogStore that keeps every channel in memory. */
export class MemoryLogStore implements LogStore {
  private readonly channels = new Map<string, ChannelLog>();

  async createChannel(channel: string): Promise<boolean> {
    if (this.channels.has(channel)) return false;
    this.channels.set(channel, { base: 0n, records: [] });
    return true;
  }

  async deleteChannel(channel: string): Promise<boolean> {
    return this.channels.delete(channel);
  }

  async hasChannel(channel: string): Promise<boolean> {
    return this.channels.has(channel);
  }

  async append(channel: string, records: readonly StoredRecord[]): Promise<bigint> {
    const log = this.get(channel);
    const first = log.base + BigInt(log.records.length);
    // Copies: the log keeps what was appended even if the caller reuses its buffers.
    for (const r of records) {
      const copy: StoredRecord = { payload: Buffer.from(r.payload), timestamp: r.timestamp };
      if (r.key !== undefined) copy.key = Buffer.from(r.key);
      log.records.push(copy);
    }
    return first;
  }

  async read(channel: string, from: bigint, maxRecords: number, maxBytes: number): Promise<StoredRecord[]> {
    const log = this.get(channel);
    checkInRange(channel, from, offsetsOf(log));
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (let i = Number(from - log.base); i < log.records.length && out.length < maxRecords && (out.length === 0 || bytes < maxBytes); i++) {
      const record = log.records[i] as StoredRecord;
      out.push(record);
      bytes += recordBytes(record);
    }
    return out;
  }

  async offsets(channel: string): Promise<ChannelOffsets> {
    return offsetsOf(this.get(channel));
  }

  async truncateBefore(channel: string, offset: bigint): Promise<bigint> {
    const log = this.get(channel);
    const { earliest, latest } = offsetsOf(log);
    if (offset > latest) {
      throw errors.invalidArgument(`cannot delete records before ${offset}: channel ${channel} ends at ${latest}`, { channel });
    }
    if (offset <= earliest) return earliest;
    log.records.splice(0, Number(offset - log.base));
    log.base = offset;
    return offset;
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  private get(channel: string): ChannelLog {
    const log = this.channels.get(channel);
    if (log === undefined) throw errors.notFound(`channel ${channel} does not exist`, { channel });
    return log;
  }
}

function offsetsOf(log: ChannelLog): ChannelOffsets {
  return { earliest: log.base, latest: log.base + BigInt(log.records.length) };
}
