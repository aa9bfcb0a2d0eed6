// Runs a queue-triggered function the way the Functions host's queue trigger does: receive a batch, hide each
// message while the function runs, delete it when the function succeeds, make it visible again after
// `visibilityTimeout` when it fails, and move it to `<queue>-poison` once it has been dequeued
// `maxDequeueCount` times. Every figure is function/host.json's (`extensions.queues`, read by
// function/contract/queueTrigger.ts), so the local stack waits exactly as Azure's host would.
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#peek-lock

import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { InvocationContext, type LogLevel, type StorageQueueHandler } from "@azure/functions";
import { type DequeuedMessageItem, type QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { decodeBase64, type MessageEncoding, QUEUE_TRIGGER } from "../function/contract/queueTrigger";

export interface QueueBehaviour {
  /** Messages received at once. */
  batchSize: number;
  /** Tries before a message goes to the poison queue. */
  maxDequeueCount: number;
  /** How long a failed message stays hidden before its next try, in seconds. */
  visibilityTimeoutSeconds: number;
  /** The longest wait between polls of an empty queue. */
  maxPollingIntervalMs: number;
  /** How long a message stays hidden while the function runs, in seconds (the host's 10 minutes). */
  runningVisibilitySeconds: number;
}

/** The wait after the first empty poll; each further one doubles it, up to maxPollingInterval. */
export const FIRST_POLL_WAIT_MS = 50;

/** function/host.json's figures, as Azure's host applies them. */
export const HOST_QUEUE_BEHAVIOUR: QueueBehaviour = {
  batchSize: QUEUE_TRIGGER.batchSize,
  maxDequeueCount: QUEUE_TRIGGER.maxDequeueCount,
  visibilityTimeoutSeconds: QUEUE_TRIGGER.visibilityTimeoutMs / 1000,
  maxPollingIntervalMs: QUEUE_TRIGGER.maxPollingIntervalMs,
  runningVisibilitySeconds: 600,
};

export interface QueueRunnerOptions {
  functionName: string;
  handler: StorageQueueHandler;
  connectionString: string;
  queueName: string;
  behaviour?: Partial<QueueBehaviour>;
  /** How message text is decoded; function/host.json's setting by default. */
  messageEncoding?: MessageEncoding;
  /** Where the function's and the runner's log lines go (one line each). */
  log?: (line: string) => void;
}

export interface QueueRunner {
  /** Resolves once the queue holds no message, hidden ones included, and nothing is running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** The poison queue's name for a queue, by the host's convention. */
export function poisonQueueName(queueName: string): string {
  return `${queueName}-poison`;
}

export function startQueueRunner(options: QueueRunnerOptions): QueueRunner {
  const behaviour = { ...HOST_QUEUE_BEHAVIOUR, ...options.behaviour };
  const encoding = options.messageEncoding ?? QUEUE_TRIGGER.messageEncoding;
  const service = QueueServiceClient.fromConnectionString(options.connectionString);
  const queue = service.getQueueClient(options.queueName);
  const poison = service.getQueueClient(poisonQueueName(options.queueName));
  const log = (level: LogLevel, line: string) => options.log?.(`[${level}] ${line}`);
  let stopped = false;
  let busy = 0;
  // Stopping aborts the poll under way too: against a queue service that is gone, the SDK would otherwise
  // keep retrying it for many seconds.
  const wake = new AbortController();
  const loop = (async () => {
    let wait = FIRST_POLL_WAIT_MS;
    while (!stopped) {
      let messages: DequeuedMessageItem[] = [];
      try {
        const received = await queue.receiveMessages({
          abortSignal: wake.signal,
          numberOfMessages: behaviour.batchSize,
          visibilityTimeout: behaviour.runningVisibilitySeconds,
        });
        messages = received.receivedMessageItems;
      } catch (error) {
        log(
          "warning",
          `the queue runner could not receive from ${options.queueName}: ${(error as Error).message}`,
        );
      }
      if (messages.length > 0) {
        busy++;
        await Promise.all(messages.map((message) => run(message)));
        busy--;
        wait = FIRST_POLL_WAIT_MS;
        continue;
      }
      // The host backs off exponentially on an empty queue, up to maxPollingInterval.
      await sleep(wait, undefined, { signal: wake.signal }).catch(() => undefined);
      wait = Math.min(wait * 2, behaviour.maxPollingIntervalMs);
    }
  })();

  async function run(message: DequeuedMessageItem): Promise<void> {
    // A message already tried maxDequeueCount times (its last try's host died) goes straight to poison.
    if (message.dequeueCount > behaviour.maxDequeueCount) {
      await moveToPoison(queue, poison, message, log);
      return;
    }
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: options.functionName,
      logHandler: (level, ...args) => log(level, args.map(String).join(" ")),
      triggerMetadata: {
        id: message.messageId,
        dequeueCount: message.dequeueCount,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        popReceipt: message.popReceipt,
      },
    });
    try {
      await options.handler(decode(message.messageText, encoding), context);
      await queue.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      log(
        "error",
        JSON.stringify({
          event: "function.failed",
          functionName: options.functionName,
          messageId: message.messageId,
          dequeueCount: message.dequeueCount,
          error: error instanceof Error ? `${error.name}: ${error.message}` : typeof error,
        }),
      );
      if (message.dequeueCount >= behaviour.maxDequeueCount) {
        await moveToPoison(queue, poison, message, log);
      } else {
        await queue.updateMessage(
          message.messageId,
          message.popReceipt,
          undefined,
          behaviour.visibilityTimeoutSeconds,
        );
      }
    }
  }

  return {
    idle: async () => {
      // The count includes hidden messages (running, or waiting out a failure's visibility timeout): twice
      // nothing with nothing running means every message queued before the call has been dealt with.
      for (let emptyChecks = 0; emptyChecks < 2; ) {
        await sleep(25);
        const { approximateMessagesCount } = await queue.getProperties();
        emptyChecks = approximateMessagesCount === 0 && busy === 0 ? emptyChecks + 1 : 0;
      }
    },
    stop: async () => {
      stopped = true;
      wake.abort();
      await loop;
    },
  };
}

/**
 * The message's text as the queue trigger hands it over: base64 decoded when the encoding is base64 (text
 * that is not base64 fails the binding, as the host's does) or as it is, then parsed when it is JSON, as the
 * Node worker does for a JSON message.
 */
function decode(text: string, encoding: MessageEncoding): unknown {
  const decoded = encoding === "base64" ? decodeBase64(text) : text;
  if (decoded === undefined) {
    throw new Error("the message is not base64, as the queue trigger's messageEncoding base64 expects");
  }
  try {
    return JSON.parse(decoded);
  } catch {
    return decoded;
  }
}

async function moveToPoison(
  queue: QueueClient,
  poison: QueueClient,
  message: DequeuedMessageItem,
  log: (level: LogLevel, line: string) => void,
): Promise<void> {
  await poison.sendMessage(message.messageText);
  await queue.deleteMessage(message.messageId, message.popReceipt);
  log(
    "error",
    JSON.stringify({
      event: "queue.poisoned",
      queue: queue.name,
      poisonQueue: poison.name,
      messageId: message.messageId,
      dequeueCount: message.dequeueCount,
    }),
  );
}
