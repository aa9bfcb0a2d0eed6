// The local queue runner (local/queueRunner.ts) against Azurite's queue service: the queue trigger's
// semantics the local host promises (delete on success, a failed message hidden for the visibility timeout,
// poison after the fifth dequeue, base64 messages handed over parsed).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, expect, test } from "vitest";
import { parseBlobCreatedMessage } from "../../function/checking/uploadCheck";
import { QUEUE_TRIGGER } from "../../function/contract/queueTrigger";
import { type AzuriteQueues, startAzuriteQueues } from "../../local/azurite";
import { blobCreatedEvent, eventMessage } from "../../local/eventGrid";
import { freePort } from "../../local/ports";
import { HOST_QUEUE_BEHAVIOUR, poisonQueueName, startQueueRunner } from "../../local/queueRunner";

let dataDir: string;
let queues: AzuriteQueues;
let service: QueueServiceClient;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "valet-queues-"));
  queues = await startAzuriteQueues({ port: await freePort(), location: dataDir });
  service = QueueServiceClient.fromConnectionString(queues.connectionString);
});
afterAll(async () => {
  await queues?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function freshQueue(name: string) {
  const queue = service.getQueueClient(name);
  await queue.create();
  await service.getQueueClient(poisonQueueName(name)).create();
  return queue;
}

const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");

test("a message the function takes is handed over parsed and deleted", async () => {
  const queue = await freshQueue("succeeds");
  await queue.sendMessage(base64({ hello: "queue" }));
  const seen: unknown[] = [];
  const runner = startQueueRunner({
    functionName: "take",
    handler: async (message) => {
      seen.push(message);
    },
    connectionString: queues.connectionString,
    messageEncoding: "base64",
    queueName: "succeeds",
  });
  await runner.idle();
  await runner.stop();
  expect(seen).toEqual([{ hello: "queue" }]);
  expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
});

test("a failed message stays hidden for the visibility timeout, then is tried again", async () => {
  const queue = await freshQueue("retries");
  await queue.sendMessage(base64("once"));
  const tries: Array<{ at: number; dequeueCount: unknown }> = [];
  const runner = startQueueRunner({
    functionName: "flaky",
    handler: async (_, context) => {
      tries.push({ at: Date.now(), dequeueCount: context.triggerMetadata?.dequeueCount });
      if (tries.length === 1) throw new Error("transient");
    },
    connectionString: queues.connectionString,
    messageEncoding: "base64",
    queueName: "retries",
    behaviour: { visibilityTimeoutSeconds: 2, maxPollingIntervalMs: 100 },
  });
  await runner.idle();
  await runner.stop();
  expect(tries.map((attempt) => attempt.dequeueCount)).toEqual([1, 2]);
  expect((tries[1]?.at ?? 0) - (tries[0]?.at ?? 0)).toBeGreaterThanOrEqual(1900);
  expect(
    (await service.getQueueClient(poisonQueueName("retries")).peekMessages()).peekedMessageItems,
  ).toEqual([]);
});

test("a message that fails five times moves to the poison queue unchanged, and the move is logged", async () => {
  const queue = await freshQueue("fails");
  const text = base64({ always: "fails" });
  await queue.sendMessage(text);
  let tries = 0;
  const logs: string[] = [];
  const runner = startQueueRunner({
    functionName: "broken",
    handler: async () => {
      tries++;
      throw new Error("broken");
    },
    connectionString: queues.connectionString,
    messageEncoding: "base64",
    queueName: "fails",
    // Retried at once: these tests are about the count of tries, not host.json's wait between them.
    behaviour: { visibilityTimeoutSeconds: 0, maxPollingIntervalMs: 100 },
    log: (line) => logs.push(line),
  });
  await runner.idle();
  await runner.stop();
  expect(tries).toBe(5);
  const poisoned = await service.getQueueClient(poisonQueueName("fails")).receiveMessages();
  expect(poisoned.receivedMessageItems.map((item) => item.messageText)).toEqual([text]);
  expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  expect(logs.filter((line) => line.includes('"event":"queue.poisoned"'))).toHaveLength(1);
});

test("with base64 messageEncoding, a message that is not base64 fails the trigger five times and is poisoned", async () => {
  const queue = await freshQueue("notbase64");
  const text = "not base64: plain <event/>";
  await queue.sendMessage(text);
  let tries = 0;
  const logs: string[] = [];
  const runner = startQueueRunner({
    functionName: "never",
    handler: async () => {
      tries++;
    },
    connectionString: queues.connectionString,
    queueName: "notbase64",
    messageEncoding: "base64",
    // Retried at once: these tests are about the count of tries, not host.json's wait between them.
    behaviour: { visibilityTimeoutSeconds: 0, maxPollingIntervalMs: 100 },
    log: (line) => logs.push(line),
  });
  await runner.idle();
  await runner.stop();
  expect(tries).toBe(0);
  const poisoned = await service.getQueueClient(poisonQueueName("notbase64")).receiveMessages();
  expect(poisoned.receivedMessageItems.map((item) => item.messageText)).toEqual([text]);
  expect(logs.filter((line) => line.includes('"event":"function.failed"'))).toHaveLength(5);
});

test("with function/host.json's messageEncoding, an event written as plain JSON or as base64 reaches the check as the same event", async () => {
  expect(QUEUE_TRIGGER.messageEncoding).toBe("none");
  const queue = await freshQueue("bothforms");
  const event = blobCreatedEvent({
    container: "images",
    name: "a.png",
    url: "http://127.0.0.1:10000/devstoreaccount1/images/a.png",
    api: "PutBlob",
    eTag: "0x1",
    contentType: "image/png",
    contentLength: 10,
    blobType: "BlockBlob",
  });
  await queue.sendMessage(eventMessage(event, "json"));
  await queue.sendMessage(eventMessage(event, "base64"));
  const seen: unknown[] = [];
  const runner = startQueueRunner({
    functionName: "check",
    handler: async (message) => {
      seen.push(parseBlobCreatedMessage(message));
    },
    connectionString: queues.connectionString,
    queueName: "bothforms",
    behaviour: { maxPollingIntervalMs: 100 },
  });
  await runner.idle();
  await runner.stop();
  expect(seen).toHaveLength(2);
  expect(seen[0]).toEqual(seen[1]);
  expect(seen[0]).toMatchObject({ blobName: "a.png", eTag: "0x1", container: "images" });
  expect(
    (await service.getQueueClient(poisonQueueName("bothforms")).peekMessages()).peekedMessageItems,
  ).toEqual([]);
});

test("without overrides the runner waits as function/host.json tells Azure's host to", async () => {
  expect(HOST_QUEUE_BEHAVIOUR).toEqual({
    batchSize: QUEUE_TRIGGER.batchSize,
    maxDequeueCount: QUEUE_TRIGGER.maxDequeueCount,
    visibilityTimeoutSeconds: QUEUE_TRIGGER.visibilityTimeoutMs / 1000,
    maxPollingIntervalMs: QUEUE_TRIGGER.maxPollingIntervalMs,
    runningVisibilitySeconds: 600,
  });
  // A failure hides the message for host.json's visibilityTimeout: still counted, not receivable.
  const queue = await freshQueue("hostwait");
  await queue.sendMessage(base64("fails once"));
  let tries = 0;
  const runner = startQueueRunner({
    functionName: "flaky",
    handler: async () => {
      tries++;
      throw new Error("transient");
    },
    connectionString: queues.connectionString,
    messageEncoding: "base64",
    queueName: "hostwait",
  });
  await expect.poll(() => tries, { timeout: 10_000 }).toBe(1);
  await runner.stop();
  const [hidden] = (await queue.peekMessages()).peekedMessageItems;
  expect(hidden).toBeUndefined();
  expect((await queue.getProperties()).approximateMessagesCount).toBe(1);
  // Azurite hides it until nextVisibleOn; the runner set it from visibilityTimeout.
  const received = await queue.receiveMessages({ visibilityTimeout: 1 });
  expect(received.receivedMessageItems).toEqual([]);
});
