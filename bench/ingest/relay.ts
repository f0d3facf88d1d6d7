/**
 * Measurement (d): the ideal relay, a DataNode that does no work of its own. kafkajs consumes the
 * benchmark's DML topics as in (a) (one consumer and group per topic, default fetch sizes, no
 * commits) and the record values are written, untouched, as S3 objects of `objectBytes` with
 * PutObject and the DataNode's request settings (raw-s3.ts `datanode`), at most `concurrency` puts
 * in flight: while every slot is taken the consumer's eachBatch waits, which pauses its fetches
 * (the DataNode's memory bound does the same). One Node process, one thread, like the DataNode.
 * The values are streamed as they are, as the DataNode streams its insert logs' pieces: joining
 * them into one buffer per object first was measured slower (140–184 against 188–219 MiB/s, and
 * 0.4–1 CPU-s more per 500 MiB).
 *
 * No decoding, no Arrow, no stats, no positions in etcd: what is left is the cost of the two I/O
 * ends on this machine. On a machine where the servers share the cores with the relay, (d) is the
 * most any DataNode could reach, and b / d says how much of it the DataNode's own work costs.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { Readable } from 'node:stream';
import type { S3Endpoint } from '../../test/harness/endpoints.js';
import { rawS3Client } from './raw-s3.js';

/** Options of {@link relay}. */
export interface RelayOptions {
  brokers: string[];
  /** topic → offset to read up to (exclusive). */
  endOffsets: ReadonlyMap<string, bigint>;
  groupId: string;
  s3: S3Endpoint;
  bucket: string;
  /** Key prefix of the objects (deleted by the caller). */
  prefix: string;
  /** Bytes per object: a topic's values are cut into objects of at least this size (the last may be smaller). */
  objectBytes: number;
  /** Puts in flight at once (the DataNode's sync slots). */
  concurrency: number;
  /** kafkajs `maxBytes` / `maxBytesPerPartition`; undefined: kafkajs's defaults (10 MiB / 1 MiB), as in (a). */
  maxBytes?: number;
  maxBytesPerPartition?: number;
  /** Called once the consumers are connected, right before the measured window opens. */
  onStart?: () => void;
  timeoutMs: number;
}

/** What the relay measured. */
export interface RelayResult {
  elapsedMs: number;
  records: number;
  valueBytes: number;
  objects: number;
}

/** Counting semaphore: `take` waits while `limit` holders have not given back. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async take(): Promise<void> {
    if (this.used < this.limit) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.used--;
  }
}

/** Relays every topic of `endOffsets` from offset 0 to its end offset into S3; throws on timeout or the first failed put. */
export async function relay(options: RelayOptions): Promise<RelayResult> {
  const kafka = new Kafka({ brokers: options.brokers, clientId: 'tidal-bench-ingest-relay', logLevel: logLevel.NOTHING });
  const client = rawS3Client(options.s3, 'datanode');
  const topics = [...options.endOffsets].filter(([, end]) => end > 0n);
  const groups = topics.map(([t]) => `${options.groupId}-${t}`);
  const consumers = groups.map((groupId) =>
    kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      ...(options.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: options.maxBytesPerPartition }),
    }),
  );
  const admin = kafka.admin();
  const slots = new Slots(Math.max(1, options.concurrency));
  const puts: Promise<void>[] = [];
  let failed: unknown;
  let records = 0;
  let valueBytes = 0;
  let objects = 0;

  /** Starts one put of `pieces` once a slot is free; resolves when it has started. */
  const put = async (key: string, pieces: Buffer[], bytes: number): Promise<void> => {
    await slots.take();
    if (failed !== undefined) {
      slots.give();
      throw failed;
    }
    const done = client
      .send(new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: Readable.from(pieces, { objectMode: false }), ContentLength: bytes }))
      .then(() => {
        objects++;
      })
      .catch((err: unknown) => {
        failed ??= err;
      })
      .finally(() => slots.give());
    puts.push(done);
  };

  try {
    await Promise.all(consumers.map((c, i) => c.connect().then(() => c.subscribe({ topic: topics[i]![0], fromBeginning: true }))));
    const remaining = new Set(topics.map(([t]) => t));
    let finish!: () => void;
    let fail!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      finish = res;
      fail = rej;
    });
    if (remaining.size === 0) finish();
    for (const c of consumers) c.on(c.events.CRASH, (e) => fail(e.payload.error));
    options.onStart?.();
    const started = performance.now();
    await Promise.all(
      consumers.map((c, i) => {
        const topic = topics[i]![0];
        const end = topics[i]![1];
        let pieces: Buffer[] = [];
        let bytes = 0;
        let n = 0;
        const cut = () => {
          const p = put(`${options.prefix}/${topic}/${n++}`, pieces, bytes);
          pieces = [];
          bytes = 0;
          return p;
        };
        return c.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= end || m.value === null) continue;
              records++;
              valueBytes += m.value.length;
              pieces.push(m.value);
              bytes += m.value.length;
              if (bytes >= options.objectBytes) await cut();
            }
            if (BigInt(batch.lastOffset()) >= end - 1n && remaining.has(topic)) {
              if (bytes > 0) await cut();
              remaining.delete(topic);
              if (remaining.size === 0) finish();
            }
          },
        });
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        done,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error(`relay did not reach the end offsets within ${options.timeoutMs} ms (topics left: ${[...remaining].join(', ')})`)), options.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    await Promise.all(puts);
    if (failed !== undefined) throw failed;
    return { elapsedMs: performance.now() - started, records, valueBytes, objects };
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined))); // best-effort: the measurement is taken
    client.destroy();
    await admin
      .connect()
      .then(() => admin.deleteGroups(groups))
      .catch(() => undefined) // best-effort cleanup
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
