// One unary method of hearth.runtime.v1, independent of the transport that carries it: the
// metrics name of the call and the mapping from the request message (the proto-loader shape,
// generated in @hearth/protocol) to the RuntimeApi and back. gRPC and wire serve the
// same tables, so the two cannot map a message differently.
import type { CallContext } from '../../building-blocks/runtime-api.js';

export interface UnaryMethod<Req = unknown, Res = unknown> {
  /** Metrics and log name, e.g. `state.get`. */
  readonly api: string;
  /** Throws a HearthError for anything the caller got wrong. */
  run(ctx: CallContext, request: Req): Promise<Res> | Res;
}

/** Methods by full path without the leading slash: `hearth.runtime.v1.State/GetState`. */
export type MethodTable = Readonly<Record<string, UnaryMethod>>;


/** Builds a typed table entry; the method syntax of `run` lets typed entries sit in one table. */
export function method<Req, Res>(api: string, run: (ctx: CallContext, request: Req) => Promise<Res> | Res): UnaryMethod<Req, Res> {
  return { api, run };
}
