// One monotonic clock for the load path, shared by the main thread and the ticker thread
// (CLOCK_MONOTONIC via hrtime; performance.now() has a per-thread origin).
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
