// Ticker thread: sleeps (Atomics.wait, sub-millisecond) until each scheduled instant and posts the
// tick index to the main thread. A sleeping thread costs no CPU, unlike a setImmediate spin on the
// main thread, and setTimeout's 1 ms granularity would add up to 1 ms to every intended-start
// latency. The main thread stops it by storing 1 in the control word and notifying.
import { parentPort, workerData } from 'node:worker_threads';
import { monoMs } from './mono-clock.js';

interface TickerData {
  startMs: number;
  intervalMs: number;
  ticks: number;
  control: SharedArrayBuffer;
}

function isTickerData(value: unknown): value is TickerData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.startMs === 'number' && typeof v.intervalMs === 'number' && typeof v.ticks === 'number'
    && v.control instanceof SharedArrayBuffer;
}

function run(): void {
  const port = parentPort;
  if (port === null || !isTickerData(workerData)) throw new Error('ticker-thread: bad workerData');
  const { startMs, intervalMs, ticks } = workerData;
  const control = new Int32Array(workerData.control);
  for (let k = 0; k < ticks; k++) {
    const due = startMs + k * intervalMs;
    // Bounded: each wait ends at `due` at the latest, or at once when told to stop.
    for (let rest = due - monoMs(); rest > 0; rest = due - monoMs()) {
      if (Atomics.wait(control, 0, 0, rest) === 'not-equal') return;
    }
    if (Atomics.load(control, 0) !== 0) return;
    port.postMessage(k);
  }
}

run();
