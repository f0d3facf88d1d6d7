/**
 * What the server commands (`tidal master | datanode | standalone`) share: their `--port` check and
 * the run-until-signal loop. Light on purpose: the CLI imports it at start.
 */
import { errors } from '../common/errors.js';

/** Runs until SIGINT/SIGTERM, then runs `close` and exits 0 (1 if it failed; 130 on a second signal). */
export function runUntilSignal(close: () => Promise<void>): void {
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

/** Parses a `--port` value; INVALID_ARGUMENT unless it is an integer 0..65535. */
export function parsePort(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw errors.invalidArgument(`--port must be an integer from 0 to 65535 (0: any free port), got "${raw}"`);
  return Number(raw);
}
