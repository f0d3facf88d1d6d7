/**
 * Logging: pino, created once and injected. Components take a `Logger` and derive children
 * (`log.child({ component: 'sync-manager', vchannel })`). Fixed message text; data in fields.
 */
import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

export type Logger = PinoLogger;

/** Creates the root logger. `level` is a pino level name; 'silent' turns logging off. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'tidal',
    // Never log secrets: these keys are redacted wherever they appear in a log object.
    redact: {
      paths: ['*.secretAccessKey', '*.password', '*.token', 'secretAccessKey', 'password', 'token'],
      censor: '[redacted]',
    },
  };
  return pino(opts);
}

/** A logger that writes nothing, for tests and library defaults. */
export const silentLogger: Logger = pino({ level: 'silent' });
