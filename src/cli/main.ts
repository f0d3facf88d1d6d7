/**
 * The `tidal` command line. `tidal master` runs a master, `tidal datanode` a DataNode; errors are
 * one line on stderr and a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../common/config.js';
import { TidalError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { createDataPath } from '../datanode/data-path.js';
import { DataNodeServer } from '../datanode/server.js';
import { MasterServer } from '../master/server.js';

/** Runs until SIGINT/SIGTERM, then closes `server` (a second signal exits at once). */
function runUntilSignal(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tidal: shutdown after ${signal} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const program = new Command('tidal')
  .description('Tidal: a message-stream data plane (master, DataNode, proxy client)')
  .showHelpAfterError()
  .exitOverride();

program
  .command('master')
  .description('run a master: TSO, ID allocator, meta table, DDL, segment assignment, time ticks (gRPC)')
  .option('-c, --config <file>', 'configuration file (YAML); defaults: configs/tidal.yaml')
  .option('-p, --port <port>', 'gRPC port (overrides master.port)')
  .action(async (opts: { config?: string; port?: string }) => {
    const cfg = loadConfig({ file: opts.config, overrides: opts.port === undefined ? undefined : { master: { port: Number(opts.port) } } });
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
    const cfg = loadConfig({ file: opts.config, overrides: opts.port === undefined ? undefined : { datanode: { port: Number(opts.port) } } });
    const logger = createLogger({ level: cfg.log.level, name: 'tidal-datanode' });
    const server = await DataNodeServer.start({ config: cfg, logger, channels: createDataPath });
    // One line on stdout for scripts and tests: where the DataNode listens.
    process.stdout.write(`tidal datanode listening on port ${server.port} (server id ${server.serverId})\n`);
    runUntilSignal(() => server.close());
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const msg = err instanceof TidalError ? `${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`tidal: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}
