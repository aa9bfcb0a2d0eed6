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
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { BLOB_CREATED } from "../function/uploadCheck";
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
  const container = BlobServiceClient.fromConnectionString(options.blobConnectionString).getContainerClient(
    options.container,
  );
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
    for await (const item of container.listBlobsFlat({ abortSignal })) {
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
    for (const name of seen.keys()) if (!listed.has(name)) seen.delete(name);
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
