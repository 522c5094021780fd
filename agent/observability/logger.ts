// One pino root logger per process; parts take `logger.child({ component })`, so every line says
// which part wrote it and secrets are redacted in one place.
import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths that may carry credentials; pino replaces their values before serialising. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  'headers.authorization',
  'headers["dapr-api-token"]',
  'req.headers.authorization',
  'req.headers["dapr-api-token"]',
  'metadata.authorization',
  'err.rawPacket',
  'rawPacket',
  'password',
  '*.password',
];

export interface LoggerOptions {
  level: string;
  /** Bound on every line: process role, generation, version. */
  base?: Record<string, unknown>;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { pid: process.pid, ...options.base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
