// Finding a method's codec and (de)serialising with it, with failures turned into coded errors:
// a request that cannot be encoded never leaves (sent false); a response that cannot be decoded
// came back from the agent (sent true).
import { HearthClientError } from '../errors.js';
import { runtimeMethods, type MethodCodec } from './runtime-methods.js';

export function codecFor(method: string): MethodCodec {
  const codec = runtimeMethods().get(method);
  if (!codec) throw new HearthClientError('HEARTH_ERR_NOT_FOUND', `no method ${method} in hearth.runtime.v1`, { sent: false });
  return codec;
}

export function serialize(codec: MethodCodec, message: object): Buffer {
  try {
    return codec.serializeRequest(message);
  } catch (err) {
    throw new HearthClientError('HEARTH_ERR_MALFORMED_REQUEST', `the ${codec.path} request could not be encoded: ${(err as Error).message}`, { sent: false, cause: err });
  }
}

export function deserialize(codec: MethodCodec, body: Buffer): object {
  try {
    return codec.deserializeResponse(body) as object;
  } catch (err) {
    throw new HearthClientError('HEARTH_ERR_INTERNAL', `the ${codec.path} response could not be decoded: ${(err as Error).message}`, { sent: true, cause: err });
  }
}
