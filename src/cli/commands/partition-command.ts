/**
 * `tidal partition create|list|drop`.
 */
import { Command } from 'commander';
import { runWithMaster, withCommonOptions, type CommonOptions } from './common-options.js';

/** The `partition` command and its subcommands. */
export function partitionCommand(): Command {
  const cmd = new Command('partition').description('create, list and drop partitions of a collection');

  withCommonOptions(
    cmd.command('create').description('create a partition').argument('<collection>', 'collection name').argument('<partition>', 'partition name'),
  ).action(async (collection: string, partition: string, opts: CommonOptions) => {
    const { print } = await import('../output.js');
    await runWithMaster(opts, async (conn, format) => {
      await conn.client.call('createPartition', { collectionName: collection, partitionName: partition });
      await print(format, { collectionName: collection, partitionName: partition, created: true }, ['collection', 'created partition'], () => [[collection, partition]]);
    });
  });

  withCommonOptions(cmd.command('list').description('list the partitions of a collection').argument('<collection>', 'collection name')).action(
    async (collection: string, opts: CommonOptions) => {
      const { print, formatTs } = await import('../output.js');
      await runWithMaster(opts, async (conn, format) => {
        const res = await conn.client.call('showPartitions', { collectionName: collection });
        const list = res.partitionNames.map((n, i) => ({ partitionName: n, partitionId: res.partitionIds[i]!, createdTimestamp: res.createdTimestamps[i]! }));
        await print(format, list, ['partition', 'id', 'created'], () => list.map((p) => [p.partitionName, p.partitionId, formatTs(p.createdTimestamp)]));
      });
    },
  );

  withCommonOptions(
    cmd.command('drop').description('drop a partition (its vchannels flush first)').argument('<collection>', 'collection name').argument('<partition>', 'partition name'),
  ).action(async (collection: string, partition: string, opts: CommonOptions) => {
    const { print } = await import('../output.js');
    await runWithMaster(opts, async (conn, format) => {
      await conn.client.call('dropPartition', { collectionName: collection, partitionName: partition });
      await print(format, { collectionName: collection, partitionName: partition, dropped: true }, ['collection', 'dropped partition'], () => [[collection, partition]]);
    });
  });
  return cmd;
}
