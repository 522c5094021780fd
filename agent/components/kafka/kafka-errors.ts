// Maps what kafkajs throws to the error catalog. kafkajs errors carry a `name` (and protocol
// errors a `type` from the Kafka protocol); anything about reaching the cluster is
// BACKEND_UNAVAILABLE, a request that outlived its deadline is TIMEOUT.
import { HearthError } from '../../errors/hearth-error.js';

interface KafkaJsErrorShape {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly message?: unknown;
  readonly cause?: KafkaJsErrorShape | null;
}

/** The innermost cause (kafkajs wraps retried errors in KafkaJSNumberOfRetriesExceeded). */
function rootCause(err: unknown): KafkaJsErrorShape {
  let e = err as KafkaJsErrorShape | null;
  for (let i = 0; i < 5 && e?.cause; i++) e = e.cause;
  return e ?? {};
}

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const INVALID = new Set(['INVALID_TOPIC_EXCEPTION', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/** What went wrong, in the words of the innermost kafkajs error (for logs and health details). */
export function kafkaErrorText(err: unknown): string {
  const message = rootCause(err).message;
  return typeof message === 'string' ? message : String(err);
}

export function toKafkaError(err: unknown, component: string, what: string): HearthError {
  if (err instanceof HearthError) return err;
  const root = rootCause(err);
  const type = typeof root.type === 'string' ? root.type : '';
  const name = typeof root.name === 'string' ? root.name : '';
  const text = `component "${component}": ${what} failed: ${kafkaErrorText(err)}`;
  if (TOO_LARGE.has(type)) return new HearthError('HEARTH_ERR_BODY_TOO_LARGE', text, undefined, { cause: err });
  if (INVALID.has(type)) return new HearthError('HEARTH_ERR_INVALID_ARGUMENT', text, undefined, { cause: err });
  if (name === 'KafkaJSRequestTimeoutError' || type === 'REQUEST_TIMED_OUT') {
    return new HearthError('HEARTH_ERR_TIMEOUT', text, undefined, { cause: err });
  }
  return new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', text, undefined, { cause: err });
}

/** Kafka's legal topic characters; Hearth topic names outside them cannot be served by Kafka. */
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export function checkKafkaTopic(kafkaTopic: string, topic: string): void {
  if (!KAFKA_TOPIC.test(kafkaTopic) || kafkaTopic === '.' || kafkaTopic === '..') {
    throw new HearthError(
      'HEARTH_ERR_INVALID_ARGUMENT',
      `topic "${topic}" is not a valid Kafka topic name (letters, digits, ".", "_" and "-", at most 249 with the prefix)`,
      { topic },
    );
  }
}
