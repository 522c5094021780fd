// App data in and out of the SDK. Apps pass a Buffer (bytes as is), a string (UTF-8 text) or any
// other value (JSON); what comes back is a Payload: the bytes plus text()/json() readers, so the
// app decides how to read it and the SDK never guesses.
export type Value = Buffer | Uint8Array | string | number | boolean | null | object;

export const OCTET_STREAM = 'application/octet-stream';
export const TEXT_PLAIN = 'text/plain; charset=utf-8';
export const APPLICATION_JSON = 'application/json';

/** Bytes and the content type that describes them; `contentType` wins when the app gives one. */
export function encodeValue(value: Value, contentType?: string): { data: Buffer; contentType: string } {
  if (Buffer.isBuffer(value)) return { data: value, contentType: contentType ?? OCTET_STREAM };
  if (value instanceof Uint8Array) return { data: Buffer.from(value.buffer, value.byteOffset, value.byteLength), contentType: contentType ?? OCTET_STREAM };
  if (typeof value === 'string') return { data: Buffer.from(value, 'utf8'), contentType: contentType ?? TEXT_PLAIN };
  return { data: Buffer.from(JSON.stringify(value), 'utf8'), contentType: contentType ?? APPLICATION_JSON };
}

export interface Payload {
  readonly data: Buffer;
  readonly contentType: string;
  /** The bytes as UTF-8 text. */
  text(): string;
  /** The bytes parsed as JSON (throws SyntaxError when they are not JSON). */
  json<T = unknown>(): T;
}

/** Adds text()/json() to a message's bytes; `extra` fields are copied onto the result. */
export function payload<E extends object>(data: Buffer | undefined, contentType: string | undefined, extra: E): Payload & E {
  const bytes = data ?? Buffer.alloc(0);
  return {
    ...extra,
    data: bytes,
    contentType: contentType ?? '',
    text: () => bytes.toString('utf8'),
    json: <T>() => JSON.parse(bytes.toString('utf8')) as T,
  };
}
