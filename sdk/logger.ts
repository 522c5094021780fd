// The logger the SDK accepts: the subset of pino's API it uses, so an app passes its own pino
// logger (or nothing) and the SDK needs no logging dependency.
export interface SdkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): SdkLogger;
}

const noop = (): void => undefined;

/** Discards everything: the default when the app passes no logger. */
export const silentLogger: SdkLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
