/**
 * `tidal binlog inspect <key>`.
 */
import { Command, Option } from 'commander';

/** The `binlog` command: `binlog inspect`. */
export function binlogCommand(): Command {
  const cmd = new Command('binlog').description('read binlogs in the object store');
  cmd
    .command('inspect')
    .description('print a binlog\'s metadata, Arrow schema and first rows (or a stats log\'s primary-key statistics)')
    .argument('<key>', 'object key relative to the store root, as `tidal segment describe` lists it (e.g. insert_log/1/2/3/4.arrow)')
    .option('-n, --rows <n>', 'rows to show', '5')
    .option('-c, --config <file>', 'configuration file (YAML): the object store (storage.*, s3.*)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', '\nThe object store comes from the configuration: storage.backend local (storage.localDir) or s3 (s3.*), e.g. TIDAL_STORAGE_BACKEND, TIDAL_STORAGE_LOCAL_DIR.')
    .action(async (key: string, opts: { rows: string; config?: string; output: 'table' | 'json' }) => {
      const { errors } = await import('../../common/errors.js');
      const rows = Number(opts.rows);
      if (!/^[0-9]+$/.test(opts.rows) || rows > 100_000) throw errors.invalidArgument(`--rows must be an integer from 0 to 100000, got ${JSON.stringify(opts.rows)}`);
      const { inspectBinlog } = await import('../binlog-inspect.js');
      await inspectBinlog({ key, rows, config: opts.config, output: opts.output });
    });
  return cmd;
}
