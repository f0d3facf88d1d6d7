/**
 * Tidal's one error base class and its stable codes.
 *
 * Every error Tidal throws on purpose is a {@link TidalError} with a stable `code`. Callers branch
 * on `code` or `instanceof`, never on the message text. `retriable` tells the retry helper whether
 * trying again may succeed. The code → gRPC status table lives in `grpc-status.ts`.
 */

/** Stable error codes. Listed (with their meaning) in docs/errors.md; a test keeps the two in step. */
export const ErrorCode = {
  /** The request is malformed or a value is outside what is allowed. */
  InvalidArgument: 'INVALID_ARGUMENT',
  /** A named thing (collection, partition, segment, key, object, channel) does not exist. */
  NotFound: 'NOT_FOUND',
  /** A thing with that name or id already exists. */
  AlreadyExists: 'ALREADY_EXISTS',
  /** A precondition (transaction compare, ownership, state) does not hold. */
  FailedPrecondition: 'FAILED_PRECONDITION',
  /** The service is not ready (not initialised, not leader, shutting down); try again. */
  Unavailable: 'UNAVAILABLE',
  /** A backend (etcd, Kafka, S3) failed in a way that may pass. */
  BackendUnavailable: 'BACKEND_UNAVAILABLE',
  /** The operation did not finish in time. */
  Timeout: 'TIMEOUT',
  /** The operation was cancelled by its caller (AbortSignal) or by close(). */
  Cancelled: 'CANCELLED',
  /** A requested log offset is below the channel's earliest retained offset (deleted by retention). */
  OffsetOutOfRange: 'OFFSET_OUT_OF_RANGE',
  /** A watch start revision was compacted away; re-read the state and watch from a newer revision. */
  Compacted: 'COMPACTED',
  /** A lease expired or was revoked; keys under it are gone. */
  LeaseLost: 'LEASE_LOST',
  /** A message or file could not be decoded. */
  Corrupted: 'CORRUPTED',
  /** A size or count limit was exceeded. */
  ResourceExhausted: 'RESOURCE_EXHAUSTED',
  /** The component is closed. */
  Closed: 'CLOSED',
  /** A bug: something that should never happen did. */
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes that are worth retrying unless the thrower says otherwise. */
const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.Unavailable,
  ErrorCode.BackendUnavailable,
  ErrorCode.Timeout,
]);

export interface TidalErrorOptions {
  /** Overrides the code's default retriability. */
  retriable?: boolean;
  /** The underlying error. */
  cause?: unknown;
  /** Structured context (ids, names, limits); never secrets. */
  context?: Record<string, unknown>;
}

/** The base class of every error Tidal throws on purpose. */
export class TidalError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: TidalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TidalError';
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
    this.context = options.context ?? {};
  }
}

/** Shorthand constructors, so call sites read as the condition they report. */
export const errors = {
  invalidArgument: (message: string, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.InvalidArgument, message, { context }),
  notFound: (message: string, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.NotFound, message, { context }),
  alreadyExists: (message: string, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.AlreadyExists, message, { context }),
  failedPrecondition: (message: string, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.FailedPrecondition, message, { context }),
  unavailable: (message: string, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.Unavailable, message, { context }),
  backend: (message: string, cause: unknown, retriable = true, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.BackendUnavailable, message, { cause, retriable, context }),
  closed: (what: string) => new TidalError(ErrorCode.Closed, `${what} is closed`),
  corrupted: (message: string, cause?: unknown, context?: Record<string, unknown>) =>
    new TidalError(ErrorCode.Corrupted, message, { cause, context }),
};

/** True when `err` is a TidalError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is TidalError {
  return err instanceof TidalError && err.code === code;
}
