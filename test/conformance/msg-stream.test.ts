/**
 * Runs the MsgStream conformance suite against every implementation: Kafka (the real broker of
 * this test run, never a mock), the persistent embedded log (LMDB, a temp directory per test) and
 * the in-memory embedded log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll } from 'vitest';
import { KafkaMsgStream, LmdbMsgStream, MemoryMsgStream, type MsgStream } from '../../src/mq/index.js';
import { endpoints } from '../harness/endpoints.js';
import { msgStreamConformance } from './msg-stream.suite.js';

msgStreamConformance('kafka', {
  create: async () => new KafkaMsgStream({ brokers: (await endpoints()).kafka, clientId: 'tidal-conformance' }),
  peer: async () => new KafkaMsgStream({ brokers: (await endpoints()).kafka, clientId: 'tidal-conformance-peer' }),
  // Retention, simulated from outside the stream: kafkajs DeleteRecords through an admin client of
  // its own (a fresh one each time: a kafkajs admin that touched a topic deleted later breaks).
  deleteRecordsBefore: async (_stream, channel, offset) => {
    const admin = new Kafka({ brokers: (await endpoints()).kafka, clientId: 'tidal-conformance-retention', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      // deleteTopicRecords needs the topic's metadata loaded first (it does not load it itself).
      await admin.fetchTopicOffsets(channel);
      await admin.deleteTopicRecords({ topic: channel, partitions: [{ partition: 0, offset: offset.toString() }] });
    } finally {
      await admin.disconnect();
    }
  },
});

msgStreamConformance('memory', {
  create: async () => new MemoryMsgStream(),
  peer: async (stream: MsgStream) => stream,
  deleteRecordsBefore: (stream, channel, offset) => (stream as MemoryMsgStream).deleteRecordsBefore(channel, offset),
});

// The persistent embedded log: each test gets a fresh directory. Its peer is a second stream on
// the same directory (another client of the same log, as another process would be).
const lmdbRoot = mkdtempSync(path.join(tmpdir(), 'tidal-mq-conformance-'));
let lmdbDirs = 0;
const lmdbDirOf = new WeakMap<MsgStream, string>();
afterAll(() => rmSync(lmdbRoot, { recursive: true, force: true }));

msgStreamConformance('lmdb', {
  create: async () => {
    const dir = path.join(lmdbRoot, String(lmdbDirs++));
    const stream = new LmdbMsgStream({ dir });
    lmdbDirOf.set(stream, dir);
    return stream;
  },
  peer: async (stream: MsgStream) => new LmdbMsgStream({ dir: lmdbDirOf.get(stream) as string }),
  deleteRecordsBefore: (stream, channel, offset) => (stream as LmdbMsgStream).deleteRecordsBefore(channel, offset),
});
