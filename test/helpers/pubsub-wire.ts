// What the pub/sub API puts on the wire, as the tests read it back: the CloudEvents 1.0 envelope
// a subscriber receives, and the HTTP pull subscription's response (Hearth-only).

export interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  topic: string;
  pubsubname: string;
  time: string;
  datacontenttype: string;
  data?: unknown;
  data_base64?: string;
  traceparent?: string;
}

export interface PulledDelivery {
  deliveryId: string;
  messageId: string;
  topic: string;
  pubsubName: string;
  attempt: number;
  contentType: string;
  metadata: Record<string, string>;
  data?: unknown;
  dataBase64?: string;
}

export interface PullResult {
  subscription: string;
  deliveries: PulledDelivery[];
}
