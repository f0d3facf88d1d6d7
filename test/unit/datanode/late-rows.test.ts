/**
 * Rows the dd node skips on recovery: a replay (a message at or below its segment's flushed
 * position, rows in the binlogs) is only counted; a late message (past the flushed position of a
 * flushed or dropped segment, rows in no binlog) is counted apart and warned about once per
 * (segment, message), at most so many warnings per window.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/common/log.js';
import { createDdNode } from '../../../src/datanode/pipeline/dd-node.js';
import { LateRowsLog } from '../../../src/datanode/pipeline/late-rows-log.js';
import type { DispatchedMsg, FlowMsg } from '../../../src/datanode/pipeline/messages.js';
import { DataPathMetrics } from '../../../src/datanode/pipeline/metrics.js';
import { SegmentRegistry } from '../../../src/datanode/writebuffer/segment-registry.js';
import { MsgType } from '../../../src/gen/common.js';
import { SegmentInfo, SegmentState, VchannelInfo } from '../../../src/gen/segment.js';
import { insertPayload, testSchema } from './helpers.js';

const VCHANNEL = 'dml_0_100v0';
const COLLECTION = 100n;
const schema = testSchema('late_rows');

interface LogLine {
  level: number;
  msg: string;
  vchannel?: string;
  segmentId?: string;
  msgId?: string;
  rows?: number;
  segmentState?: string;
  flushedMsgId?: string;
  suppressedMessages?: number;
  suppressedRows?: number;
}

/** A logger whose warn-level lines land in `lines`. */
function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const position = (msgId: bigint) => ({ channelName: 'dml_0', msgId, timestamp: msgId });

function segment(segmentId: bigint, dmlMsgId: bigint, state = SegmentState.Flushed): SegmentInfo {
  return SegmentInfo.fromPartial({ segmentId, collectionId: COLLECTION, partitionId: 1n, insertChannel: VCHANNEL, state, dmlPosition: position(dmlMsgId) });
}

/** An Insert record of `rows` rows for `segmentId` at offset `msgId`. */
function insertAt(segmentId: bigint, msgId: bigint, rows: number, partitionId = 1n): DispatchedMsg {
  const pks = Array.from({ length: rows }, (_, i) => msgId * 1_000n + BigInt(i));
  const { payload } = insertPayload({ schema, collectionId: COLLECTION, partitionId, segmentId, vchannel: VCHANNEL, pks, ts: msgId });
  return { position: { channel: 'dml_0', msgId, timestamp: msgId }, header: { msgType: MsgType.Insert, vchannel: VCHANNEL, collectionId: COLLECTION }, payload: Buffer.from(payload) };
}

/**
 * A dd node watching VCHANNEL from offset 5: segment 7 flushed up to offset 10, segment 8 growing
 * and flushed up to offset 10, segment 9 dropped after a flush up to offset 10.
 */
function ddNode(lateRowsLog?: { maxWarnings?: number; windowMs?: number; now?: () => number }) {
  const info = VchannelInfo.fromPartial({
    collectionId: COLLECTION,
    channelName: VCHANNEL,
    schema,
    seekPosition: position(5n),
    unflushedSegments: [segment(8n, 10n, SegmentState.Growing), segment(9n, 10n, SegmentState.Dropped)],
    flushedSegments: [segment(7n, 10n)],
    partitionIds: [1n, 2n],
  });
  const registry = SegmentRegistry.fromVchannelInfo(info);
  const metrics = new DataPathMetrics();
  const { logger, lines } = capture();
  const node = createDdNode({ vchannel: VCHANNEL, collectionId: COLLECTION, schema, registry, metrics, logger, lateRowsLog });
  const ctx = { graph: VCHANNEL, node: node.name, signal: new AbortController().signal };
  const run = async (msgs: DispatchedMsg[]): Promise<FlowMsg[]> => [...(await node.operate(msgs, ctx))];
  return { registry, metrics, lines, run };
}

const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40);

describe('dd node late rows', () => {
  it('dd-node - rows at or below their segment flushed position are skipped without a warning (a replay)', async () => {
    const { metrics, lines, run } = ddNode();
    const out = await run([insertAt(7n, 6n, 3), insertAt(8n, 7n, 2), insertAt(9n, 8n, 4), insertAt(7n, 10n, 1), insertAt(8n, 11n, 5)]);
    // Only segment 8's message past its flushed position is kept: it is growing.
    expect(out.filter((f) => f.kind === 'insert').map((f) => (f.kind === 'insert' ? [f.segmentId, f.position.msgId] : []))).toEqual([[8n, 11n]]);
    expect(metrics.skippedRows).toBe(3 + 2 + 4 + 1);
    expect(metrics.lateSkippedRows).toBe(0);
    expect(warnings(lines)).toEqual([]);
  });

  it('dd-node - rows past the flushed position of a flushed or dropped segment are counted and warned about once per message, naming vchannel, segment, offset and rows', async () => {
    const { metrics, lines, run } = ddNode();
    await run([insertAt(7n, 12n, 2), insertAt(9n, 13n, 3)]);
    // The same messages read again (a catch-up reader, a restarted flowgraph): counted, not warned again.
    await run([insertAt(7n, 12n, 2), insertAt(9n, 13n, 3)]);
    expect(metrics.skippedRows).toBe(10);
    expect(metrics.lateSkippedRows).toBe(10);
    const warned = warnings(lines);
    expect(warned.map(({ vchannel, segmentId, msgId, rows, segmentState, flushedMsgId }) => ({ vchannel, segmentId, msgId, rows, segmentState, flushedMsgId }))).toEqual([
      { vchannel: VCHANNEL, segmentId: '7', msgId: '12', rows: 2, segmentState: 'flushed', flushedMsgId: '10' },
      { vchannel: VCHANNEL, segmentId: '9', msgId: '13', rows: 3, segmentState: 'dropped', flushedMsgId: '10' },
    ]);
    expect(new Set(warned.map((l) => l.msg)).size).toBe(1);
  });

  it('dd-node - rows skipped because their partition or collection was dropped are not late', async () => {
    const { registry, metrics, lines, run } = ddNode();
    registry.dropPartition(2n);
    await run([insertAt(7n, 12n, 2, 2n)]);
    registry.collectionDropped = true;
    await run([insertAt(7n, 14n, 3)]);
    expect(metrics.skippedRows).toBe(5);
    expect(metrics.lateSkippedRows).toBe(0);
    expect(warnings(lines)).toEqual([]);
  });

  it('dd-node - late-row warnings are limited per window; the next one says how many messages and rows were not logged', async () => {
    let now = 0;
    const { metrics, lines, run } = ddNode({ maxWarnings: 2, windowMs: 1_000, now: () => now });
    await run([20n, 21n, 22n, 23n, 24n].map((msgId) => insertAt(7n, msgId, 2)));
    expect(warnings(lines).map((l) => l.msgId)).toEqual(['20', '21']);
    now = 999;
    await run([insertAt(7n, 25n, 1)]);
    expect(warnings(lines)).toHaveLength(2);
    now = 1_000;
    await run([insertAt(7n, 26n, 4)]);
    const last = warnings(lines).at(-1);
    expect([last?.msgId, last?.rows, last?.suppressedMessages, last?.suppressedRows]).toEqual(['26', 4, 4, 7]);
    expect(metrics.lateSkippedRows).toBe(5 * 2 + 1 + 4);
  });

  it('late-rows-log - forgets the oldest messages past its memory, so one seen long ago is warned about again', () => {
    const { logger, lines } = capture();
    const late = new LateRowsLog({ logger, maxWarnings: 100, rememberMessages: 2 });
    const note = (msgId: bigint) => late.note({ segmentId: 1n, msgId, rows: 1, segmentState: 'flushed', flushedMsgId: 0n });
    expect([note(1n), note(2n), note(1n), note(3n), note(2n), note(1n)]).toEqual([true, true, false, true, false, true]);
    expect(warnings(lines).map((l) => l.msgId)).toEqual(['1', '2', '3', '1']);
  });
});
