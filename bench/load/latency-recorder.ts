// HDR histogram of latencies in microseconds (3 significant digits), summarised in milliseconds.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { LatencySummary } from './load-protocol.js';

/** 10 minutes in microseconds: anything slower is clamped (and is an outage, not a latency). */
const HIGHEST_US = 600_000_000;

export class LatencyRecorder {
  readonly #histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });

  /** Records one latency given in (fractional) milliseconds. */
  recordMs(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#histogram.recordValue(Math.min(Math.max(us, 1), HIGHEST_US));
  }

  /** Adds a histogram encoded by summary() (rounds of one row measured apart). */
  addEncoded(encoded: string): void {
    if (encoded !== '') this.#histogram.add(decodeFromCompressedBase64(encoded));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  summary(): LatencySummary {
    const h = this.#histogram;
    const ms = (us: number): number => us / 1000;
    return {
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
      count: h.totalCount,
      encoded: h.totalCount > 0 ? encodeIntoCompressedBase64(h) : '',
    };
  }
}
