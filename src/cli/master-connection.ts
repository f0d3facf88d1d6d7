/**
 * The CLI's connection to a master. The address comes from `--master host:port`, else from the
 * configuration (`master.advertiseAddress`, i.e. TIDAL_MASTER_ADVERTISE_ADDRESS, else
 * `127.0.0.1:{master.port}`, i.e. TIDAL_MASTER_PORT, default 53100). Connecting pings the master
 * with a short deadline, so an unreachable master is one clear error within seconds, not a hang.
 */
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errors, TidalError } from '../common/errors.js';
import { serviceErrorToError, throwIfError } from '../common/grpc-status.js';
import type { Status } from '../gen/common.js';
import * as m from '../gen/master.js';
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

/** The two operator RPCs not (yet) in MasterClient's method table, called the same way. */
type OperatorMethod = 'showChannels' | 'showNodes';
type OperatorRequest<K extends OperatorMethod> = K extends 'showChannels' ? m.ShowChannelsRequest : m.ShowNodesRequest;
type OperatorResponse<K extends OperatorMethod> = K extends 'showChannels' ? m.ShowChannelsResponse : m.ShowNodesResponse;

/** A connected master: {@link MasterClient} plus the operator RPCs. */
export class MasterConnection {
  private constructor(
    readonly address: string,
    readonly client: MasterClient,
    private readonly raw: m.MasterClient,
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
    const raw = new m.MasterClient(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    return new MasterConnection(address, client, raw);
  }

  /** Calls an operator RPC (ShowChannels, ShowNodes); throws the TidalError its status reports. */
  callOperator<K extends OperatorMethod>(method: K, request: Partial<OperatorRequest<K>>): Promise<OperatorResponse<K>> {
    const full = method === 'showChannels' ? m.ShowChannelsRequest.fromPartial(request) : m.ShowNodesRequest.fromPartial(request);
    return new Promise((resolve, reject) => {
      const fn = this.raw[method] as unknown as (
        req: unknown,
        options: { deadline: Date },
        cb: (err: ServiceError | null, res: OperatorResponse<K>) => void,
      ) => unknown;
      fn.call(this.raw, full, { deadline: new Date(Date.now() + CALL_DEADLINE_MS) }, (err, res) => {
        if (err) return reject(serviceErrorToError(err, { rpc: method, address: this.address }));
        try {
          throwIfError((res as { status?: Status }).status, { rpc: method, address: this.address });
          resolve(res);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Closes both channels. Safe to call twice. */
  close(): void {
    this.client.close();
    this.raw.close();
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

