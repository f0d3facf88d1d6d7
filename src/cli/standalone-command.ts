/**
 * `tidal standalone`: master and DataNode in one process on the configured backends (defaults:
 * embedded KV, embedded log, local object store, under ./tidal-data). Prints one line on stdout
 * once both serve; SIGINT/SIGTERM close it cleanly (a second signal exits at once).
 *
 * Like the other command modules this file loads nothing heavy: the action imports the config,
 * the logger and the servers when it runs, so `tidal --help` and the resource commands start fast.
 */
import type { Command } from 'commander';
import { errors } from '../common/errors.js';
import { parsePort, runUntilSignal } from './server-run.js';

/**
 * Adds `tidal standalone [-c file] [--data-dir DIR] [-p port]` to `program`. Errors (bad flags, a
 * data directory another process holds, a taken port) reach the caller of `parseAsync`, which
 * prints them as one line.
 */
export function registerStandaloneCommand(program: Command): void {
  program
    .command('standalone')
    .description('run a master and a DataNode in one process on embedded stores (no servers to install)')
    .option('-c, --config <file>', 'configuration file (YAML); defaults: configs/tidal.yaml')
    .option('--data-dir <dir>', 'keep the KV, the log and the binlogs under DIR/kv, DIR/mq, DIR/storage (default: ./tidal-data, or the directories the configuration names)')
    .option('-p, --port <port>', 'master gRPC port (overrides master.port; 0: any free port)')
    .action(async (opts: { config?: string; dataDir?: string; port?: string }) => {
      const port = opts.port === undefined ? undefined : parsePort(opts.port);
      if (opts.dataDir !== undefined && opts.dataDir.trim() === '') throw errors.invalidArgument('--data-dir must be a non-empty path');
      const [{ loadConfig }, { createLogger }, { Standalone }] = await Promise.all([
        import('../common/config.js'),
        import('../common/log.js'),
        import('../standalone/index.js'),
      ]);
      const config = loadConfig({ file: opts.config, overrides: port === undefined ? undefined : { master: { port } } });
      const logger = createLogger({ level: config.log.level, name: 'tidal-standalone' });
      const standalone = await Standalone.start({ config, logger, dataDir: opts.dataDir });
      // One line on stdout for scripts and tests: where clients reach the master, where data lives.
      process.stdout.write(`tidal standalone listening on port ${standalone.port} (data in ${standalone.dataDir})\n`);
      runUntilSignal(() => standalone.close());
    });
}
