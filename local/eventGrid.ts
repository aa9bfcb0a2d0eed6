// A local stand-in for Event Grid, which has no emulator: it turns new and rewritten blobs in the uploads
// container into Microsoft.Storage.BlobCreated events (Event Grid schema) and puts each on a queue, as the
// event subscription to a Storage queue does in Azure.
// https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage
// https://learn.microsoft.com/azure/event-grid/handler-storage-queues
//
// What it does not do: it notices blobs by listing the container every `intervalMs` (with a cursor of the
// names and ETags it has seen), not from the write itself, so two writes within one interval give one event
// (for the later version); it has no filters, retries, dead-lettering or delivery identity; it sends events
// for the writes after it starts only, as a new subscription does. Like Event Grid, it fires once a blob is
// committed (Put Blob, or Put Block List for a blob uploaded in blocks), never for uncommitted blocks.
// Azurite answers a listing with 500 when a name in it holds a character XML 1.0 cannot carry (a NUL from
// `a%00b.png`; Azure percent-encodes such a name and marks it Encoded="true"): the stand-in then lists by
// prefixes, so that one such name costs the events of the names sharing its first characters only, and
// says which prefix it could not list.
// https://learn.microsoft.com/rest/api/storageservices/list-blobs#response-body

import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { BLOB_CREATED } from "../function/contract/check";
import { EMULATOR_ACCOUNT } from "./azurite";

export interface BlobCreatedStandInOptions {
  /** The blob service holding the uploads container. */
  blobConnectionString: string;
  container: string;
  /** The queue service and queue the events go to. */
  queueConnectionString: string;
  queueName: string;
  /** Which form the events are written in; base64 by default. */
  messageForm?: EventMessageForm;
  /** How often the container is listed; 200 ms by default. */
  intervalMs?: number;
  log?: (line: string) => void;
}

export interface BlobCreatedStandIn {
  /** Lists the container now and sends the events due; resolves with how many were sent. */
  scan(): Promise<number>;
  stop(): Promise<void>;
}

/** What the stand-in knows of a blob when it sends its event: the fields Event Grid's `data` carries. */
export interface CreatedBlob {
  readonly container: string;
  readonly name: string;
  readonly url: string;
  readonly api: "PutBlob" | "PutBlockList";
  readonly eTag: string;
  readonly contentType: string;
  readonly contentLength: number;
  readonly blobType: "BlockBlob" | "PageBlob" | "AppendBlob";
}

/**
 * One BlobCreated event in the Event Grid schema, with the fields and the sample's shapes of the schema page
 * (the topic names the emulator's account under a subscription of zeros).
 */
export function blobCreatedEvent(blob: CreatedBlob, now = new Date()): Record<string, unknown> {
  return {
    topic:
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/" +
      `Microsoft.Storage/storageAccounts/${EMULATOR_ACCOUNT}`,
    subject: `/blobServices/default/containers/${blob.container}/blobs/${blob.name}`,
    eventType: BLOB_CREATED,
    eventTime: now.toISOString(),
    id: randomUUID(),
    data: {
      api: blob.api,
      clientRequestId: randomUUID(),
      requestId: randomUUID(),
      eTag: blob.eTag,
      contentType: blob.contentType,
      contentLength: blob.contentLength,
      blobType: blob.blobType,
      url: blob.url,
      sequencer: String(now.getTime()).padStart(32, "0"),
      storageDiagnostics: { batchId: randomUUID() },
    },
    dataVersion: "",
    metadataVersion: "1",
  };
}

/**
 * The two forms reports say Event Grid writes an event to a queue in: the event's JSON as it is, or base64
 * of it. The function reads both (host.json's messageEncoding "none" hands either over untouched).
 * https://github.com/MicrosoftDocs/azure-docs/issues/69702
 * https://github.com/MicrosoftDocs/azure-docs/issues/102923
 */
export type EventMessageForm = "json" | "base64";

export function eventMessage(event: Record<string, unknown>, form: EventMessageForm = "base64"): string {
  const json = JSON.stringify(event);
  return form === "json" ? json : Buffer.from(json).toString("base64");
}

export async function startBlobCreatedStandIn(
  options: BlobCreatedStandInOptions,
): Promise<BlobCreatedStandIn> {
  // One try per listing: a failed one is split (listAll) or tried again by the next scan, 200 ms later,
  // rather than retried by the SDK for half a minute while every upload waits.
  const container = BlobServiceClient.fromConnectionString(options.blobConnectionString, {
    retryOptions: { maxTries: 1 },
  }).getContainerClient(options.container);
  const reported = new Set<string>();
  const report = (prefix: string) => {
    if (reported.has(prefix)) return;
    reported.add(prefix);
    options.log?.(
      `[warning] the Event Grid stand-in cannot list the blobs whose names start with ${JSON.stringify(prefix)} ` +
        `followed by a character outside ${JSON.stringify(SPLIT)} (Azurite answers 500): they get no events`,
    );
  };
  const queue = QueueServiceClient.fromConnectionString(options.queueConnectionString).getQueueClient(
    options.queueName,
  );
  const seen = new Map<string, string>();
  // Stopping aborts the listing under way too: against a service that is gone, the SDK would keep retrying.
  const stopSignal = new AbortController();
  const abortSignal = stopSignal.signal;
  // Scans never overlap: one listing is compared with the cursor and the cursor updated before the next.
  let running: Promise<number> = Promise.resolve(0);
  const scanOnce = async (send: boolean): Promise<number> => {
    let sent = 0;
    const listed = new Set<string>();
    const { items, complete } = await listAll(container, abortSignal, report);
    for (const item of items) {
      listed.add(item.name);
      const eTag = item.properties.etag;
      if (seen.get(item.name) === eTag) continue;
      if (!send) {
        seen.set(item.name, eTag);
        continue;
      }
      const blob = await createdBlob(container, item.name, {
        eTag,
        contentType: item.properties.contentType ?? "",
        contentLength: item.properties.contentLength ?? 0,
        blobType: item.properties.blobType ?? "BlockBlob",
      });
      await queue.sendMessage(eventMessage(blobCreatedEvent(blob), options.messageForm), { abortSignal });
      // Only once the event is on the queue: a failed send is tried again by the next scan.
      seen.set(item.name, eTag);
      sent++;
    }
    // A name missing from a partial listing may still be there: it is forgotten only when all was listed.
    if (complete) for (const name of seen.keys()) if (!listed.has(name)) seen.delete(name);
    return sent;
  };
  const scan = () => {
    running = running.catch(() => 0).then(() => scanOnce(true));
    return running;
  };
  // What is there already was written before the subscription existed: no events for it.
  await scanOnce(false);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        await scan();
      } catch (error) {
        if (stopped) break;
        options.log?.(
          `[warning] the Event Grid stand-in could not list the uploads: ${(error as Error).message}`,
        );
      }
      await sleep(options.intervalMs ?? 200, undefined, { signal: stopSignal.signal }).catch(() => undefined);
    }
  })();
  return {
    scan,
    stop: async () => {
      stopped = true;
      stopSignal.abort();
      await loop;
    },
  };
}

/** The characters a failing prefix is split on: those of the names the function, the page and tests give. */
const SPLIT = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.";
/** How long a prefix gets before a failing one is given up (and reported) rather than split again. */
const MAX_SPLIT_DEPTH = 3;

type ListedBlob = Awaited<ReturnType<ReturnType<ContainerClient["listBlobsFlat"]>["next"]>>["value"];

/**
 * Every blob the container lists, and whether that is all of them. A listing the service answers with a
 * server error (Azurite's 500 on a name it cannot write into XML) is split into one listing per next
 * character of SPLIT, down to MAX_SPLIT_DEPTH characters, so the names beside the bad one are still seen;
 * a prefix that still fails there is reported and skipped.
 */
async function listAll(
  container: ContainerClient,
  abortSignal: AbortSignal,
  report: (prefix: string) => void,
): Promise<{ items: ListedBlob[]; complete: boolean }> {
  const items: ListedBlob[] = [];
  let complete = true;
  const prefixes = [""];
  for (let prefix = prefixes.shift(); prefix !== undefined; prefix = prefixes.shift()) {
    const page: ListedBlob[] = [];
    try {
      for await (const item of container.listBlobsFlat({ prefix, abortSignal })) page.push(item);
    } catch (error) {
      const status = (error as { statusCode?: unknown }).statusCode;
      if (abortSignal.aborted || typeof status !== "number" || status < 500) throw error;
      complete = false;
      if (prefix.length >= MAX_SPLIT_DEPTH) report(prefix);
      else {
        // The names starting with this prefix and then a character outside SPLIT are not listed.
        report(prefix);
        prefixes.push(...Array.from(SPLIT, (next) => prefix + next));
      }
      continue;
    }
    items.push(...page);
  }
  return { items, complete };
}

/**
 * The event's fields for one listed blob. Which call created it is not in the listing: a block blob with
 * committed blocks came from Put Block List, one without from Put Blob, as does every page or append blob.
 */
async function createdBlob(
  container: ContainerClient,
  name: string,
  listed: { eTag: string; contentType: string; contentLength: number; blobType: string },
): Promise<CreatedBlob> {
  const blob = container.getBlobClient(name);
  const blobType = listed.blobType as CreatedBlob["blobType"];
  let api: CreatedBlob["api"] = "PutBlob";
  if (blobType === "BlockBlob") {
    const blocks = await blob
      .getBlockBlobClient()
      .getBlockList("committed")
      .catch(() => undefined);
    if ((blocks?.committedBlocks?.length ?? 0) > 0) api = "PutBlockList";
  }
  return { ...listed, container: container.containerName, name, url: blob.url, api, blobType };
}
