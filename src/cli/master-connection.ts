/**
 * The CLI's connection to a master. The address comes from `--master host:port`, else from the
 * configuration (`master.advertiseAddress`, i.e. TIDAL_MASTER_ADVERTISE_ADDRESS, else
 * `127.0.0.1:{master.port}`, i.e. TIDAL_MASTER_PORT, default 53100). Connecting pings the master
 * with a short deadline, so an unreachable master is one clear error within seconds, not a hang.
 */
import { ErrorCode, errors, TidalError } from '../common/errors.js';
import { MasterClient } from '../proxy/master-client.js';

/** How long the first call (Ping) may take before the master counts as unreachable, ms. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Deadline of the calls after it, ms (Flush waits for segments to flush, up to 60 s). */
export const CALL_DEADLINE_MS = 70_000;

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:,[\]]+):(\d{1,5})$/;

/** Options every master-facing command takes. */
export interface MasterOptions {
  master?: string;
  config?: string;
}

/**
 * The master address: `--master`, else the configuration's. Throws INVALID_ARGUMENT for an address
 * that is not host:port, or when the configuration names no usable address (port 0).
 */
export async function resolveMasterAddress(opts: MasterOptions): Promise<string> {
  if (opts.master !== undefined) {
    const match = HOST_PORT.exec(opts.master);
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || port < 1 || port > 65535) throw errors.invalidArgument(`--master must be host:port (port 1-65535), got ${JSON.stringify(opts.master)}`);
    return opts.master;
  }
  // Loaded only when needed: the config schema (zod, yaml) is a noticeable part of start-up.
  const { loadConfig } = await import('../common/config.js');
  const cfg = loadConfig({ file: opts.config });
  if (cfg.master.advertiseAddress !== '') return cfg.master.advertiseAddress;
  if (cfg.master.port === 0) throw errors.invalidArgument('no master address: master.port is 0 (any free port); pass --master host:port');
  return `127.0.0.1:${cfg.master.port}`;
}

/** A connected master (a {@link MasterClient} with the CLI's long call deadline). */
export class MasterConnection {
  private constructor(
    readonly address: string,
    readonly client: MasterClient,
  ) {}

  /**
   * Connects to `address` and pings it. Throws UNAVAILABLE `cannot reach the master at ...` when it
   * does not answer within `connectTimeoutMs`.
   */
  static async connect(address: string, connectTimeoutMs = CONNECT_TIMEOUT_MS): Promise<MasterConnection> {
    const probe = new MasterClient(address, { deadlineMs: connectTimeoutMs });
    try {
      await probe.call('ping', {});
    } catch (err) {
      const why = (err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)).replace(/\.?\s*Resolution note:.*$/, '');
      throw new TidalError(ErrorCode.Unavailable, `cannot reach the master at ${address} within ${connectTimeoutMs} ms (${why}); is it running? (--master host:port)`, {
        cause: err,
      });
    } finally {
      probe.close();
    }
    const client = new MasterClient(address, { deadlineMs: CALL_DEADLINE_MS });
    return new MasterConnection(address, client);
  }

  /** Closes the channel. Safe to call twice. */
  close(): void {
    this.client.close();
  }
}

/** Connects (see {@link MasterConnection.connect}), runs `fn`, closes. */
export async function withMaster<T>(opts: MasterOptions, fn: (conn: MasterConnection) => Promise<T>): Promise<T> {
  const conn = await MasterConnection.connect(await resolveMasterAddress(opts));
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

