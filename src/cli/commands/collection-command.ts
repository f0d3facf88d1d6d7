/**
 * `tidal collection create|list|describe|drop`.
 */
import { Command } from 'commander';
import { collect, runWithMaster, withCommonOptions, type CommonOptions } from './common-options.js';
import type { SchemaOptions } from '../schema-spec.js';

const SCHEMA_HELP = `
Schema: a JSON file and/or compact flags (flags add fields after the file's):
  --schema schema.json           {"fields": [{"name": "id", "dataType": "Int64", "isPrimaryKey": true},
                                             {"name": "vec", "dataType": "FloatVector", "dim": 128}]}
                                 (snake_case names such as is_primary_key and max_length work too)
  --pk id:int64[:auto]           primary key: int64 (":auto" for auto_id) or varchar:<max_length>
  --vector vec:float32:128       float vector field of dim 128 (repeatable)
  --field title:varchar:64       scalar field: bool, int64, float, double, varchar:<max_length>;
                                 append ":nullable" to allow nulls (repeatable)

Example:
  tidal collection create books --pk id:int64 --vector embedding:float32:128 --field title:varchar:256 --shards 2`;

/** The `collection` command and its subcommands. */
export function collectionCommand(): Command {
  const cmd = new Command('collection').description('create, list, describe and drop collections');

  withCommonOptions(
    cmd
      .command('create')
      .description('create a collection')
      .argument('<name>', 'collection name')
      .option('--schema <file>', 'schema as a JSON file')
      .option('--pk <name:type>', 'primary key field (int64[:auto] or varchar:<max_length>)')
      .option('--vector <name:float32:dim>', 'float vector field (repeatable)', collect)
      .option('--field <name:type>', 'scalar field (repeatable)', collect)
      .option('--shards <n>', 'number of shards (vchannels); default: master.defaultShardsNum')
      .option('--description <text>', 'collection description'),
  )
    .addHelpText('after', SCHEMA_HELP)
    .action(async (name: string, opts: CommonOptions & SchemaOptions & { shards?: string }) => {
      const [{ buildSchema }, { errors }, { print }] = await Promise.all([import('../schema-spec.js'), import('../../common/errors.js'), import('../output.js')]);
      const schema = buildSchema(name, opts);
      let shardsNum = 0;
      if (opts.shards !== undefined) {
        shardsNum = Number(opts.shards);
        if (!/^[1-9][0-9]*$/.test(opts.shards) || shardsNum > 1024) throw errors.invalidArgument(`--shards must be an integer from 1 to 1024, got ${JSON.stringify(opts.shards)}`);
      }
      await runWithMaster(opts, async (conn, format) => {
        const res = await conn.client.call('createCollection', { collectionName: name, schema, shardsNum });
        await print(format, { collectionName: name, collectionId: res.collectionId, vchannels: res.vchannels }, ['collection', 'id', 'vchannels'], () => [
          [name, res.collectionId, res.vchannels.join('\n')],
        ]);
      });
    });

  withCommonOptions(cmd.command('list').description('list collections')).action(async (opts: CommonOptions) => {
    const { print, formatTs } = await import('../output.js');
    await runWithMaster(opts, async (conn, format) => {
      const res = await conn.client.call('showCollections', {});
      const list = res.collectionNames.map((n, i) => ({ collectionName: n, collectionId: res.collectionIds[i]!, createdTimestamp: res.createdTimestamps[i]! }));
      await print(format, list, ['collection', 'id', 'created'], () => list.map((c) => [c.collectionName, c.collectionId, formatTs(c.createdTimestamp)]));
    });
  });

  withCommonOptions(cmd.command('describe').description('show a collection: schema, shards, vchannels').argument('<name>', 'collection name')).action(
    async (name: string, opts: CommonOptions) => {
      const [{ print, formatTs, renderTable, writeOut, toJson }, { schemaView, positionView }, { describeType }] = await Promise.all([
        import('../output.js'),
        import('../views.js'),
        import('../schema-spec.js'),
      ]);
      await runWithMaster(opts, async (conn, format) => {
        const res = await conn.client.call('describeCollection', { collectionName: name });
        const parts = await conn.client.call('showPartitions', { collectionId: res.collectionId });
        const json = {
          collectionName: res.collectionName,
          collectionId: res.collectionId,
          shardsNum: res.shardsNum,
          createdTimestamp: res.createdTimestamp,
          created: formatTs(res.createdTimestamp),
          schema: schemaView(res.schema),
          vchannels: res.vchannels.map((v, i) => ({ vchannel: v, pchannel: res.pchannels[i] ?? '', startPosition: positionView(res.startPositions[i]) })),
          partitions: parts.partitionNames.map((p, i) => ({ partitionName: p, partitionId: parts.partitionIds[i]! })),
          properties: res.properties,
        };
        if (format === 'json') return writeOut(toJson(json));
        const summary = await renderTable(
          ['collection', 'id', 'shards', 'created', 'partitions'],
          [[res.collectionName, res.collectionId, res.shardsNum, json.created, parts.partitionNames.join(', ')]],
        );
        const fields = await renderTable(
          ['field', 'id', 'type', 'primary key', 'auto id', 'nullable'],
          (res.schema?.fields ?? []).map((f) => [f.name, f.fieldId, describeType(f), f.isPrimaryKey ? 'yes' : '', f.autoId ? 'yes' : '', f.nullable ? 'yes' : '']),
        );
        await writeOut(`${summary}\n${fields}`);
        await print(format, json, ['vchannel', 'pchannel'], () => json.vchannels.map((v) => [v.vchannel, v.pchannel]));
      });
    },
  );

  withCommonOptions(cmd.command('drop').description('drop a collection (its vchannels flush first)').argument('<name>', 'collection name')).action(
    async (name: string, opts: CommonOptions) => {
      const { print } = await import('../output.js');
      await runWithMaster(opts, async (conn, format) => {
        await conn.client.call('dropCollection', { collectionName: name });
        await print(format, { dropped: name }, ['dropped collection'], () => [[name]]);
      });
    },
  );
  return cmd;
}
