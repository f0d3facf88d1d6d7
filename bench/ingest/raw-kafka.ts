/**
 * Baseline (a): kafkajs consuming the benchmark's DML topics from their first offset to a fixed
 * end offset and doing nothing with the records but counting their bytes: one consumer per topic
 * (one partition each), each in a group of its own and never committing offsets, as the
 * DataNode's readers are; kafkajs's default fetch sizes unless given. The window starts at
 * `run()` (after connect), so it includes the group join, as the DataNode's time from its start does.
 */
import { Kafka, logLevel } from 'kafkajs';

/** Options of {@link consumeRaw}. */
export interface RawKafkaOptions {
  brokers: string[];
  /** topic → offset to read up to (exclusive: the high watermark taken after producing). */
  endOffsets: ReadonlyMap<string, bigint>;
  groupId: string;
  /** kafkajs `maxBytes` / `maxBytesPerPartition`; undefined: kafkajs's defaults (10 MiB / 1 MiB). */
  maxBytes?: number;
  maxBytesPerPartition?: number;
  /** Called once the consumer is connected, right before the measured window opens. */
  onStart?: () => void;
  /** Longest the read may take, ms. */
  timeoutMs: number;
}

/** What one raw read measured. */
export interface RawKafkaResult {
  elapsedMs: number;
  /** From run() to the first batch: group join and first fetch. */
  firstBatchMs: number;
  records: number;
  /** Bytes of record values (payloads). */
  valueBytes: number;
  /** Largest record value read, bytes. */
  maxValueBytes: number;
}

/** Reads every topic of `endOffsets` from offset 0 to its end offset; throws on timeout or a kafkajs error. */
export async function consumeRaw(options: RawKafkaOptions): Promise<RawKafkaResult> {
  const kafka = new Kafka({ brokers: options.brokers, clientId: 'tidal-bench-ingest-raw', logLevel: logLevel.NOTHING });
  const topics = [...options.endOffsets].filter(([, end]) => end > 0n);
  // One consumer (and group) per topic, as the DataNode has one reader per pchannel.
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
  const remaining = new Set(topics.map(([t]) => t));
  let records = 0;
  let valueBytes = 0;
  let maxValueBytes = 0;
  let firstBatchAt = 0;
  try {
    await Promise.all(consumers.map((c, i) => c.connect().then(() => c.subscribe({ topic: topics[i]![0], fromBeginning: true }))));
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
      consumers.map((c) =>
        c.run({
          // Doing nothing includes not committing offsets (the DataNode never commits either).
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (firstBatchAt === 0) firstBatchAt = performance.now();
            const end = options.endOffsets.get(batch.topic) ?? 0n;
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= end) continue;
              records++;
              const n = m.value?.length ?? 0;
              valueBytes += n;
              if (n > maxValueBytes) maxValueBytes = n;
            }
            if (BigInt(batch.lastOffset()) >= end - 1n && remaining.delete(batch.topic) && remaining.size === 0) finish();
          },
        }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        done,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error(`raw kafkajs read did not reach the end offsets within ${options.timeoutMs} ms (topics left: ${[...remaining].join(', ')})`)), options.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    const elapsedMs = performance.now() - started;
    return { elapsedMs, firstBatchMs: firstBatchAt - started, records, valueBytes, maxValueBytes };
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined))); // best-effort: the measurement is taken
    // The groups are this run's own: leave nothing behind on the broker.
    await admin
      .connect()
      .then(() => admin.deleteGroups(groups))
      .catch(() => undefined) // best-effort cleanup
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
