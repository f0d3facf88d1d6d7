/**
 * Maps kafkajs errors to TidalError, by the Kafka protocol error `type` found anywhere in the
 * error's cause chain (kafkajs wraps the broker's error in retry and aggregate errors).
 */
import { ErrorCode, TidalError } from '../../common/errors.js';

/** Kafka protocol error types and the Tidal code each becomes. */
const CODE_BY_TYPE: Readonly<Record<string, ErrorCode>> = {
  UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.NotFound,
  UNKNOWN_TOPIC_ID: ErrorCode.NotFound,
  OFFSET_OUT_OF_RANGE: ErrorCode.OffsetOutOfRange,
  MESSAGE_TOO_LARGE: ErrorCode.ResourceExhausted,
  RECORD_LIST_TOO_LARGE: ErrorCode.ResourceExhausted,
  INVALID_TOPIC_EXCEPTION: ErrorCode.InvalidArgument,
  INVALID_PARTITIONS: ErrorCode.InvalidArgument,
  INVALID_REPLICATION_FACTOR: ErrorCode.InvalidArgument,
  INVALID_CONFIG: ErrorCode.InvalidArgument,
  TOPIC_ALREADY_EXISTS: ErrorCode.AlreadyExists,
  REQUEST_TIMED_OUT: ErrorCode.Timeout,
};

interface KafkaLikeError {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
  errors?: unknown[];
  partitions?: { error?: unknown }[];
}

/** Every error reachable from `err` through `cause`, `errors` (aggregates) and per-partition errors. */
function* errorChain(err: unknown, depth = 0): Generator<KafkaLikeError> {
  if (depth > 8 || err === null || typeof err !== 'object') return;
  const e = err as KafkaLikeError;
  yield e;
  if (e.cause !== undefined && e.cause !== err) yield* errorChain(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorChain(inner, depth + 1);
  if (Array.isArray(e.partitions)) for (const p of e.partitions) yield* errorChain(p?.error, depth + 1);
}

/** The Kafka protocol error type (e.g. `UNKNOWN_TOPIC_OR_PARTITION`) inside `err`, if any. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (const e of errorChain(err)) if (typeof e.type === 'string') return e.type;
  return undefined;
}

/**
 * `err` as a TidalError: a TidalError is returned as it is; a kafkajs error becomes the code of its
 * protocol error type, else BACKEND_UNAVAILABLE (retriable unless kafkajs said otherwise).
 * `what` names the operation ("produce to channel x") for the message.
 */
export function fromKafkaError(err: unknown, what: string, context: Record<string, unknown> = {}): TidalError {
  if (err instanceof TidalError) return err;
  const type = kafkaErrorType(err);
  const detail = err instanceof Error ? err.message : String(err);
  const code = type === undefined ? undefined : CODE_BY_TYPE[type];
  if (code !== undefined) {
    return new TidalError(code, `${what}: ${detail}`, { cause: err, context: { ...context, kafkaError: type } });
  }
  let retriable = true;
  for (const e of errorChain(err)) {
    if (e.retriable === false && e.name !== 'KafkaJSNumberOfRetriesExceeded') retriable = false;
  }
  return new TidalError(ErrorCode.BackendUnavailable, `${what}: ${detail}`, {
    cause: err,
    retriable,
    context: { ...context, ...(type === undefined ? {} : { kafkaError: type }) },
  });
}
