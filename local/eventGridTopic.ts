// A local stand-in for an Event Grid custom topic with one webhook subscription (Event Grid has no emulator):
// it takes CloudEvents published as the function publishes them in Azure (EventGridPublisherClient, HTTPS, a
// bearer token for https://eventgrid.azure.net) and delivers each to a webhook as a subscription with the
// CloudEvents 1.0 delivery schema does: the CloudEvents abuse-protection handshake first (an OPTIONS request
// with WebHook-Request-Origin, answered with WebHook-Allowed-Origin), then one POST per event in structured
// mode, retried with backoff on any other answer than 2xx, and dead-lettered to a file when it gives up.
// https://learn.microsoft.com/azure/event-grid/end-point-validation-cloud-events-schema
// https://learn.microsoft.com/azure/event-grid/delivery-and-retry
// https://learn.microsoft.com/azure/event-grid/manage-event-delivery#set-dead-letter-location
//
// What it does not do: it reads the bearer token's audience but checks no signature (the local identity
// stand-in signs none; Azure checks both and the EventGrid Data Sender role); it keeps events in memory only,
// so stopping it loses what is not yet delivered (Event Grid keeps them for the subscription's time to live);
// it makes the handshake before its first delivery rather than when a subscription is created; it has no
// filters, batching or delivery with a managed identity.
import { appendFile, mkdir, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { LocalCertificate } from "./tls";

/** The origin Event Grid names in its handshake. */
export const EVENT_GRID_ORIGIN = "eventgrid.azure.net";
/** The audience of the tokens a publisher signs in with. */
const EVENT_GRID_AUDIENCE = "https://eventgrid.azure.net";
/** Event Grid's own schedule, from its first retry: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, then hours. */
export const EVENT_GRID_RETRY_DELAYS_MS = [10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000];
/** Event Grid's default: at most 30 attempts. */
const DEFAULT_MAX_ATTEMPTS = 30;
/** Answers Event Grid does not retry: the event goes to the dead-letter location at once. */
const NOT_RETRIED = new Set([400, 413]);
/** How long a delivery may take before it counts as failed (Event Grid waits 30 s). */
const DELIVERY_TIMEOUT_MS = 30_000;

export interface EventGridTopicStandInOptions {
  host?: string;
  /** Any free port when not given. */
  port?: number;
  /** The certificate the topic serves (the publisher trusts it through its client options). */
  certificate: LocalCertificate;
  /** Where events are delivered; none: they are accepted and kept nowhere, as a topic without subscriptions. */
  webhookUrl?: string;
  /** The waits before each retry; Event Grid's schedule by default (tests pass shorter ones). */
  retryDelaysMs?: readonly number[];
  maxDeliveryAttempts?: number;
  /** A JSON-lines file the events given up on are appended to, with why. */
  deadLetterFile: string;
  log?: (line: string) => void;
}

export interface EventGridTopicStandIn {
  /** The topic endpoint: what EVENTS_TOPIC_ENDPOINT holds. */
  readonly endpoint: string;
  /** The certificate it serves, in PEM: the CA a publisher trusts for it. */
  readonly certificatePem: string;
  /** Every event published so far, as received (for tests and the benchmark). */
  readonly published: readonly Record<string, unknown>[];
  /** Resolves once every event published so far is delivered or dead-lettered. */
  idle(): Promise<void>;
  /** Answers the next `count` publish requests with 503, as a topic that is briefly unavailable (for tests). */
  refusePublishes(count: number): void;
  stop(): Promise<void>;
}

export async function startEventGridTopicStandIn(
  options: EventGridTopicStandInOptions,
): Promise<EventGridTopicStandIn> {
  const published: Record<string, unknown>[] = [];
  const pending = new Set<Promise<void>>();
  const stopping = new AbortController();
  const delays = options.retryDelaysMs ?? EVENT_GRID_RETRY_DELAYS_MS;
  const maxAttempts = options.maxDeliveryAttempts ?? DEFAULT_MAX_ATTEMPTS;
  let handshake: Promise<boolean> | undefined;
  let refusals = 0;

  const deadLetter = async (
    event: Record<string, unknown>,
    reason: string,
    attempts: number,
    last: string,
  ) => {
    await mkdir(dirname(options.deadLetterFile), { recursive: true });
    const now = new Date().toISOString();
    // The properties Event Grid adds to a dead-lettered event.
    // https://learn.microsoft.com/azure/event-grid/manage-event-delivery#dead-letter-event-schema
    const entry = {
      ...event,
      deadLetterReason: reason,
      deliveryAttempts: attempts,
      lastDeliveryOutcome: last,
      publishTime: now,
      lastDeliveryAttemptTime: now,
    };
    await appendFile(options.deadLetterFile, `${JSON.stringify(entry)}\n`);
    options.log?.(
      `[warning] the Event Grid topic stand-in dead-lettered event ${String(event.id)}: ${reason}`,
    );
  };

  const deliver = async (event: Record<string, unknown>, webhookUrl: string): Promise<void> => {
    let last = "";
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (stopping.signal.aborted) return;
      handshake ??= validateWebhook(webhookUrl);
      // A failed handshake is tried again with the next attempt, as Event Grid keeps a subscription waiting.
      const validated = await handshake;
      if (!validated) {
        handshake = undefined;
        last = "the webhook did not answer the validation handshake";
      } else {
        const status = await post(webhookUrl, event).catch((error: Error) => error.message);
        if (typeof status === "number" && status >= 200 && status < 300) return;
        last = typeof status === "number" ? `answered ${status}` : status;
        if (typeof status === "number" && NOT_RETRIED.has(status)) {
          await deadLetter(event, "the webhook refused the event", attempt, last);
          return;
        }
      }
      if (attempt === maxAttempts) break;
      const wait = delays[Math.min(attempt - 1, delays.length - 1)] ?? 0;
      await sleep(wait, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
    if (!stopping.signal.aborted) await deadLetter(event, "MaxDeliveryAttemptsExceeded", maxAttempts, last);
  };

  const accept = (event: Record<string, unknown>) => {
    published.push(event);
    if (!options.webhookUrl) return;
    const delivery = deliver(event, options.webhookUrl).catch((error: Error) =>
      options.log?.(`[warning] the Event Grid topic stand-in could not deliver: ${error.message}`),
    );
    pending.add(delivery);
    void delivery.finally(() => pending.delete(delivery));
  };

  const certificatePem = await readFile(options.certificate.certPath, "utf8");
  const server = createHttpsServer(
    { cert: certificatePem, key: await readFile(options.certificate.keyPath, "utf8") },
    (request, response) => {
      if (refusals > 0) {
        refusals--;
        answer(response, 503, "the topic stand-in was told to refuse this publish");
        request.resume();
        return;
      }
      void handle(request, response, accept).catch(() => {
        if (!response.headersSent) answer(response, 500, "the topic stand-in failed");
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `https://${options.host ?? "127.0.0.1"}:${port}/api/events`,
    certificatePem,
    published,
    idle: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    refusePublishes: (count) => {
      refusals = count;
    },
    stop: async () => {
      stopping.abort();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all([...pending]);
    },
  };
}

/** The publish API: a batch of CloudEvents, in the CloudEvents batch form, with a token for Event Grid. */
async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  accept: (event: Record<string, unknown>) => void,
): Promise<void> {
  const url = new URL(request.url ?? "/", "https://topic");
  if (url.pathname !== "/api/events") return answer(response, 404, "no such path: publish to /api/events");
  if (request.method !== "POST") return answer(response, 405, "publish with POST");
  if (tokenAudience(request.headers.authorization) !== EVENT_GRID_AUDIENCE) {
    return answer(response, 401, `a bearer token for ${EVENT_GRID_AUDIENCE} is required`);
  }
  // https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md#4-json-batch-format
  if (!/^application\/cloudevents-batch\+json\b/.test(request.headers["content-type"] ?? "")) {
    return answer(
      response,
      400,
      "a topic with the CloudEvents input schema takes application/cloudevents-batch+json",
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  let events: unknown;
  try {
    events = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return answer(response, 400, "the body is not JSON");
  }
  if (!Array.isArray(events) || !events.every(isCloudEvent)) {
    return answer(
      response,
      400,
      "the body must be an array of CloudEvents 1.0 (specversion, id, source, type)",
    );
  }
  for (const event of events) accept(event);
  response.writeHead(200).end();
}

function isCloudEvent(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const event = value as Record<string, unknown>;
  return (
    event.specversion === "1.0" &&
    ["id", "source", "type"].every((name) => typeof event[name] === "string" && event[name] !== "")
  );
}

/** The `aud` of a bearer token, read without checking its signature (see the file's opening note). */
function tokenAudience(authorization: string | undefined): string | undefined {
  const token = /^Bearer (\S+)$/.exec(authorization ?? "")?.[1];
  const payload = token?.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { aud?: unknown };
    return typeof claims.aud === "string" ? claims.aud : undefined;
  } catch {
    return undefined;
  }
}

function answer(response: ServerResponse, status: number, error: string): void {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error }));
}

/**
 * The CloudEvents abuse-protection handshake: OPTIONS to the webhook naming the sender's origin; the webhook
 * agrees by answering 2xx with WebHook-Allowed-Origin naming that origin (or `*`).
 * https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/http-webhook.md#4-abuse-protection
 */
async function validateWebhook(webhookUrl: string): Promise<boolean> {
  try {
    const response = await fetch(webhookUrl, {
      method: "OPTIONS",
      headers: { "WebHook-Request-Origin": EVENT_GRID_ORIGIN },
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    const allowed = response.headers.get("webhook-allowed-origin");
    return response.ok && (allowed === EVENT_GRID_ORIGIN || allowed === "*");
  } catch {
    return false;
  }
}

/** One event, in the structured mode of the CloudEvents HTTP binding, as Event Grid delivers them. */
async function post(webhookUrl: string, event: Record<string, unknown>): Promise<number> {
  const response = await fetch(webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
  });
  await response.arrayBuffer();
  return response.status;
}
