// CloudEvents 1.0 structured JSON envelope for published messages (what Dapr subscribers expect).
import { randomUUID } from 'node:crypto';
import { HearthError } from '../errors/hearth-error.js';
import { jsonDepthWithin, MAX_JSON_DEPTH } from './json-depth.js';
import type { Metadata } from './runtime-api.js';

export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json';
export const DEFAULT_EVENT_TYPE = 'com.hearth.event';
/** Lossless when the app says nothing: the payload goes out as data_base64. */
export const DEFAULT_DATA_CONTENT_TYPE = 'application/octet-stream';

export interface EnvelopeInput {
  readonly appId: string;
  readonly pubsubName: string;
  readonly topic: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Metadata;
}

/** Media type without parameters, lower case: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

export function isJsonContentType(contentType: string): boolean {
  const t = mediaType(contentType);
  return t === 'application/json' || t === 'text/json' || t.endsWith('+json');
}

function parseJson(data: Buffer, what: string): unknown {
  if (!jsonDepthWithin(data)) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch (err) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Wraps the payload: JSON content types become `data` as parsed JSON, `text/*` a string, anything
 * else `data_base64`. A payload that is already a CloudEvent (`application/cloudevents+json`) keeps
 * its own fields except the ones the agent vouches for (source = the calling app, topic, pubsub).
 */
export function buildCloudEvent(input: EnvelopeInput): Buffer {
  const traceparent = input.metadata.traceparent;
  const tracestate = input.metadata.tracestate;
  const base: Record<string, unknown> = {
    specversion: '1.0',
    id: randomUUID(),
    source: input.appId,
    type: input.metadata['cloudevent.type'] || DEFAULT_EVENT_TYPE,
    time: new Date().toISOString(),
    datacontenttype: input.contentType,
    ...(traceparent ? { traceparent } : {}),
    ...(tracestate ? { tracestate } : {}),
  };
  const vouched = { source: input.appId, topic: input.topic, pubsubname: input.pubsubName };

  if (mediaType(input.contentType) === CLOUDEVENT_CONTENT_TYPE) {
    const given = parseJson(input.data, 'the CloudEvent');
    if (given === null || typeof given !== 'object' || Array.isArray(given)) {
      throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'a CloudEvent payload must be a JSON object');
    }
    const merged: Record<string, unknown> = { ...base, ...(given as Record<string, unknown>), ...vouched };
    if (!('datacontenttype' in (given as Record<string, unknown>))) delete merged.datacontenttype;
    return Buffer.from(JSON.stringify(merged));
  }

  const event: Record<string, unknown> = { ...base, ...vouched };
  if (input.data.length > 0) {
    // JSON nested too deep to be data the agent parses travels as bytes, like any other type.
    if (isJsonContentType(input.contentType) && jsonDepthWithin(input.data)) event.data = parseJson(input.data, 'data');
    else if (mediaType(input.contentType).startsWith('text/')) event.data = input.data.toString('utf8');
    else event.data_base64 = input.data.toString('base64');
  }
  return Buffer.from(JSON.stringify(event));
}

/**
 * A CloudEvent an app publishes raw (no envelope of ours) must be a JSON object whose `source`, if
 * it has one, is the publishing app: subscribers take `source` for who sent it, and only the agent
 * may vouch for another (the envelopes it builds carry the publisher it verified).
 */
export function checkRawCloudEvent(data: Buffer, appId: string): void {
  const given = parseJson(data, 'the CloudEvent');
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'a CloudEvent payload must be a JSON object');
  }
  const source = (given as Record<string, unknown>).source;
  if (source !== undefined && source !== appId) {
    throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', `a CloudEvent published by app "${appId}" may not name another source`, {
      source: JSON.stringify(source).slice(0, 64),
    });
  }
}
