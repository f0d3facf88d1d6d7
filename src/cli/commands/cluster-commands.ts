/**
 * `tidal channel list`, `tidal node list` and `tidal config get`: what the cluster looks like.
 */
import { Command, Option } from 'commander';
import { runWithMaster, withCommonOptions, type CommonOptions } from './common-options.js';

/** The `channel` command: `channel list`. */
export function channelCommand(): Command {
  const cmd = new Command('channel').description('vchannels: owner DataNode, checkpoint, lag');
  withCommonOptions(cmd.command('list').description('list vchannels with their owner, checkpoint and lag').option('--collection <name>', 'only this collection')).action(
    async (opts: CommonOptions & { collection?: string }) => {
      const [{ print, formatTs }, { positionView }] = await Promise.all([import('../output.js'), import('../views.js')]);
      await runWithMaster(opts, async (conn, format) => {
        const res = await conn.client.call('showChannels', { collectionName: opts.collection ?? '' });
        const json = res.channels.map((c) => ({ ...c, checkpoint: positionView(c.checkpoint) }));
        await print(format, json, ['vchannel', 'collection', 'owner', 'checkpoint', 'checkpoint time', 'lag (msgs)', 'lag (s)'], () =>
          res.channels.map((c) => [
            c.vchannel,
            c.collectionName,
            c.nodeId === 0n ? '(none)' : `${c.nodeId}${c.nodeAddress === '' ? ' (gone)' : ` @ ${c.nodeAddress}`}`,
            c.checkpoint === undefined ? '' : `${c.checkpoint.msgId}${c.checkpointStored ? '' : ' (start)'}`,
            c.checkpoint === undefined ? '' : formatTs(c.checkpoint.timestamp),
            c.lagMessages,
            (Number(c.lagMs) / 1000).toFixed(1),
          ]),
        );
      });
    },
  );
  return cmd;
}

/** The `node` command: `node list`. */
export function nodeCommand(): Command {
  const cmd = new Command('node').description('masters and DataNodes');
  withCommonOptions(
    cmd
      .command('list')
      .description('list live masters and DataNodes')
      .addOption(new Option('--role <role>', 'only this role').choices(['master', 'datanode'])),
  ).action(async (opts: CommonOptions & { role?: string }) => {
    const { print } = await import('../output.js');
    await runWithMaster(opts, async (conn, format) => {
      const res = await conn.client.call('showNodes', { role: opts.role ?? '' });
      await print(format, res.nodes, ['id', 'role', 'address', 'leader', 'channels'], () =>
        res.nodes.map((n) => [n.nodeId, n.role, n.address, n.role === 'master' ? (n.leader ? 'leader' : 'follower') : '', n.channels.join('\n')]),
      );
    });
  });
  return cmd;
}

/** The `config` command: `config get [keys...]`. */
export function configCommand(): Command {
  const cmd = new Command('config').description('the configuration the master runs with');
  withCommonOptions(
    cmd
      .command('get')
      .description('show configuration values by dotted key or key prefix (e.g. master.tso.windowMs, master.segment); no key: everything')
      .argument('[keys...]', 'keys or prefixes'),
  ).action(async (keys: string[], opts: CommonOptions) => {
    const [{ print }, { errors }] = await Promise.all([import('../output.js'), import('../../common/errors.js')]);
    for (const k of keys) {
      if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*\.?$/.test(k)) throw errors.invalidArgument(`config key ${JSON.stringify(k)} is not a dotted key path such as master.tso.windowMs`);
    }
    await runWithMaster(opts, async (conn, format) => {
      // Each argument is a key or a prefix of whole segments (`master.segment` → master.segment.*).
      const res = await conn.client.call('getSysConfigs', { keyPrefixes: keys.length === 0 ? [''] : keys });
      const matches = (key: string, k: string) => key === k || key.startsWith(k.endsWith('.') ? k : `${k}.`);
      const configs = keys.length === 0 ? res.configs : res.configs.filter((c) => keys.some((k) => matches(c.key, k)));
      const missing = keys.filter((k) => !configs.some((c) => matches(c.key, k)));
      if (missing.length > 0) throw errors.notFound(`no configuration key ${missing.map((k) => JSON.stringify(k)).join(', ')} (keys look like master.tso.windowMs; run tidal config get to list them)`);
      const json = Object.fromEntries(configs.map((c) => [c.key, c.value]));
      await print(format, json, ['key', 'value'], () => configs.map((c) => [c.key, c.value]));
    });
  });
  return cmd;
}
