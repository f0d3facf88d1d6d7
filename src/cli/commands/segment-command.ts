/**
 * `tidal segment list|describe|flush`.
 */
import { Command } from 'commander';
import { parseId, runWithMaster, withCommonOptions, type CommonOptions } from './common-options.js';

/** The `segment` command and its subcommands. */
export function segmentCommand(): Command {
  const cmd = new Command('segment').description('list, describe and flush segments');

  withCommonOptions(
    cmd
      .command('list')
      .description('list the segments of a collection')
      .argument('<collection>', 'collection name')
      .option('-p, --partition <name>', 'only this partition')
      .option('--binlogs', 'include each segment\'s binlogs (json output)'),
  ).action(async (collection: string, opts: CommonOptions & { partition?: string; binlogs?: boolean }) => {
    const [{ print }, { segmentView }, { segmentStateToJSON }, { errors }] = await Promise.all([
      import('../output.js'),
      import('../views.js'),
      import('../../gen/segment.js'),
      import('../../common/errors.js'),
    ]);
    await runWithMaster(opts, async (conn, format) => {
      const coll = await conn.client.call('describeCollection', { collectionName: collection });
      let partitionId = 0n;
      if (opts.partition !== undefined) {
        const parts = await conn.client.call('showPartitions', { collectionId: coll.collectionId });
        const i = parts.partitionNames.indexOf(opts.partition);
        if (i < 0) throw errors.notFound(`partition ${JSON.stringify(opts.partition)} not found in collection ${JSON.stringify(collection)} (its partitions: ${parts.partitionNames.join(', ')})`);
        partitionId = parts.partitionIds[i]!;
      }
      const res = await conn.client.call('showSegments', { collectionId: coll.collectionId, partitionId, includeBinlogs: true });
      const json = res.segments.map((s) => segmentView(s, opts.binlogs === true));
      await print(format, json, ['segment', 'partition', 'vchannel', 'state', 'rows', 'max rows', 'insert logs'], () =>
        res.segments.map((s) => [s.segmentId, s.partitionId, s.insertChannel, segmentStateToJSON(s.state), s.numRows, s.maxRowNum, s.insertLogs.length]),
      );
    });
  });

  withCommonOptions(
    cmd
      .command('describe')
      .description('show a segment with its binlogs (their paths are what `tidal binlog inspect` takes)')
      .argument('<segmentId>', 'segment id'),
  ).action(async (segment: string, opts: CommonOptions) => {
    const segmentId = await parseId(segment, 'segment id');
    const [{ renderTable, writeOut, toJson, formatTs }, { segmentView }, { segmentStateToJSON }] = await Promise.all([
      import('../output.js'),
      import('../views.js'),
      import('../../gen/segment.js'),
    ]);
    await runWithMaster(opts, async (conn, format) => {
      const res = await conn.client.call('describeSegment', { segmentId });
      const s = res.segment!;
      if (format === 'json') return writeOut(toJson(segmentView(s, true)));
      const summary = await renderTable(
        ['segment', 'collection', 'partition', 'vchannel', 'state', 'rows', 'max rows', 'flushed up to'],
        [[s.segmentId, s.collectionId, s.partitionId, s.insertChannel, segmentStateToJSON(s.state), s.numRows, s.maxRowNum, s.dmlPosition === undefined ? '' : `offset ${s.dmlPosition.msgId} (${formatTs(s.dmlPosition.timestamp)})`]],
      );
      const logs = [
        ...s.insertLogs.map((b) => ['insert', b] as const),
        ...s.deltaLogs.map((b) => ['delta', b] as const),
        ...s.statsLogs.map((b) => ['stats', b] as const),
      ];
      const binlogs = await renderTable(
        ['kind', 'path', 'entries', 'bytes', 'from', 'to'],
        logs.map(([kind, b]) => [kind, b.logPath, b.entriesNum, b.logSize, formatTs(b.timestampFrom), formatTs(b.timestampTo)]),
      );
      await writeOut(`${summary}\n${binlogs}`);
    });
  });

  withCommonOptions(
    cmd.command('flush').description('seal the growing segments of a collection and wait until they are flushed (up to 60 s)').argument('<collection>', 'collection name'),
  ).action(async (collection: string, opts: CommonOptions) => {
    const { print } = await import('../output.js');
    await runWithMaster(opts, async (conn, format) => {
      const res = await conn.client.call('flush', { collectionName: collection });
      const json = { collectionName: collection, collectionId: res.collectionId, flushedNow: res.segmentIds, alreadyFlushed: res.flushedSegmentIds, flushTs: res.flushTs };
      await print(format, json, ['collection', 'flushed now', 'already flushed', 'flush ts'], () => [
        [collection, res.segmentIds.join(', '), res.flushedSegmentIds.join(', '), res.flushTs],
      ]);
    });
  });
  return cmd;
}
