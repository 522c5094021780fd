// How a Hearth message is laid out in a Kafka record, and back.
//
//   key                  PublishMessage.key (the partition key), or null
//   value                the data as published; the API layer has already wrapped it in the
//                        CloudEvents JSON envelope unless the app asked for a raw payload, so with
//                        `content-type: application/cloudevents+json` this is the CloudEvents Kafka
//                        binding's structured mode, readable by any CloudEvents consumer
//   content-type         header: the message's content type
//   hearth-message-id    header: the message id, stable across redeliveries
//   <metadata key>       header per metadata entry, as is; keys that would collide with the
//                        headers above (content-type, hearth-*) travel as hearth-md-<key>
//
// Records produced by other clients (kcat, Java producers) are delivered too: every header that is
// not ours becomes metadata, the id is `<topic>/<partition>/<offset>`, the content type
// application/octet-stream unless they set a content-type header.
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { PublishMessage } from '../pubsub-broker.js';

export const HEADER_MESSAGE_ID = 'hearth-message-id';
export const HEADER_CONTENT_TYPE = 'content-type';
const OWN_PREFIX = 'hearth-';
const ESCAPED_METADATA = 'hearth-md-';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export interface DecodedMessage {
  readonly messageId: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly data: Buffer;
  readonly key: Buffer | undefined;
}

function reserved(key: string): boolean {
  const k = key.toLowerCase();
  return k === HEADER_CONTENT_TYPE || k.startsWith(OWN_PREFIX);
}

export function encodeRecord(message: PublishMessage, messageId: string): Message {
  const headers: IHeaders = { [HEADER_MESSAGE_ID]: messageId, [HEADER_CONTENT_TYPE]: message.contentType };
  for (const [key, value] of Object.entries(message.metadata)) {
    headers[reserved(key) ? `${ESCAPED_METADATA}${key}` : key] = value;
  }
  return { key: message.key ?? null, value: message.data, headers };
}

function headerText(value: IHeaders[string]): string | undefined {
  // A header sent several times arrives as an array; the last one wins, as in most clients.
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** `topic` is the Hearth topic (without the component's topicPrefix). */
export function decodeRecord(record: KafkaMessage, topic: string, partition: number): DecodedMessage {
  let messageId: string | undefined;
  let contentType: string | undefined;
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const text = headerText(value);
    if (text === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === HEADER_MESSAGE_ID) messageId = text;
    else if (lower === HEADER_CONTENT_TYPE) contentType = text;
    else if (lower.startsWith(ESCAPED_METADATA)) metadata[name.slice(ESCAPED_METADATA.length)] = text;
    else if (!lower.startsWith(OWN_PREFIX)) metadata[name] = text;
  }
  return {
    messageId: messageId || `${topic}/${partition}/${record.offset}`,
    contentType: contentType || DEFAULT_CONTENT_TYPE,
    metadata,
    data: record.value ?? Buffer.alloc(0),
    key: record.key ?? undefined,
  };
}

/** Everything but [A-Za-z0-9_-] percent-encoded, so the "." separators below stay unambiguous. */
function encodeGroupPart(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/**
 * The Kafka consumer group of a Hearth group on one topic: deterministic, so every worker of every
 * host and generation joins the same one; the (prefixed) topic is part of it because a Hearth
 * group consumes one topic and two deployments with different prefixes must not share groups.
 */
export function kafkaGroupId(group: string, kafkaTopic: string): string {
  return `hearth.${encodeGroupPart(group)}.${kafkaTopic}`;
}
