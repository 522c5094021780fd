// The logger the protocol's connection (and the SDK) accepts: the subset of pino's API they use, so
// an app passes its own pino logger (or nothing) and a client needs no logging dependency.
export interface ProtocolLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): ProtocolLogger;
}

const noop = (): void => undefined;

/** Discards everything: the default when the app passes no logger. */
export const silentLogger: ProtocolLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
