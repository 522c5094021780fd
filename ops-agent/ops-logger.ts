// The ops-agent's root logger: pino JSON lines on stdout, one per event, `role: ops-agent` on
// each (workers log with `role: worker`, so one journal reads as one story).
import { pino, type Logger } from 'pino';

export function createOpsLogger(level: string, pid: number, version: string): Logger {
  return pino({
    level,
    base: { role: 'ops-agent', pid, version },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}
