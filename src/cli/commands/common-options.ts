/**
 * Options shared by the resource commands, and the lazy loading that keeps `tidal --help` fast:
 * command modules register with commander at start, and import gRPC, protobuf, Arrow and the
 * clients only when their action runs.
 */
import { Option, type Command } from 'commander';
import type { MasterConnection, MasterOptions } from '../master-connection.js';
import type { OutputFormat } from '../output.js';

/** Options every master-facing command has. */
export interface CommonOptions extends MasterOptions {
  output: string;
}

/** Help text of --master, shared so every command documents the default the same way. */
export const MASTER_HELP =
  'master address host:port (default: master.advertiseAddress, i.e. $TIDAL_MASTER_ADVERTISE_ADDRESS, else 127.0.0.1:<master.port>, i.e. $TIDAL_MASTER_PORT, default 53100)';

/** Adds --master, --config and --output to `cmd`. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-m, --master <host:port>', MASTER_HELP)
    .option('-c, --config <file>', 'configuration file (YAML) for the defaults')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** Repeatable option collector: `--field a --field b` → ['a', 'b']. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Connects to the master (lazily loading the client), runs `fn` with the output format, closes. */
export async function runWithMaster(opts: CommonOptions, fn: (conn: MasterConnection, format: OutputFormat) => Promise<void>): Promise<void> {
  const [{ withMaster }, { parseOutputFormat }] = await Promise.all([import('../master-connection.js'), import('../output.js')]);
  const format = parseOutputFormat(opts.output);
  await withMaster(opts, (conn) => fn(conn, format));
}

/** Parses a decimal id argument (positive int64). Throws INVALID_ARGUMENT naming `what`. */
export async function parseId(text: string, what: string): Promise<bigint> {
  const { errors } = await import('../../common/errors.js');
  if (!/^[1-9][0-9]{0,18}$/.test(text) || BigInt(text) > (1n << 63n) - 1n) throw errors.invalidArgument(`${what} must be a positive integer id, got ${JSON.stringify(text)}`);
  return BigInt(text);
}
