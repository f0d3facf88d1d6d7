/**
 * The MsgStream conformance suite: every implementation (Kafka, embedded) must pass it unchanged.
 * `msgStreamConformance(name, fixture)` registers the tests; each test gets a fresh stream and
 * channels named uniquely, so tests never see each other's data.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import type { ConsumedMessage, Consumer, MsgStream, Position, ProduceMessage } from '../../src/mq/index.js';
import { uniqueName } from '../harness/endpoints.js';

/** How the suite gets streams of one implementation. */
export interface MsgStreamFixture {
  /** A fresh, open stream. The suite closes it after each test. */
  create(): Promise<MsgStream>;
  /**
   * Deletes every message of `channel` below `offset`, as retention would (Kafka: DeleteRecords
   * through an admin client of its own; embedded: the stream's deleteRecordsBefore).
   */
  deleteRecordsBefore(stream: MsgStream, channel: string, offset: bigint): Promise<void>;
  /**
   * A second client of the same backend as `stream` (Kafka: another KafkaMsgStream on the same
   * brokers). An embedded stream has no other client: it returns `stream` itself.
   */
  peer(stream: MsgStream): Promise<MsgStream>;
}

const MiB = 1024 * 1024;
/** Longest a test waits for one batch before it fails (messages are local: this is generous). */
const PULL_TIMEOUT_MS = 15_000;

/** The next batch of a consumer, or an error if none comes within `ms`. */
async function pull(it: AsyncIterator<ConsumedMessage[]>, ms = PULL_TIMEOUT_MS): Promise<IteratorResult<ConsumedMessage[]>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no batch within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Pulls batches until at least `count` messages came (fails if the consumer ends or stalls first)
 * and returns all of them: more than `count` when the last batch held more.
 */
async function take(consumer: Consumer, count: number, onBatch?: (batch: ConsumedMessage[]) => void): Promise<ConsumedMessage[]> {
  const it = consumer[Symbol.asyncIterator]();
  const out: ConsumedMessage[] = [];
  while (out.length < count) {
    const r = await pull(it);
    if (r.done) throw new Error(`consumer ended after ${out.length} of ${count} messages`);
    onBatch?.(r.value);
    out.push(...r.value);
  }
  return out;
}

const text = (m: ConsumedMessage) => m.payload.toString('utf8');
const msg = (s: string, timestamp?: bigint): ProduceMessage => (timestamp === undefined ? { payload: Buffer.from(s) } : { payload: Buffer.from(s), timestamp });
const msgs = (prefix: string, n: number, firstTs = 1000n): ProduceMessage[] => Array.from({ length: n }, (_, i) => msg(`${prefix}-${i}`, firstTs + BigInt(i)));

/** Registers the conformance tests for one implementation. */
export function msgStreamConformance(name: string, fixture: MsgStreamFixture): void {
  const title = (behaviour: string) => `msg-stream (${name}) - ${behaviour}`;

  describe(`msg-stream (${name})`, () => {
    let stream: MsgStream;
    const consumers: Consumer[] = [];
    const consume = async (...args: Parameters<MsgStream['consume']>) => {
      const c = await stream.consume(...args);
      consumers.push(c);
      return c;
    };
    const created: string[] = [];
    const channel = async () => {
      const ch = uniqueName('ms');
      created.push(ch);
      await stream.createChannel(ch);
      return ch;
    };

    beforeEach(async () => {
      stream = await fixture.create();
    });

    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.close()));
      // Best effort: a shared broker should not collect test topics. A closed stream (the close
      // test) cleans up after itself.
      await Promise.allSettled(created.splice(0).map((ch) => stream.deleteChannel(ch)));
      await stream.close();
    });

    it(title('creating, finding and deleting a channel, each idempotent'), async () => {
      const ch = uniqueName('ms');
      created.push(ch);
      expect(await stream.hasChannel(ch)).toBe(false);
      await stream.createChannel(ch);
      await stream.createChannel(ch);
      expect(await stream.hasChannel(ch)).toBe(true);
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: 0n });
      await stream.deleteChannel(ch);
      expect(await stream.hasChannel(ch)).toBe(false);
      await stream.deleteChannel(ch);
      expect(await stream.hasChannel(ch)).toBe(false);
      await expect(stream.offsets(ch)).rejects.toMatchObject({ code: ErrorCode.NotFound });
    });

    it(title('an invalid channel name is rejected'), async () => {
      await expect(stream.createChannel('no spaces allowed')).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      await expect(stream.createChannel('')).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    });

    it(title('produce returns consecutive positions with the given timestamps'), async () => {
      const ch = await channel();
      const first = await stream.produce(ch, [msg('a', 7n), msg('b', 8n), msg('c')]);
      expect(first).toEqual<Position[]>([
        { channel: ch, msgId: 0n, timestamp: 7n },
        { channel: ch, msgId: 1n, timestamp: 8n },
        { channel: ch, msgId: 2n, timestamp: 0n },
      ]);
      const big = (1n << 64n) - 1n;
      const second = await stream.produce(ch, [msg('d', big)]);
      expect(second).toEqual([{ channel: ch, msgId: 3n, timestamp: big }]);
      expect(await stream.produce(ch, [])).toEqual([]);
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: 4n });

      const got = await take(await consume(ch, { kind: 'earliest' }), 4);
      expect(got.map(text)).toEqual(['a', 'b', 'c', 'd']);
      expect(got.map((m) => m.position)).toEqual([...first, ...second]);
    });

    it(title('an out-of-range timestamp is rejected'), async () => {
      const ch = await channel();
      await expect(stream.produce(ch, [msg('x', -1n)])).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      await expect(stream.produce(ch, [msg('x', 1n << 64n)])).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: 0n });
    });

    it(title('keys and binary payloads round-trip'), async () => {
      const ch = await channel();
      const binary = Buffer.from([0, 255, 1, 254, 0]);
      await stream.produce(ch, [
        { payload: binary, key: 'pk-1', timestamp: 5n },
        { payload: new Uint8Array([9, 8, 7]), key: Buffer.from([1, 2]) },
        { payload: Buffer.alloc(0) },
      ]);
      const got = await take(await consume(ch, { kind: 'earliest' }), 3);
      expect(got[0]?.payload.equals(binary)).toBe(true);
      expect(got[0]?.key?.toString()).toBe('pk-1');
      expect([...(got[1]?.payload ?? [])]).toEqual([9, 8, 7]);
      expect([...(got[1]?.key ?? [])]).toEqual([1, 2]);
      expect(got[2]?.payload.length).toBe(0);
      expect(got[2]?.key).toBeUndefined();
    });

    it(title('10,000 messages arrive in order, exactly once, at their positions'), async () => {
      const ch = await channel();
      const total = 10_000;
      const perCall = 1_000;
      const pad = 'x'.repeat(100);
      const produced: Position[] = [];
      for (let start = 0; start < total; start += perCall) {
        const batch = Array.from({ length: perCall }, (_, j) => msg(`${start + j}:${pad}`, 5_000_000n + BigInt(start + j)));
        produced.push(...(await stream.produce(ch, batch)));
      }
      expect(produced.map((p) => p.msgId)).toEqual(Array.from({ length: total }, (_, i) => BigInt(i)));

      const maxBatchMessages = 700;
      const consumer = await consume(ch, { kind: 'earliest' }, { maxBatchMessages });
      const got = await take(consumer, total, (batch) => {
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(maxBatchMessages);
      });
      expect(got.length).toBe(total);
      got.forEach((m, i) => {
        expect(text(m)).toBe(`${i}:${pad}`);
        expect(m.position).toEqual({ channel: ch, msgId: BigInt(i), timestamp: 5_000_000n + BigInt(i) });
      });
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: BigInt(total) });
      // Nothing is delivered twice: the next message after the 10,000 is a new one.
      await stream.produce(ch, [msg('sentinel')]);
      expect((await take(consumer, 1)).map((m) => [m.position.msgId, text(m)])).toEqual([[BigInt(total), 'sentinel']]);
    });

    it(title('consuming from earliest starts at the first retained message'), async () => {
      const ch = await channel();
      await stream.produce(ch, msgs('m', 6));
      expect((await take(await consume(ch, { kind: 'earliest' }), 6)).map(text)).toEqual(msgs('m', 6).map((m) => m.payload.toString()));

      await fixture.deleteRecordsBefore(stream, ch, 4n);
      expect(await stream.offsets(ch)).toEqual({ earliest: 4n, latest: 6n });
      const got = await take(await consume(ch, { kind: 'earliest' }), 2);
      expect(got.map((m) => m.position.msgId)).toEqual([4n, 5n]);
      expect(got.map(text)).toEqual(['m-4', 'm-5']);
    });

    it(title('consuming from latest sees only messages produced after consume()'), async () => {
      const ch = await channel();
      await stream.produce(ch, msgs('before', 5));
      const consumer = await consume(ch, { kind: 'latest' });
      // The consumer waits: nothing new has been written yet.
      const it = consumer[Symbol.asyncIterator]();
      const pending = pull(it);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await stream.produce(ch, msgs('after', 3));
      const got: ConsumedMessage[] = [];
      for (let r = await pending; ; r = await pull(it)) {
        if (r.done) throw new Error('consumer ended');
        got.push(...r.value);
        if (got.length >= 3) break;
      }
      expect(got.map(text)).toEqual(['after-0', 'after-1', 'after-2']);
      expect(got.map((m) => m.position.msgId)).toEqual([5n, 6n, 7n]);
    });

    it(title('consuming from a position includes it when inclusive and starts after it otherwise'), async () => {
      const ch = await channel();
      const positions = await stream.produce(ch, msgs('p', 10));
      const at = positions[6] as Position;
      const inclusive = await take(await consume(ch, { kind: 'position', position: at, inclusive: true }), 4);
      expect(inclusive.map((m) => m.position.msgId)).toEqual([6n, 7n, 8n, 9n]);
      const exclusive = await take(await consume(ch, { kind: 'position', position: at, inclusive: false }), 3);
      expect(exclusive.map((m) => m.position.msgId)).toEqual([7n, 8n, 9n]);
      expect(exclusive.map(text)).toEqual(['p-7', 'p-8', 'p-9']);

      // Just after the last message: the consumer waits for the next one.
      const tail = await consume(ch, { kind: 'position', position: positions[9] as Position, inclusive: false });
      await stream.produce(ch, [msg('next')]);
      expect((await take(tail, 1)).map((m) => [m.position.msgId, text(m)])).toEqual([[10n, 'next']]);
    });

    it(title('seeking to a deleted offset is an error'), async () => {
      const ch = await channel();
      const positions = await stream.produce(ch, msgs('d', 10));
      await fixture.deleteRecordsBefore(stream, ch, 5n);
      expect(await stream.offsets(ch)).toEqual({ earliest: 5n, latest: 10n });
      const pos = (i: number) => positions[i] as Position;

      await expect(consume(ch, { kind: 'position', position: pos(2), inclusive: true })).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
      await expect(consume(ch, { kind: 'position', position: pos(4), inclusive: true })).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
      await expect(consume(ch, { kind: 'position', position: pos(3), inclusive: false })).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
      // The first retained offset is still a valid seek, either way of naming it.
      expect((await take(await consume(ch, { kind: 'position', position: pos(5), inclusive: true }), 1))[0]?.position.msgId).toBe(5n);
      expect((await take(await consume(ch, { kind: 'position', position: pos(4), inclusive: false }), 1))[0]?.position.msgId).toBe(5n);
    });

    it(title('seeking beyond the end of a channel is an error'), async () => {
      const ch = await channel();
      await stream.produce(ch, msgs('e', 3));
      const future: Position = { channel: ch, msgId: 10n, timestamp: 0n };
      await expect(consume(ch, { kind: 'position', position: future, inclusive: true })).rejects.toMatchObject({ code: ErrorCode.OffsetOutOfRange });
      const other: Position = { channel: `${ch}-other`, msgId: 0n, timestamp: 0n };
      await expect(consume(ch, { kind: 'position', position: other, inclusive: true })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    });

    // Two shapes of retention: some messages left after the deleted ones (a reader that jumped
    // would see them), and nothing left at all (a reader that jumped would just wait, silently).
    for (const [deleteBefore, shape] of [
      [15n, 'with messages left after it'],
      [20n, 'with nothing left in the channel'],
    ] as const) {
      it(title(`a consumer whose next offset is deleted fails instead of skipping ahead (${shape})`), async () => {
        const ch = await channel();
        await stream.produce(ch, msgs('r', 10));
        const consumer = await consume(ch, { kind: 'earliest' }, { maxBatchMessages: 5 });
        const it = consumer[Symbol.asyncIterator]();
        const first = await pull(it);
        expect(first.done).toBe(false);
        const seen = [...(first.value as ConsumedMessage[])];
        expect(seen.map((m) => m.position.msgId)).toEqual([0n, 1n, 2n, 3n, 4n]);

        // While the consumer is not pulling, retention deletes past its position.
        await stream.produce(ch, msgs('s', 10));
        await fixture.deleteRecordsBefore(stream, ch, deleteBefore);
        expect(await stream.offsets(ch)).toEqual({ earliest: deleteBefore, latest: 20n });

        let failure: unknown;
        try {
          for (;;) {
            const r = await pull(it);
            if (r.done) break;
            seen.push(...r.value);
          }
        } catch (err) {
          failure = err;
        }
        expect(failure).toMatchObject({ code: ErrorCode.OffsetOutOfRange });
        // Whatever was delivered is a contiguous prefix read before the deletion: nothing skipped.
        expect(seen.map((m) => m.position.msgId)).toEqual(seen.map((_, i) => BigInt(i)));
        expect(seen.length).toBeLessThanOrEqual(10);
        // The failed consumer stays ended.
        expect(await it.next()).toEqual({ done: true, value: undefined });
      });
    }

    it(title('a message above maxMessageBytes is rejected before anything is written'), async () => {
      const ch = await channel();
      const max = stream.maxMessageBytes;
      expect(max).toBeGreaterThan(1000);
      expect(max).toBeLessThanOrEqual(MiB);
      await expect(stream.produce(ch, [{ payload: Buffer.alloc(max + 1) }])).rejects.toMatchObject({ code: ErrorCode.ResourceExhausted });
      // The key counts too, and one oversized message fails the whole call.
      await expect(stream.produce(ch, [msg('ok'), { payload: Buffer.alloc(max - 2), key: 'abc' }])).rejects.toMatchObject({
        code: ErrorCode.ResourceExhausted,
        context: { index: 1 },
      });
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: 0n });

      // Exactly at the limit is accepted, with a timestamp and a key, and reads back intact.
      const payload = Buffer.alloc(max - 4, 0x5a);
      payload.write('head', 0);
      const [pos] = await stream.produce(ch, [{ payload, key: 'keyz', timestamp: 42n }]);
      expect(pos).toEqual({ channel: ch, msgId: 0n, timestamp: 42n });
      const [got] = await take(await consume(ch, { kind: 'earliest' }), 1);
      expect(got?.payload.equals(payload)).toBe(true);
      expect(got?.key?.toString()).toBe('keyz');
    });

    it(title('a produce call totalling several MiB is written whole and in order'), async () => {
      const ch = await channel();
      const max = stream.maxMessageBytes;
      const sizes = [100 * 1024, max, 300, max, 1, ...Array.from({ length: 30 }, () => 200 * 1024), max];
      const messages = sizes.map((size, i) => {
        const payload = Buffer.alloc(size, i % 251);
        if (size >= 4) payload.writeUInt32BE(i, 0);
        return { payload, timestamp: BigInt(i) + 1n };
      });
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(5 * MiB);
      const positions = await stream.produce(ch, messages);
      expect(positions.map((p) => [p.msgId, p.timestamp])).toEqual(sizes.map((_, i) => [BigInt(i), BigInt(i) + 1n]));
      const got = await take(await consume(ch, { kind: 'earliest' }, { maxBatchMessages: 7 }), sizes.length);
      got.forEach((m, i) => {
        expect(m.payload.equals(messages[i]?.payload as Buffer)).toBe(true);
        expect(m.position).toEqual(positions[i]);
      });
    });

    it(title('concurrent produce calls to one channel each land contiguously'), async () => {
      const ch = await channel();
      // Each call is big enough to need several record batches on Kafka.
      const half = Math.floor(stream.maxMessageBytes / 2);
      const calls = Array.from({ length: 4 }, (_, c) =>
        Array.from({ length: 3 }, (_, i) => ({ payload: Buffer.alloc(half, 65 + c), key: `${c}-${i}` })),
      );
      const results = await Promise.all(calls.map((call) => stream.produce(ch, call)));
      for (const positions of results) {
        const first = positions[0]?.msgId ?? -1n;
        expect(positions.map((p) => p.msgId)).toEqual([first, first + 1n, first + 2n]);
      }
      expect(results.flatMap((r) => r.map((p) => p.msgId)).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i)));
      const got = await take(await consume(ch, { kind: 'earliest' }), 12);
      results.forEach((positions, c) =>
        positions.forEach((p, i) => {
          const m = got[Number(p.msgId)];
          expect(m?.key?.toString()).toBe(`${c}-${i}`);
          expect(m?.payload[0]).toBe(65 + c);
        }),
      );
    });

    it(title('producing to a missing channel is NOT_FOUND and does not create it'), async () => {
      const ch = uniqueName('ms-missing');
      await expect(stream.produce(ch, [msg('x')])).rejects.toMatchObject({ code: ErrorCode.NotFound });
      expect(await stream.hasChannel(ch)).toBe(false);
      await expect(stream.consume(ch, { kind: 'earliest' })).rejects.toMatchObject({ code: ErrorCode.NotFound });

      // A deleted channel is missing again.
      const gone = await channel();
      await stream.produce(gone, [msg('x')]);
      await stream.deleteChannel(gone);
      await expect(stream.produce(gone, [msg('y')])).rejects.toMatchObject({ code: ErrorCode.NotFound });
    });

    it(title('producing keeps working on other channels after a channel is deleted'), async () => {
      const a = await channel();
      const b = await channel();
      await stream.produce(a, [msg('a0')]);
      await stream.produce(b, [msg('b0')]);
      await stream.deleteChannel(a);
      const c = await channel();
      expect(await stream.produce(b, [msg('b1')])).toEqual([{ channel: b, msgId: 1n, timestamp: 0n }]);
      expect(await stream.produce(c, [msg('c0')])).toEqual([{ channel: c, msgId: 0n, timestamp: 0n }]);
      expect(await stream.offsets(b)).toEqual({ earliest: 0n, latest: 2n });
    });

    it(title('a channel deleted by another client does not break this one'), async () => {
      const other = await fixture.peer(stream);
      try {
        const a = await channel();
        const b = await channel();
        await stream.produce(a, [msg('a0')]);
        await stream.produce(b, [msg('b0')]);
        expect(await stream.offsets(a)).toEqual({ earliest: 0n, latest: 1n });
        await other.deleteChannel(a);
        // Channels this client never touched, then ones it did, keep working.
        const c = await channel();
        expect(await stream.produce(c, [msg('c0')])).toEqual([{ channel: c, msgId: 0n, timestamp: 0n }]);
        expect(await stream.produce(b, [msg('b1')])).toEqual([{ channel: b, msgId: 1n, timestamp: 0n }]);
        expect(await stream.offsets(b)).toEqual({ earliest: 0n, latest: 2n });
        await expect(stream.produce(a, [msg('a1')])).rejects.toMatchObject({ code: ErrorCode.NotFound });
        await expect(stream.offsets(a)).rejects.toMatchObject({ code: ErrorCode.NotFound });
        expect(await stream.hasChannel(a)).toBe(false);
      } finally {
        if (other !== stream) await other.close();
      }
    });

    it(title('deleting a channel ends its consumers with NOT_FOUND'), async () => {
      const ch = await channel();
      await stream.produce(ch, [msg('only')]);
      const consumer = await consume(ch, { kind: 'earliest' });
      const it = consumer[Symbol.asyncIterator]();
      expect((await pull(it)).value?.map(text)).toEqual(['only']);
      // Caught at once: the read may fail while deleteChannel is still settling.
      const pending = pull(it).then(
        (r) => r,
        (err: unknown) => err,
      );
      await stream.deleteChannel(ch);
      expect(await pending).toMatchObject({ code: ErrorCode.NotFound });
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });

    it(title('two consumers of one channel see the same messages independently'), async () => {
      const ch = await channel();
      const one = await consume(ch, { kind: 'earliest' }, { maxBatchMessages: 10 });
      const two = await consume(ch, { kind: 'earliest' }, { maxBatchMessages: 3 });
      await stream.produce(ch, msgs('t', 50));
      const fromOne = await take(one, 50);
      const fromTwo = await take(two, 50);
      expect(fromOne.map(text)).toEqual(msgs('t', 50).map((m) => m.payload.toString()));
      expect(fromTwo.map((m) => m.position)).toEqual(fromOne.map((m) => m.position));
      // Closing one does not disturb the other.
      await one.close();
      await stream.produce(ch, [msg('late')]);
      expect((await take(two, 1)).map(text)).toEqual(['late']);
    });

    it(title('offsets report the earliest retained and the next offset'), async () => {
      const ch = await channel();
      await stream.produce(ch, msgs('o', 8));
      expect(await stream.offsets(ch)).toEqual({ earliest: 0n, latest: 8n });
      await fixture.deleteRecordsBefore(stream, ch, 3n);
      expect(await stream.offsets(ch)).toEqual({ earliest: 3n, latest: 8n });
      await fixture.deleteRecordsBefore(stream, ch, 8n);
      expect(await stream.offsets(ch)).toEqual({ earliest: 8n, latest: 8n });
      await stream.produce(ch, [msg('o-8')]);
      const [m] = await take(await consume(ch, { kind: 'earliest' }), 1);
      expect(m?.position.msgId).toBe(8n);
    });

    it(title('closing a consumer ends its pending and later reads'), async () => {
      const ch = await channel();
      const consumer = await consume(ch, { kind: 'earliest' });
      const it = consumer[Symbol.asyncIterator]();
      const pending = it.next();
      await consumer.close();
      expect(await pending).toEqual({ done: true, value: undefined });
      expect(await it.next()).toEqual({ done: true, value: undefined });
      await consumer.close();
    });

    it(title('breaking out of for-await closes the consumer'), async () => {
      const ch = await channel();
      await stream.produce(ch, msgs('b', 4));
      const consumer = await consume(ch, { kind: 'earliest' }, { maxBatchMessages: 2 });
      const got: ConsumedMessage[] = [];
      for await (const batch of consumer) {
        got.push(...batch);
        break;
      }
      expect(got.length).toBeGreaterThan(0);
      expect(await consumer[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
    });

    it(title('close is safe twice, ends consumers, and later calls fail with CLOSED'), async () => {
      const ch = await channel();
      await stream.produce(ch, [msg('x')]);
      const consumer = await consume(ch, { kind: 'latest' });
      const pending = consumer[Symbol.asyncIterator]().next();
      await stream.close();
      await stream.close();
      expect(await pending).toEqual({ done: true, value: undefined });
      await expect(stream.produce(ch, [msg('y')])).rejects.toMatchObject({ code: ErrorCode.Closed });
      await expect(stream.consume(ch, { kind: 'earliest' })).rejects.toMatchObject({ code: ErrorCode.Closed });
      await expect(stream.offsets(ch)).rejects.toMatchObject({ code: ErrorCode.Closed });
      await expect(stream.createChannel(ch)).rejects.toMatchObject({ code: ErrorCode.Closed });
      // Clean up with a fresh stream: the channel still exists on a shared backend.
      const cleanup = await fixture.create();
      try {
        await cleanup.deleteChannel(ch);
      } finally {
        await cleanup.close();
      }
    });
  });
}
