/**
 * `tidal insert --collection C --rows N --dim D`: generates rows that fit the collection's schema
 * and inserts them through the proxy client, several batches in flight, with a progress bar on
 * stderr (when it is a terminal) and a throughput line at the end.
 */
import { Command, Option } from 'commander';
import { MASTER_HELP } from './common-options.js';

/** Options of `tidal insert`. */
interface InsertOptions {
  collection: string;
  rows: string;
  dim: string;
  batch: string;
  inflight: string;
  partition?: string;
  pk: 'sequential' | 'random';
  pkStart: string;
  master?: string;
  config?: string;
  output: 'table' | 'json';
}

function positive(value: string, what: string, max: number, invalid: (m: string) => Error): number {
  const n = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(n) || n > max) throw invalid(`${what} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** The `insert` command. */
export function insertCommand(): Command {
  return new Command('insert')
    .description('insert generated rows (random vectors) into a collection, with a progress bar and a throughput line')
    .requiredOption('--collection <name>', 'collection name')
    .requiredOption('--rows <n>', 'number of rows')
    .requiredOption('--dim <d>', 'vector dim (must match the collection\'s vector fields)')
    .option('--batch <n>', 'rows per insert call', '10000')
    .option('--inflight <n>', 'insert calls in flight at once', '4')
    .option('-p, --partition <name>', 'partition (default: _default)')
    .addOption(new Option('--pk <mode>', 'primary keys: sequential from --pk-start, or random (ignored for auto_id keys)').choices(['sequential', 'random']).default('sequential'))
    .option('--pk-start <n>', 'first sequential primary key', '1')
    .option('-m, --master <host:port>', MASTER_HELP)
    .option('-c, --config <file>', 'configuration file (YAML): the message log (mq.*, kafka.*) to publish to')
    .addOption(new Option('-o, --output <format>', 'format of the final summary').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      `
The rows go to the message log the configuration names (mq.backend: kafka → kafka.brokers; embedded →
mq.localDir, shared with a running \`tidal standalone\`), like any proxy's.

Example:
  tidal insert --collection books --rows 1000000 --dim 128 --batch 10000`,
    )
    .action(async (opts: InsertOptions) => {
      const { errors } = await import('../../common/errors.js');
      const invalid = (m: string) => errors.invalidArgument(m);
      const rows = positive(opts.rows, '--rows', 1_000_000_000, invalid);
      const dim = positive(opts.dim, '--dim', 32_768, invalid);
      const batch = positive(opts.batch, '--batch', 1_000_000, invalid);
      const inflight = positive(opts.inflight, '--inflight', 64, invalid);
      if (!/^-?[0-9]{1,19}$/.test(opts.pkStart)) throw invalid(`--pk-start must be an int64, got ${JSON.stringify(opts.pkStart)}`);
      const pkStart = BigInt(opts.pkStart);
      const lastPk = pkStart + BigInt(rows) - 1n;
      if (opts.pk === 'sequential' && (pkStart < -(2n ** 63n) || lastPk > 2n ** 63n - 1n)) {
        throw invalid(`--pk-start ${opts.pkStart} with --rows ${rows} leaves the int64 range (keys ${pkStart}..${lastPk})`);
      }
      const { runInsert } = await import('../insert-runner.js');
      await runInsert({
        collection: opts.collection,
        rows,
        dim,
        batch,
        inflight,
        partition: opts.partition,
        pkMode: opts.pk,
        pkStart,
        master: opts.master,
        config: opts.config,
        output: opts.output,
      });
    });
}
