// JSON-schema validation of route inputs (ajv through fastify's validatorCompiler). Bodies are
// validated strictly — no type coercion, so `{"key": 1}` is rejected as Dapr rejects it — while
// params and query strings, which are always text, are coerced. The Ajv instances are shared by
// every app's server, so each route schema compiles once per process.
import { Ajv } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

const common = {
  allErrors: false,
  useDefaults: true,
  removeAdditional: false,
  strictSchema: true,
  strictNumbers: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  allowUnionTypes: true,
} as const;
const strictAjv = new Ajv({ ...common, coerceTypes: false });
const coercingAjv = new Ajv({ ...common, coerceTypes: 'array' });

// Ajv caches compiled validators by schema object, so per-app servers share them.
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema as object);

// ---- shared schema fragments ----
/** A metadata map; `null` reads as none, as Dapr accepts it (its JS SDK sends `"metadata": null`). */
export const stringMap = {
  type: ['object', 'null'],
  additionalProperties: { type: ['string', 'number', 'boolean'] },
} as const;

export const storeParams = {
  type: 'object',
  required: ['store'],
  properties: { store: { type: 'string', minLength: 1 } },
} as const;
