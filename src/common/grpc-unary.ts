/**
 * Glue between async handlers and @grpc/grpc-js unary calls. A handler returns its response or
 * throws; a thrown error becomes the response's `status` (code, reason, retriable), never a
 * transport error, so clients read one place for every failure.
 */
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { errorToStatus } from './grpc-status.js';
import type { Logger } from './log.js';
import type { Status } from '../gen/common.js';
import { ErrorCode, TidalError } from './errors.js';

/** What ts-proto generates for every message: enough to build a response from a partial. */
export interface ResponseFns<T> {
  fromPartial(object: { status?: Status } & Record<string, unknown>): T;
}

/** Logs a failed call: a TidalError (the caller's or a backend's problem) at debug, anything else as an error. */
export function logRpcFailure(log: Logger, rpc: string, err: unknown): void {
  if (err instanceof TidalError && err.code !== ErrorCode.Internal) log.debug({ rpc, code: err.code, reason: err.message }, 'rpc failed');
  else log.error({ rpc, err }, 'rpc failed with an unexpected error');
}

/** A unary handler: `fn`'s response, or `failed(status of the error)` when it throws. */
function handler<Req, Res>(
  log: Logger,
  rpc: string,
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  failed: (status: Status) => Res,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => {
        logRpcFailure(log, rpc, err);
        callback(null, failed(errorToStatus(err)));
      },
    );
  };
}

/** A unary handler whose response message holds a `status` field. */
export function unary<Req, Res>(
  log: Logger,
  rpc: string,
  type: ResponseFns<Res>,
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return handler(log, rpc, fn, (status) => type.fromPartial({ status }));
}

/** A unary handler whose response is a bare `common.Status`. */
export function unaryStatus<Req>(
  log: Logger,
  rpc: string,
  fn: (request: Req, call: ServerUnaryCall<Req, Status>) => Promise<Status>,
): handleUnaryCall<Req, Status> {
  return handler(log, rpc, fn, (status) => status);
}
