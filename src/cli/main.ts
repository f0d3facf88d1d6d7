/**
 * The `tidal` command line. `tidal master` runs a master, `tidal datanode` a DataNode;
 * `tidal <resource> <command>` manages them (collection, partition, segment, channel, node,
 * config), `tidal insert` generates rows, `tidal binlog inspect` reads a binlog. Errors are one line
 * `tidal: <message>` on stderr and a non-zero exit code (1; commander's usage errors keep theirs).
 *
 * Start-up stays fast: this file and the command modules load only commander; each action imports
 * what it needs (gRPC, protobuf, Arrow, the servers) when it runs.
 */
import { Command, CommanderError } from 'commander';
import { binlogCommand } from './commands/binlog-command.js';
import { channelCommand, configCommand, nodeCommand } from './commands/cluster-commands.js';
import { collectionCommand } from './commands/collection-command.js';
import { insertCommand } from './commands/insert-command.js';
import { partitionCommand } from './commands/partition-command.js';
import { segmentCommand } from './commands/segment-command.js';
import { parsePort, runUntilSignal } from './server-run.js';
import { registerStandaloneCommand } from './standalone-command.js';

const program = new Command('tidal')
  .description('Tidal: a message-stream data plane (master, DataNode, proxy client)')
  // One line per usage error, like every other error; subcommands inherit this.
  .configureOutput({
    outputError: (text, write) => write(`tidal: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`),
  })
  .exitOverride();

program
  .command('master')
  .description('run a master: TSO, ID allocator, meta table, DDL, segment assignment, time ticks (gRPC)')
  .option('-c, --config <file>', 'configuration file (YAML); defaults: configs/tidal.yaml')
  .option('-p, --port <port>', 'gRPC port (overrides master.port)')
  .action(async (opts: { config?: string; port?: string }) => {
    const [{ loadConfig }, { createLogger }, { MasterServer }] = await Promise.all([
      import('../common/config.js'),
      import('../common/log.js'),
      import('../master/server.js'),
    ]);
    const cfg = loadConfig({ file: opts.config, overrides: opts.port === undefined ? undefined : { master: { port: parsePort(opts.port) } } });
    const logger = createLogger({ level: cfg.log.level, name: 'tidal-master' });
    const server = await MasterServer.start({ config: cfg, logger });
    // One line on stdout for scripts and tests: where the master listens.
    process.stdout.write(`tidal master listening on port ${server.port} (server id ${server.serverId})\n`);
    runUntilSignal(() => server.close());
  });

program
  .command('datanode')
  .description('run a DataNode: watches the vchannels the master assigns, writes binlogs to the object store (gRPC)')
  .option('-c, --config <file>', 'configuration file (YAML); defaults: configs/tidal.yaml')
  .option('-p, --port <port>', 'gRPC port (overrides datanode.port)')
  .action(async (opts: { config?: string; port?: string }) => {
    const [{ loadConfig }, { createLogger }, { createDataPath }, { DataNodeServer }] = await Promise.all([
      import('../common/config.js'),
      import('../common/log.js'),
      import('../datanode/data-path.js'),
      import('../datanode/server.js'),
    ]);
    const cfg = loadConfig({ file: opts.config, overrides: opts.port === undefined ? undefined : { datanode: { port: parsePort(opts.port) } } });
    const logger = createLogger({ level: cfg.log.level, name: 'tidal-datanode' });
    const server = await DataNodeServer.start({ config: cfg, logger, channels: createDataPath });
    // One line on stdout for scripts and tests: where the DataNode listens.
    process.stdout.write(`tidal datanode listening on port ${server.port} (server id ${server.serverId})\n`);
    runUntilSignal(() => server.close());
  });

registerStandaloneCommand(program);
for (const cmd of [collectionCommand(), partitionCommand(), segmentCommand(), channelCommand(), nodeCommand(), configCommand(), insertCommand(), binlogCommand()]) {
  program.addCommand(cmd);
}
/** Gives every command below `parent` the program's error output and exit override. */
function inheritSettings(parent: Command): void {
  for (const sub of parent.commands) {
    sub.copyInheritedSettings(program);
    inheritSettings(sub);
  }
}
inheritSettings(program);

/** Writes `text` to stderr and exits with `code` once it is flushed. */
function fail(text: string, code: number): never {
  process.stderr.write(text, () => process.exit(code));
  // Keeps the type `never`; the callback above exits once stderr has the line.
  return undefined as never;
}

try {
  await program.parseAsync(process.argv);
  // Resource commands leave no handle open that should keep the process alive (gRPC channels may
  // linger for a moment after close); servers never get here while they run.
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const msg = err instanceof Error ? err.message : String(err);
  fail(`tidal: ${msg.split('\n')[0]}\n`, 1);
}
