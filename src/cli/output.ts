/**
 * How resource commands print: `--output table` (cli-table3, for people) or `--output json` (one
 * JSON document on stdout, for scripts: 64-bit integers as decimal strings, byte arrays as base64).
 */
import { errors } from '../common/errors.js';
import { tsToDate } from '../common/hybrid-ts.js';

/** Output formats of the resource commands. */
export const OUTPUT_FORMATS = ['table', 'json'] as const;
/** An output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Parses `--output`. Throws INVALID_ARGUMENT naming the allowed values. */
export function parseOutputFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw errors.invalidArgument(`--output must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(value)}`);
}

/** JSON text of `value` with bigints as decimal strings and Uint8Arrays as base64 (2-space indent). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      return v;
    },
    2,
  );
}

/** A hybrid timestamp as `ISO time` (UTC, ms); empty for 0. */
export function formatTs(ts: bigint): string {
  return ts === 0n ? '' : tsToDate(ts).toISOString();
}

/** A table cell: bigints and numbers as decimals, undefined as empty. */
export type Cell = string | number | bigint | boolean | undefined;

/** Renders rows under `head` with cli-table3 (loaded lazily: only table output needs it). */
export async function renderTable(head: readonly string[], rows: readonly (readonly Cell[])[]): Promise<string> {
  const { default: Table } = await import('cli-table3');
  // No rule between rows: long listings stay compact.
  const table = new Table({ head: [...head], style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const row of rows) table.push(row.map((c) => (c === undefined ? '' : String(c))));
  return table.toString();
}

/** Writes `text` and a newline to stdout, resolving once it is flushed (a pipe may be slow). */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(`${text}\n`, (err) => (err ? reject(err) : resolve())));
}

/**
 * Prints `json` as JSON, or the table of `head` and `rows`. `json` is what scripts get: complete,
 * with the same field names as the API.
 */
export async function print(format: OutputFormat, json: unknown, head: readonly string[], rows: () => readonly (readonly Cell[])[]): Promise<void> {
  if (format === 'json') return writeOut(toJson(json));
  return writeOut(await renderTable(head, rows()));
}
