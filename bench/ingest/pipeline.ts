/**
 * Measurement (b): a real DataNode (`node bin/tidal.js datanode`, a child process) ingesting the
 * produced rows, from its start until every binlog is in S3 and every position is saved in etcd.
 *
 * - Start of the window: the DataNode prints its listening line (its session is registered). The
 *   master then assigns it the collection's vchannels and sends WatchDmChannels; the node seeks
 *   to the collection's start positions. So the window includes assignment, seek and the Kafka
 *   group join (the time from start to the node's "watching vchannel" log line is reported too).
 * - Right at the start the bench calls Flush on the master (again after each TIMEOUT): the
 *   master seals the segments and orders them flushed once the node's tick has passed their
 *   allocations, and Flush returns once they are Flushed (binlogs written, SaveBinlogPaths stored).
 * - End of the window: Flush has returned AND every vchannel's checkpoint in etcd
 *   (`channel/checkpoint/{vchannel}`, polled every `pollMs` once Flush has returned) is past the
 *   last Insert record of its pchannel (a checkpoint is the first message not yet durable).
 * - Checks after the window (the run fails if one does not hold): every segment is Flushed; their
 *   binlogs hold exactly the produced rows; every referenced insert and stats log is in S3 with
 *   its recorded size.
 * - Memory: VmRSS of the DataNode sampled every `rssSampleMs`, and its VmHWM (kernel peak) at the end.
 */
import { MsgPosition } from '../../src/gen/common.js';
import { SegmentState } from '../../src/gen/segment.js';
import type { EtcdKV } from '../../src/kv/etcd/etcd-kv.js';
import { MasterClient } from '../../src/proxy/master-client.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { ErrorCode, hasCode } from '../../src/common/errors.js';
import type { Produced } from './produce.js';
import { TidalProcess } from './tidal-process.js';

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  master: string;
  /** TIDAL_* variables of the DataNode. */
  env: Record<string, string>;
  produced: Produced;
  /** The metadata KV under the run's root path (channel checkpoints). */
  kv: EtcdKV;
  /** The object store the DataNode writes to (same bucket and root path). */
  store: ObjectStore;
  /** Node flags of the DataNode (e.g. `--cpu-prof`, `--cpu-prof-dir=DIR`). */
  nodeArgs?: readonly string[];
  pollMs: number;
  rssSampleMs: number;
  /** Longest the whole ingest may take, ms. */
  timeoutMs: number;
  /** Called with the DataNode's pid once it listens (the measured window opens). */
  onStart?: (pid: number) => void;
  /** Called when the window closes, before the checks. */
  onEnd?: () => void;
}

/** One sync's objects, as the DataNode wrote them (an insert log and its stats log). */
export type SyncGroup = number[];

/** What the pipeline run measured. */
export interface PipelineResult {
  elapsedMs: number;
  /** From the listening line to the first "watching vchannel" log line, ms. */
  watchLatencyMs: number | null;
  /** From the listening line to Flush returning, and to the last checkpoint past the data, ms. */
  flushReturnedMs: number;
  checkpointsMs: number;
  flushCalls: number;
  /** Sum of the segments' row counts (= produced rows, checked). */
  rows: number;
  segments: number;
  insertLogs: number;
  /** Bytes of every object the DataNode wrote (insert + stats + delta logs). */
  binlogBytes: number;
  insertLogBytes: number;
  /** Insert log sizes: smallest, median, largest. */
  insertLogSizes: { min: number; median: number; max: number };
  /** Object sizes per sync (for the raw S3 baseline). */
  groups: SyncGroup[];
  /** Kernel's peak RSS (VmHWM) of the DataNode, and the largest sampled VmRSS, bytes. */
  peakRssBytes: number;
  maxSampledRssBytes: number;
  rssSamples: number;
  /** RSS when the window opened (after start-up), bytes. */
  startRssBytes: number;
  /** Stop of the DataNode (SIGTERM) took, ms; its exit code. */
  stopMs: number;
  exit: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs the DataNode over the produced rows; throws when a check fails or `timeoutMs` passes. */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const { produced } = options;
  // Flush may wait up to 60 s on the master; the deadline leaves it that long.
  const admin = new MasterClient(options.master, { deadlineMs: 65_000 });
  let node: TidalProcess | undefined;
  try {
    node = await TidalProcess.spawn('datanode', options.env, { nodeArgs: options.nodeArgs, watchMessages: ['watching vchannel'] });
    const t0 = node.listeningAtMs;
    const started = performance.now() - (Date.now() - t0);
    options.onStart?.(node.pid);
    const startRssBytes = node.memory()?.rssBytes ?? 0;
    let maxSampledRssBytes = startRssBytes;
    let rssSamples = 0;
    const sampler = setInterval(() => {
      const m = node?.memory();
      if (m === undefined) return;
      rssSamples++;
      if (m.rssBytes > maxSampledRssBytes) maxSampledRssBytes = m.rssBytes;
    }, options.rssSampleMs);
    const deadline = Date.now() + options.timeoutMs;
    let flushCalls = 0;
    let flushReturnedAt = 0;
    let checkpointsAt = 0;
    try {
      const flush = (async () => {
        for (;;) {
          flushCalls++;
          try {
            await admin.call('flush', { collectionId: produced.collectionId });
            flushReturnedAt = performance.now();
            return;
          } catch (err) {
            // Flush waits at most 60 s on the master: ask again while the node is still catching up.
            if (!hasCode(err, ErrorCode.Timeout) || Date.now() > deadline || !node!.alive) throw err;
          }
        }
      })();
      // Polled only once Flush has returned (the flush syncs carry the checkpoints), so the bench
      // does not take CPU from the DataNode while it ingests.
      const checkpoints = async () => {
        const pending = new Set(produced.vchannels);
        while (pending.size > 0) {
          for (const [i, v] of produced.vchannels.entries()) {
            if (!pending.has(v)) continue;
            const kv = await options.kv.get(`channel/checkpoint/${v}`);
            if (kv === undefined) continue;
            const cp = MsgPosition.decode(kv.value);
            const last = produced.lastInsertOffset.get(produced.pchannels[i]!);
            if (last === undefined || cp.msgId > last) pending.delete(v);
          }
          if (pending.size === 0) break;
          if (Date.now() > deadline) throw new Error(`checkpoints of ${[...pending].join(', ')} did not pass the last Insert record within ${options.timeoutMs} ms`);
          if (!node!.alive) throw new Error(`the DataNode exited during the run:\n${node!.tail()}`);
          await sleep(options.pollMs);
        }
        checkpointsAt = performance.now();
      };
      await flush;
      await checkpoints();
    } finally {
      clearInterval(sampler);
    }
    const end = Math.max(flushReturnedAt, checkpointsAt);
    const peak = node.memory();
    options.onEnd?.();
    const watched = node.events.find((e) => e.entry.msg === 'watching vchannel');
    const watchTime = typeof watched?.entry.time === 'number' ? watched.entry.time : undefined;

    // ---- checks: every segment flushed, exactly the rows, every binlog in S3 ----
    const { segments } = await admin.call('showSegments', { collectionId: produced.collectionId, includeBinlogs: true });
    const notFlushed = segments.filter((s) => s.state !== SegmentState.Flushed);
    if (notFlushed.length > 0) throw new Error(`segments not Flushed after Flush returned: ${notFlushed.map((s) => `${s.segmentId} (${SegmentState[s.state]})`).join(', ')}`);
    const rows = segments.reduce((a, s) => a + Number(s.numRows), 0);
    if (rows !== produced.rows) throw new Error(`the flushed segments hold ${rows} rows, ${produced.rows} were produced`);
    const inStore = new Map<string, number>();
    for await (const o of options.store.listAll('')) inStore.set(o.key, o.size);
    const groups: SyncGroup[] = [];
    const insertSizes: number[] = [];
    let binlogBytes = 0;
    let insertLogBytes = 0;
    for (const s of segments) {
      const logRows = s.insertLogs.reduce((a, l) => a + Number(l.entriesNum), 0);
      if (BigInt(logRows) !== s.numRows) throw new Error(`segment ${s.segmentId}: its insert logs hold ${logRows} rows, its row count is ${s.numRows}`);
      const byLogId = new Map<bigint, number[]>();
      for (const log of [...s.insertLogs, ...s.statsLogs, ...s.deltaLogs]) {
        const size = inStore.get(log.logPath);
        if (size === undefined) throw new Error(`binlog ${log.logPath} is referenced by segment ${s.segmentId} but not in S3`);
        if (BigInt(size) !== log.logSize) throw new Error(`binlog ${log.logPath} is ${size} bytes in S3, ${log.logSize} in meta`);
        byLogId.set(log.logId, [...(byLogId.get(log.logId) ?? []), size]);
        binlogBytes += size;
      }
      for (const log of s.insertLogs) {
        insertSizes.push(Number(log.logSize));
        insertLogBytes += Number(log.logSize);
      }
      groups.push(...byLogId.values());
    }
    insertSizes.sort((a, b) => a - b);
    const stopStarted = performance.now();
    await node.stop();
    const stopMs = performance.now() - stopStarted;
    return {
      elapsedMs: end - started,
      watchLatencyMs: watchTime === undefined ? null : watchTime - t0,
      flushReturnedMs: flushReturnedAt - started,
      checkpointsMs: checkpointsAt - started,
      flushCalls,
      rows,
      segments: segments.length,
      insertLogs: insertSizes.length,
      binlogBytes,
      insertLogBytes,
      insertLogSizes: { min: insertSizes[0] ?? 0, median: insertSizes[insertSizes.length >> 1] ?? 0, max: insertSizes[insertSizes.length - 1] ?? 0 },
      groups,
      peakRssBytes: peak?.hwmBytes ?? maxSampledRssBytes,
      maxSampledRssBytes,
      rssSamples,
      startRssBytes,
      stopMs,
      exit: JSON.stringify(node.exitStatus ?? null),
    };
  } finally {
    await node?.kill();
    admin.close();
  }
}
