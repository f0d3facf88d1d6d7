/**
 * Routes kafkajs's log lines into Tidal's pino logger (component `kafkajs`, with kafkajs's
 * namespace), so nothing is printed to stdout behind the caller's back.
 */
import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../../common/log.js';

/**
 * kafkajs lines that describe a choice Tidal made on purpose, logged at debug instead of warn:
 * bounded retries for the idempotent producer (an unreachable broker must surface as an error
 * rather than hang a produce forever).
 */
const EXPECTED_WARNINGS: ReadonlySet<string> = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);

/** A kafkajs `logCreator` writing to `logger`. kafkajs ERROR lines become warn: kafkajs logs an error for every retried request. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry as { message: string; timestamp?: string; logger?: string; [k: string]: unknown };
      const obj = { namespace, ...fields };
      if (EXPECTED_WARNINGS.has(message)) {
        log.debug(obj, message);
        return;
      }
      switch (level) {
        case logLevel.ERROR:
        case logLevel.WARN:
          log.warn(obj, message);
          break;
        case logLevel.INFO:
          log.debug(obj, message);
          break;
        default:
          log.trace(obj, message);
      }
    };
}

/** The kafkajs log level matching a pino logger's level (kafkajs skips building lines nobody reads). */
export function kafkaLogLevel(logger: Logger): logLevel {
  switch (logger.level) {
    case 'silent':
      return logLevel.NOTHING;
    case 'fatal':
    case 'error':
      return logLevel.NOTHING;
    case 'warn':
      return logLevel.WARN;
    case 'info':
      return logLevel.WARN;
    case 'debug':
      return logLevel.INFO;
    default:
      return logLevel.DEBUG;
  }
}
