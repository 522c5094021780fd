// Wraps a service's (de)serializers so handlers learn the wire size of each message (metrics)
// and malformed protobuf becomes a coded error instead of grpc-js's uncoded INTERNAL.
import type * as grpc from '@grpc/grpc-js';

/** Stands in for a request whose bytes did not decode; handlers answer HEARTH_ERR_MALFORMED_REQUEST. */
export class MalformedMessage {
  constructor(
    readonly reason: string,
    readonly bytes: number,
  ) {}
}

const wireBytes = new WeakMap<object, number>();

/** Wire size of a decoded request or of a response once grpc-js serialised it; 0 when unknown. */
export function messageBytes(message: unknown): number {
  return typeof message === 'object' && message !== null ? (wireBytes.get(message) ?? 0) : 0;
}

export function isMalformed(message: unknown): message is MalformedMessage {
  return message instanceof MalformedMessage;
}

export function instrumentService(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const m = method as grpc.MethodDefinition<unknown, unknown>;
    out[name] = {
      ...m,
      requestDeserialize: (bytes: Buffer): unknown => {
        let message: unknown;
        try {
          message = m.requestDeserialize(bytes);
        } catch (err) {
          return new MalformedMessage((err as Error).message, bytes.length);
        }
        if (typeof message === 'object' && message !== null) wireBytes.set(message, bytes.length);
        return message;
      },
      responseSerialize: (value: unknown): Buffer => {
        const bytes = m.responseSerialize(value);
        if (typeof value === 'object' && value !== null) wireBytes.set(value, bytes.length);
        return bytes;
      },
    };
  }
  return out;
}
