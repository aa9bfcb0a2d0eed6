// Completion events end to end on the local stack: an upload is checked, the function publishes its event to
// the Event Grid topic stand-in with the app's (stand-in) identity over HTTPS, and the stand-in delivers it to
// a real HTTP receiver after the CloudEvents validation handshake, retrying a receiver that fails.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, BlockBlobClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UPLOADS_CREATED_QUEUE } from "../../function/contract/check";
import { blobCreatedEvent, eventMessage } from "../../local/eventGrid";
import { type EventsReceiver, startEventsReceiver } from "../../local/eventsReceiver";
import { schemaErrors } from "../support/eventsSchema";
import { credentialsFor, runNpmStart, startTestStack, type TestStack } from "../support/stack";

const png = readFileSync(join(__dirname, "../fixtures/images/pixel.png"));
const html = Buffer.from("<!doctype html><html><body><script>alert(1)</script></body></html>");

let stack: TestStack;
let receiver: EventsReceiver;
let service: BlobServiceClient;

beforeAll(async () => {
  receiver = await startEventsReceiver();
  // Quick queue retries and quick delivery retries, so that faults settle within a test.
  stack = await startTestStack(
    {},
    {
      checkUploads: true,
      queueBehaviour: { maxPollingIntervalMs: 200, visibilityTimeoutSeconds: 0 },
      completionEvents: { webhookUrl: receiver.url, retryDelaysMs: [50, 100, 200], maxDeliveryAttempts: 6 },
    },
  );
  service = BlobServiceClient.fromConnectionString(stack.connectionString);
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
});

async function upload(bytes: Buffer, contentType: string, extension: string) {
  const credentials = await credentialsFor(stack.credentialsUrl, bytes, `file.${extension}`, contentType);
  const result = await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(
    bytes,
    bytes.length,
    {
      blobHTTPHeaders: { blobContentType: contentType },
    },
  );
  return { blobName: credentials.blobName, eTag: result.etag ?? "" };
}

/** Every check done and every event delivered (or dead-lettered). */
async function settled(): Promise<void> {
  await stack.checksSettled();
  await stack.eventsTopic?.idle();
}

const deliveriesOf = (blobName: string) =>
  receiver.received.filter(({ event }) => event.subject === `/uploads/${blobName}`).map(({ event }) => event);

describe("completion events", () => {
  test("an accepted PNG gives exactly one valet.upload.accepted event, valid against the schema", async () => {
    const { blobName } = await upload(png, "image/png", "png");
    await settled();
    const events = deliveriesOf(blobName);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(schemaErrors(event)).toEqual([]);
    const verified = service.getContainerClient(stack.verifiedContainer).getBlobClient(blobName);
    const properties = await verified.getProperties();
    expect(event).toMatchObject({
      specversion: "1.0",
      type: "valet.upload.accepted",
      subject: `/uploads/${blobName}`,
      data: {
        state: "accepted",
        blobName,
        url: verified.url,
        contentType: "image/png",
        size: properties.contentLength,
        width: 8,
        height: 8,
        renditions: expect.arrayContaining([expect.objectContaining({ kind: "thumb" })]),
      },
    });
    // A URL to read with one's own access, never a token.
    expect(JSON.stringify(event?.data)).not.toMatch(/sig=|sv=/);
  });

  test("HTML named .png gives exactly one valet.upload.rejected event with the reason, valid against the schema", async () => {
    const { blobName } = await upload(html, "image/png", "png");
    await settled();
    const events = deliveriesOf(blobName);
    expect(events).toHaveLength(1);
    expect(schemaErrors(events[0])).toEqual([]);
    expect(events[0]).toMatchObject({
      type: "valet.upload.rejected",
      data: { state: "rejected", blobName, code: expect.any(String), reason: expect.stringMatching(/./) },
    });
    expect(await service.getContainerClient(stack.verifiedContainer).getBlobClient(blobName).exists()).toBe(
      false,
    );
  });

  test("a queue message delivered again publishes the same event again, with the same id", async () => {
    const { blobName, eTag } = await upload(png, "image/png", "png");
    await settled();
    const [first] = deliveriesOf(blobName);
    expect(first).toBeDefined();
    const again = blobCreatedEvent({
      container: stack.container,
      name: blobName,
      url: service.getContainerClient(stack.container).getBlobClient(blobName).url,
      api: "PutBlob",
      eTag,
      contentType: "image/png",
      contentLength: png.length,
      blobType: "BlockBlob",
    });
    const queue = QueueServiceClient.fromConnectionString(stack.checkConnectionString).getQueueClient(
      UPLOADS_CREATED_QUEUE,
    );
    await queue.sendMessage(eventMessage(again));
    await settled();
    const events = deliveriesOf(blobName);
    expect(events).toHaveLength(2);
    expect(events[1]).toEqual(first);
    const received = receiver.received.filter(({ event }) => event.subject === `/uploads/${blobName}`);
    expect(received.map(({ duplicate }) => duplicate)).toEqual([false, true]);
  });

  test("the validation handshake happens once, before the first delivery, whatever the number of events", () => {
    expect(receiver.received.length).toBeGreaterThanOrEqual(3);
    expect(receiver.handshakes()).toBe(1);
  });

  test("a receiver answering 500 three times still gets the event, on the fourth delivery", async () => {
    // The name is known only once the token is issued: fail whatever arrives for it first.
    const credentials = await credentialsFor(stack.credentialsUrl, png, "file.png");
    receiver.failNext(`/uploads/${credentials.blobName}`, 3, 500);
    await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(png, png.length);
    await settled();
    const events = deliveriesOf(credentials.blobName);
    expect(events).toHaveLength(1);
    expect(receiver.attempts(String(events[0]?.id))).toBe(4);
  });

  test("a topic that refuses the publish fails the message, which the queue retries: the verdict is not redone and the event arrives once", async () => {
    // Three refusals: the publisher's own three tries of the first run of the message.
    stack.eventsTopic?.refusePublishes(3);
    const { blobName } = await upload(png, "image/png", "png");
    await settled();
    expect(deliveriesOf(blobName)).toHaveLength(1);
    const logged = stack.logs
      .filter((line) => line.includes(blobName))
      .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>);
    // One verdict; the retry found the upload checked and its inbox blob gone, and published what was recorded.
    expect(logged.filter((entry) => entry.event === "upload.accepted")).toHaveLength(1);
    expect(logged.filter((entry) => entry.event === "validation.skipped")).toEqual([
      expect.objectContaining({ reason: "gone" }),
    ]);
    expect(logged.filter((entry) => entry.event === "completion.published")).toHaveLength(1);
  });

  test("an event the receiver keeps refusing is dead-lettered to a file, with why", async () => {
    const credentials = await credentialsFor(stack.credentialsUrl, png, "file.png");
    receiver.failNext(`/uploads/${credentials.blobName}`, 100, 503);
    await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(png, png.length);
    await settled();
    expect(deliveriesOf(credentials.blobName)).toHaveLength(0);
    const deadLetters = readFileSync(stack.eventsDeadLetterFile ?? "", "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(deadLetters).toEqual([
      expect.objectContaining({
        subject: `/uploads/${credentials.blobName}`,
        deadLetterReason: "MaxDeliveryAttemptsExceeded",
        deliveryAttempts: 6,
        lastDeliveryOutcome: "answered 503",
      }),
    ]);
  });
});

describe("npm start with VALET_EVENTS_WEBHOOK_URL", () => {
  test("prints the topic stand-in and where it delivers, and an upload's event reaches the webhook", async () => {
    const own = await startEventsReceiver();
    const started = await runNpmStart({ VALET_EVENTS_WEBHOOK_URL: own.url });
    try {
      expect(started.output()).toMatch(
        new RegExp(`completion events\\s+https://127\\.0\\.0\\.1:\\d+/api/events .*delivering to ${own.url}`),
      );
      const credentials = await credentialsFor(started.credentialsUrl, png, "a.png");
      await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(png, png.length);
      await own.waitFor((received) =>
        received.some(({ event }) => event.subject === `/uploads/${credentials.blobName}`),
      );
      expect(own.received.map(({ event }) => event.type)).toEqual(["valet.upload.accepted"]);
    } finally {
      await started.stop();
      await own.stop();
    }
  }, 90_000);
});
