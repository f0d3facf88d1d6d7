/**
 * Maps etcd3 errors to TidalError. etcd3 turns gRPC failures into typed errors (GRPCUnavailableError,
 * EtcdLeaseInvalidError, ...) and marks the transient ones with its `RecoverableError` symbol;
 * the classes, not the messages, decide the code here, except for etcd's compaction error, which
 * reaches the client only as an OUT_OF_RANGE status with its message.
 */
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCFailedPreconditionError,
  GRPCInvalidArgumentError,
  GRPCNotImplementedError,
  GRPCOutOfRangeError,
  GRPCUnauthenticatedError,
  isRecoverableError,
} from 'etcd3';
import { ErrorCode, TidalError } from '../../common/errors.js';

/** etcd's ErrCompacted, as its message reaches the client (`etcdserver: mvcc: required revision has been compacted`). */
const COMPACTED_MESSAGE = 'required revision has been compacted';

/**
 * `err` as a TidalError: a TidalError is returned as it is; connection problems (unavailable,
 * deadline exceeded, cancelled, ...) become BACKEND_UNAVAILABLE, retriable; an expired or revoked
 * lease LEASE_LOST; a request etcd refuses INVALID_ARGUMENT; a compacted revision COMPACTED; a
 * closed client CLOSED; other etcd refusals (permissions, auth) BACKEND_UNAVAILABLE, not retriable.
 * `what` names the operation ("put key x") for the message.
 */
export function fromEtcdError(err: unknown, what: string, context: Record<string, unknown> = {}): TidalError {
  if (err instanceof TidalError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const message = `${what}: ${detail}`;
  const make = (code: ErrorCode, retriable?: boolean) =>
    new TidalError(code, message, { cause: err, context, ...(retriable === undefined ? {} : { retriable }) });
  if (err instanceof ClientClosedError) return make(ErrorCode.Closed);
  if (err instanceof EtcdLeaseInvalidError) return make(ErrorCode.LeaseLost);
  if (detail.includes(COMPACTED_MESSAGE)) return make(ErrorCode.Compacted);
  if (err instanceof GRPCInvalidArgumentError || err instanceof GRPCOutOfRangeError) return make(ErrorCode.InvalidArgument);
  if (err !== null && typeof err === 'object' && isRecoverableError(err as Error)) return make(ErrorCode.BackendUnavailable, true);
  if (
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof GRPCUnauthenticatedError ||
    err instanceof GRPCFailedPreconditionError ||
    err instanceof GRPCNotImplementedError
  ) {
    return make(ErrorCode.BackendUnavailable, false);
  }
  // Anything else (a socket error etcd3 did not classify, a broken circuit): may pass.
  return make(ErrorCode.BackendUnavailable, true);
}
