// Routes kafkajs' own logs into the component's pino logger at sane levels. kafkajs logs every
// failed connection attempt and consumer restart as ERROR; while Kafka is down that is the
// expected state, which the component reports through health() and one warning per transition,
// so those lines go to debug. Its INFO lines (joins, pauses) are debug detail too.
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

/** Expected while brokers are unreachable; the component logs the transition itself. */
const OUTAGE_NOISE = [
  /Connection error/i,
  /Connection timeout/i,
  /Failed to connect to seed broker/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/,
  /^Crash: /,
  /^Restarting the consumer/,
  /has closed connection/i,
  /Request .* timed out/i,
];

/** Known, harmless warnings (documented choices of this component). */
const KNOWN_WARNINGS = [/switched default partitioner/, /Limiting retries for the idempotent producer/];

function pinoLevel(entry: LogEntry): 'warn' | 'error' | 'debug' | 'trace' {
  const message = entry.log.message;
  switch (entry.level) {
    case logLevel.ERROR:
      return OUTAGE_NOISE.some((re) => re.test(message)) ? 'debug' : 'error';
    case logLevel.WARN:
      return KNOWN_WARNINGS.some((re) => re.test(message)) ? 'debug' : 'warn';
    case logLevel.INFO:
      return 'debug';
    default:
      return 'trace';
  }
}

/** The kafkajs level to ask for: nothing below what the pino logger would print anyway. */
export function kafkaLogLevel(logger: Logger): logLevel {
  if (logger.isLevelEnabled('trace')) return logLevel.DEBUG;
  if (logger.isLevelEnabled('debug')) return logLevel.INFO;
  return logLevel.WARN;
}

export function kafkaLogCreator(logger: Logger): logCreator {
  const log = logger.child({ lib: 'kafkajs' });
  return () => (entry) => {
    const level = pinoLevel(entry);
    if (!log.isLevelEnabled(level)) return;
    // kafkajs puts its own timestamp and an `error` string beside the message.
    const { message, timestamp: _timestamp, ...extra } = entry.log;
    log[level]({ namespace: entry.namespace, ...extra }, message);
  };
}
