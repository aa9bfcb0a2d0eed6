// A webhook that receives completion events on loopback, as an application's backend would (docs/events.md):
// it answers the CloudEvents validation handshake for Event Grid's origin only, takes one CloudEvent per POST,
// and keeps every delivery, noting which ids it has seen before. The tests and the benchmark point the Event
// Grid topic stand-in at it; it can also fail a given number of deliveries, to act out a receiver that is down.
// https://learn.microsoft.com/azure/event-grid/end-point-validation-cloud-events-schema
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { EVENT_GRID_ORIGIN } from "./eventGridTopic";

export interface ReceivedEvent {
  readonly event: Record<string, unknown>;
  /** performance.now() when it arrived. */
  readonly at: number;
  /** Whether an event with the same source and id came before it (a re-delivery). */
  readonly duplicate: boolean;
}

export interface EventsReceiver {
  readonly url: string;
  /** Every delivery answered 2xx, in order. */
  readonly received: readonly ReceivedEvent[];
  /** How many validation handshakes it answered. */
  handshakes(): number;
  /** Every POST, answered or failed, by event id. */
  attempts(id: string): number;
  /** Answers the next `count` deliveries of events whose subject is `subject` with `status`. */
  failNext(subject: string, count: number, status?: number): void;
  /** Resolves once `predicate` holds for what was received, or rejects after `timeoutMs`. */
  waitFor(predicate: (received: readonly ReceivedEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEventsReceiver(): Promise<EventsReceiver> {
  const received: ReceivedEvent[] = [];
  const seen = new Set<string>();
  const tries = new Map<string, number>();
  const failures = new Map<string, { count: number; status: number }>();
  let handshakes = 0;
  const server = createServer((request, response) => {
    if (request.method === "OPTIONS") {
      // Agree to deliveries from Event Grid, and from no one else.
      const origin = request.headers["webhook-request-origin"];
      if (origin !== EVENT_GRID_ORIGIN) return void response.writeHead(403).end();
      handshakes++;
      return void response.writeHead(200, { "WebHook-Allowed-Origin": EVENT_GRID_ORIGIN }).end();
    }
    if (request.method !== "POST") return void response.writeHead(405, { Allow: "OPTIONS, POST" }).end();
    void body(request).then((text) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return void response.writeHead(400).end();
      }
      const id = String(event.id);
      tries.set(id, (tries.get(id) ?? 0) + 1);
      const failure = failures.get(String(event.subject));
      if (failure && failure.count > 0) {
        failure.count--;
        return void response.writeHead(failure.status).end();
      }
      // Deduplicate on source and id: the one key CloudEvents makes unique.
      const key = `${String(event.source)}\n${id}`;
      received.push({ event, at: performance.now(), duplicate: seen.has(key) });
      seen.add(key);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    handshakes: () => handshakes,
    attempts: (id) => tries.get(id) ?? 0,
    failNext: (subject, count, status = 500) => {
      failures.set(subject, { count, status });
    },
    waitFor: async (predicate, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error("the expected events did not arrive in time");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
