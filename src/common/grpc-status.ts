/**
 * The one table between Tidal's error codes, the proto `tidal.common.ErrorCode` carried in every
 * response's `Status`, and gRPC status codes — and the conversions built on it.
 *
 * Tidal RPCs report failures in the response's `Status` (code, reason, retriable), so the
 * TidalError code survives the wire exactly. A gRPC error (a `ServiceError`) is used only when a
 * handler cannot build a response; it then carries the Tidal code and retriability in trailing
 * metadata (`tidal-error-code`, `tidal-retriable`). Errors without that metadata (transport
 * failures, deadlines) are mapped from their gRPC status by {@link GRPC_TO_ERROR_CODE}.
 * docs/errors.md documents every row; a unit test keeps the two in step.
 */
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode as ProtoErrorCode, type Status as ProtoStatus } from '../gen/common.js';
import { ErrorCode, TidalError, type TidalErrorOptions } from './errors.js';

/** One row of the table: how a Tidal code travels. */
export interface ErrorCodeMapping {
  /** The value in `common.Status.code`. */
  readonly proto: ProtoErrorCode;
  /** The gRPC status of a ServiceError with this code. */
  readonly grpc: GrpcStatus;
}

/** Tidal code → proto code and gRPC status. Complete by type: adding an ErrorCode without a row fails to compile. */
export const ERROR_CODE_TABLE: Readonly<Record<ErrorCode, ErrorCodeMapping>> = Object.freeze({
  [ErrorCode.InvalidArgument]: { proto: ProtoErrorCode.InvalidArgument, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.NotFound]: { proto: ProtoErrorCode.NotFound, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.AlreadyExists]: { proto: ProtoErrorCode.AlreadyExists, grpc: GrpcStatus.ALREADY_EXISTS },
  [ErrorCode.FailedPrecondition]: { proto: ProtoErrorCode.FailedPrecondition, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.Unavailable]: { proto: ProtoErrorCode.Unavailable, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.BackendUnavailable]: { proto: ProtoErrorCode.BackendUnavailable, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.Timeout]: { proto: ProtoErrorCode.Timeout, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  [ErrorCode.Cancelled]: { proto: ProtoErrorCode.Cancelled, grpc: GrpcStatus.CANCELLED },
  // etcd answers a compacted revision with OUT_OF_RANGE too; both mean "what you asked for is gone".
  [ErrorCode.OffsetOutOfRange]: { proto: ProtoErrorCode.OffsetOutOfRange, grpc: GrpcStatus.OUT_OF_RANGE },
  [ErrorCode.Compacted]: { proto: ProtoErrorCode.Compacted, grpc: GrpcStatus.OUT_OF_RANGE },
  // ABORTED: the caller lost its claim (leadership, channel ownership) and must start over.
  [ErrorCode.LeaseLost]: { proto: ProtoErrorCode.LeaseLost, grpc: GrpcStatus.ABORTED },
  [ErrorCode.Corrupted]: { proto: ProtoErrorCode.Corrupted, grpc: GrpcStatus.DATA_LOSS },
  [ErrorCode.ResourceExhausted]: { proto: ProtoErrorCode.ResourceExhausted, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  // A closed component on the server: the client should go to another server.
  [ErrorCode.Closed]: { proto: ProtoErrorCode.Closed, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.Internal]: { proto: ProtoErrorCode.Internal, grpc: GrpcStatus.INTERNAL },
});

const PROTO_TO_ERROR_CODE: ReadonlyMap<ProtoErrorCode, ErrorCode> = new Map(
  (Object.entries(ERROR_CODE_TABLE) as Array<[ErrorCode, ErrorCodeMapping]>).map(([code, m]) => [m.proto, code]),
);

/**
 * gRPC status → Tidal code, for gRPC errors that carry no Tidal code (transport failures,
 * deadlines, servers that are not Tidal). Several Tidal codes share a gRPC status; this picks the
 * general one.
 */
export const GRPC_TO_ERROR_CODE: Readonly<Record<Exclude<GrpcStatus, GrpcStatus.OK>, ErrorCode>> = Object.freeze({
  [GrpcStatus.CANCELLED]: ErrorCode.Cancelled,
  [GrpcStatus.UNKNOWN]: ErrorCode.Internal,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorCode.InvalidArgument,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorCode.Timeout,
  [GrpcStatus.NOT_FOUND]: ErrorCode.NotFound,
  [GrpcStatus.ALREADY_EXISTS]: ErrorCode.AlreadyExists,
  [GrpcStatus.PERMISSION_DENIED]: ErrorCode.FailedPrecondition,
  [GrpcStatus.RESOURCE_EXHAUSTED]: ErrorCode.ResourceExhausted,
  [GrpcStatus.FAILED_PRECONDITION]: ErrorCode.FailedPrecondition,
  // gRPC: "retry at a higher level"; without a Tidal code we cannot tell it is a lost lease.
  [GrpcStatus.ABORTED]: ErrorCode.Unavailable,
  [GrpcStatus.OUT_OF_RANGE]: ErrorCode.InvalidArgument,
  // The server does not know the method: a version mismatch, not something a retry fixes.
  [GrpcStatus.UNIMPLEMENTED]: ErrorCode.FailedPrecondition,
  [GrpcStatus.INTERNAL]: ErrorCode.Internal,
  [GrpcStatus.UNAVAILABLE]: ErrorCode.Unavailable,
  [GrpcStatus.DATA_LOSS]: ErrorCode.Corrupted,
  [GrpcStatus.UNAUTHENTICATED]: ErrorCode.FailedPrecondition,
});

/** Trailing-metadata key holding the Tidal code of a ServiceError. */
export const ERROR_CODE_METADATA_KEY = 'tidal-error-code';
/** Trailing-metadata key holding `true`/`false`: whether the ServiceError is retriable. */
export const RETRIABLE_METADATA_KEY = 'tidal-retriable';

const TIDAL_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** The gRPC status a Tidal code travels as. */
export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  return ERROR_CODE_TABLE[code].grpc;
}

/** The proto `common.ErrorCode` of a Tidal code. */
export function protoErrorCodeOf(code: ErrorCode): ProtoErrorCode {
  return ERROR_CODE_TABLE[code].proto;
}

/** The Tidal code of a proto code; undefined for Success and for codes this build does not know. */
export function errorCodeFromProto(code: ProtoErrorCode): ErrorCode | undefined {
  return PROTO_TO_ERROR_CODE.get(code);
}

/** The Tidal code for a gRPC status without Tidal metadata; undefined for OK. */
export function errorCodeFromGrpc(code: GrpcStatus): ErrorCode | undefined {
  if (code === GrpcStatus.OK) return undefined;
  return GRPC_TO_ERROR_CODE[code] ?? ErrorCode.Internal;
}

/** A fresh Success status (put it in every successful response). */
export function successStatus(): ProtoStatus {
  return { code: ProtoErrorCode.Success, reason: '', retriable: false };
}

/**
 * The response Status for an error: a TidalError keeps its code, message and retriability;
 * anything else becomes INTERNAL with its message (not retriable), since only a bug throws those.
 */
export function errorToStatus(err: unknown): ProtoStatus {
  if (err instanceof TidalError) {
    return { code: protoErrorCodeOf(err.code), reason: err.message, retriable: err.retriable };
  }
  const reason = err instanceof Error ? err.message : String(err);
  return { code: ProtoErrorCode.Internal, reason: `internal error: ${reason}`, retriable: false };
}

/** True when a response status is Success. A missing status is not. */
export function isSuccess(status: ProtoStatus | undefined): boolean {
  return status !== undefined && status.code === ProtoErrorCode.Success;
}

/**
 * The TidalError a response Status stands for, or undefined for Success. A missing status and a
 * code this build does not know (a newer server) become INTERNAL. `context` is attached to the
 * error (e.g. `{ rpc: 'AllocTimestamp', address }`).
 */
export function statusToError(status: ProtoStatus | undefined, context?: Record<string, unknown>): TidalError | undefined {
  if (status === undefined) {
    return new TidalError(ErrorCode.Internal, 'response has no status', { context, retriable: false });
  }
  if (status.code === ProtoErrorCode.Success) return undefined;
  const code = errorCodeFromProto(status.code);
  if (code === undefined) {
    return new TidalError(ErrorCode.Internal, `unknown error code ${status.code}: ${status.reason}`, {
      context: { ...context, protoCode: status.code },
      retriable: status.retriable,
    });
  }
  return new TidalError(code, status.reason, { context, retriable: status.retriable });
}

/** Throws the TidalError a response Status stands for; returns normally on Success. */
export function throwIfError(status: ProtoStatus | undefined, context?: Record<string, unknown>): void {
  const err = statusToError(status, context);
  if (err !== undefined) throw err;
}

/**
 * A gRPC ServiceError for an error (what a handler passes to its callback when it cannot build a
 * response): gRPC status from the table, message as details, Tidal code and retriability in
 * metadata. Non-Tidal errors become INTERNAL.
 */
export function errorToServiceError(err: unknown): ServiceError {
  const tidal =
    err instanceof TidalError
      ? err
      : new TidalError(ErrorCode.Internal, `internal error: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
          retriable: false,
        });
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, tidal.code);
  metadata.set(RETRIABLE_METADATA_KEY, String(tidal.retriable));
  const code = grpcStatusOf(tidal.code);
  return Object.assign(new Error(tidal.message), { code, details: tidal.message, metadata });
}

/** The parts of a gRPC error this module reads (a client's ServiceError, or a bare StatusObject). */
export type GrpcErrorLike = Pick<ServiceError, 'code' | 'details'> & { metadata?: Metadata | undefined; message?: string };

/**
 * The TidalError for a gRPC error: the Tidal code and retriability from its metadata when a Tidal
 * server sent them, else mapped from the gRPC status (retriability: the code's default).
 */
export function serviceErrorToError(err: GrpcErrorLike, context?: Record<string, unknown>): TidalError {
  const fromMeta = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const retriableMeta = err.metadata?.get(RETRIABLE_METADATA_KEY)[0];
  const message = err.details || err.message || `gRPC status ${err.code}`;
  const options: TidalErrorOptions = { cause: err, context: { ...context, grpcCode: err.code } };
  if (retriableMeta !== undefined) options.retriable = String(retriableMeta) === 'true';
  const code =
    typeof fromMeta === 'string' && TIDAL_CODES.has(fromMeta)
      ? (fromMeta as ErrorCode)
      : (errorCodeFromGrpc(err.code) ?? ErrorCode.Internal);
  return new TidalError(code, message, options);
}
