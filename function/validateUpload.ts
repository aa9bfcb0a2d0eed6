// The queue edge of the check of stored uploads: one BlobCreated event in, the blob's properties and first
// bytes read, and the verdict carried out (copied to the verified container, or deleted) and recorded.
import type { InvocationContext } from "@azure/functions";
import { type BlobClient, RestError } from "@azure/storage-blob";
import { SettingsError, settingsInvalidEvent } from "./appSettings";
import { loadCheckContext, type OutcomeStore } from "./outcomes";
import { log } from "./responses";
import type { Settings } from "./settings";
import {
  type BlobCreatedEvent,
  EventMessageError,
  judgeContent,
  judgeProperties,
  parseBlobCreatedMessage,
  type Verdict,
} from "./uploadCheck";
import { uploadsServiceClient } from "./uploadsAccount";
import { HEAD_BYTES } from "./verification";

/** 404: the blob (or the version of it the event names) is gone; 412: it was written again since. */
const GONE = 404;
const CHANGED = 412;

/**
 * Returning acknowledges the message (the host deletes it); throwing leaves it for the host to retry, and
 * after the fifth try to move to the poison queue. Only transient failures and configuration faults throw: a
 * message that is not an event cannot become one, so it is logged and acknowledged rather than retried.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
 */
export async function validateUpload(message: unknown, context: InvocationContext): Promise<void> {
  let event: BlobCreatedEvent;
  try {
    event = parseBlobCreatedMessage(message);
  } catch (error) {
    if (!(error instanceof EventMessageError)) throw error;
    log(context, "error", {
      event: "validation.messageInvalid",
      message: `A message on the upload events' queue was dropped: ${error.message}.`,
      messageId: context.triggerMetadata?.id,
    });
    return;
  }
  let loaded: ReturnType<typeof loadCheckContext>;
  try {
    loaded = loadCheckContext();
  } catch (error) {
    if (error instanceof SettingsError) log(context, "error", settingsInvalidEvent(error));
    // Retried, then poisoned: the event is sound, and replaying it from the poison queue once the setting is
    // fixed completes the check.
    throw error;
  }
  const { settings, outcomes } = loaded;
  if (event.container !== settings.container) {
    log(context, "warning", {
      event: "validation.ignored",
      reason: "not the uploads container",
      eventId: event.id,
    });
    return;
  }
  const result = await check(event, settings, outcomes);
  const fields = { blobName: event.blobName, eTag: event.eTag, eventId: event.id };
  if (result.kind === "skipped") {
    // The newer write, if any, has an event of its own.
    log(context, "information", { event: "validation.skipped", reason: result.reason, ...fields });
  } else if (result.verdict.accepted) {
    log(context, "information", {
      event: "upload.accepted",
      contentType: result.verdict.contentType,
      width: result.verdict.width,
      height: result.verdict.height,
      ...fields,
    });
  } else {
    log(context, "warning", {
      event: "upload.rejected",
      code: result.verdict.code,
      reason: result.verdict.reason,
      ...fields,
    });
  }
}

type CheckResult = { kind: "skipped"; reason: "gone" | "changed" } | { kind: "decided"; verdict: Verdict };

async function check(
  event: BlobCreatedEvent,
  settings: Settings,
  outcomes: OutcomeStore,
): Promise<CheckResult> {
  const service = uploadsServiceClient(settings.uploads);
  const inbox = service.getContainerClient(settings.container).getBlobClient(event.blobName);
  const properties = await settle(inbox.getProperties());
  if (properties === GONE) return { kind: "skipped", reason: "gone" };
  if (properties === CHANGED || !properties.etag || !sameETag(properties.etag, event.eTag)) {
    return { kind: "skipped", reason: "changed" };
  }
  // The blob's own form of the ETag (quoted) for the conditions below.
  const eTag = properties.etag;
  const conditions = { ifMatch: eTag };

  const size = Math.max(event.contentLength, properties.contentLength ?? 0);
  let verdict = judgeProperties(
    { blobType: properties.blobType ?? event.blobType, contentLength: size },
    settings.policy.maxUploadBytes,
  );
  if (!verdict) {
    // A conditional range read: the bytes judged are those of the version the event is about.
    const head = await settle(readHead(inbox, Math.min(size, HEAD_BYTES), conditions));
    if (head === GONE) return { kind: "skipped", reason: "gone" };
    if (head === CHANGED) return { kind: "skipped", reason: "changed" };
    verdict = await judgeContent(
      event.blobName,
      head,
      {
        allowedContentTypes: settings.policy.allowedContentTypes,
        maxImagePixels: settings.verification.maxImagePixels,
      },
      size <= HEAD_BYTES,
    );
  }
  const decided = { blobName: event.blobName, eTag, decidedAt: new Date().toISOString() };
  if (verdict.accepted) {
    const verified = service
      .getContainerClient(settings.verification.verifiedContainer)
      .getBlobClient(event.blobName);
    const copied = await settle(copyVerified(inbox, verified, eTag, verdict.contentType));
    if (copied === GONE || copied === CHANGED) {
      // Which side answered 404 or 412 matters: only the inbox blob's going or changing ends the check.
      const now = await settle(inbox.getProperties());
      if (now === GONE) return { kind: "skipped", reason: "gone" };
      if (now === CHANGED || now.etag !== eTag) return { kind: "skipped", reason: "changed" };
      throw new Error(`copying to the verified container failed with ${copied}`);
    }
    await outcomes.record({ ...decided, state: "accepted", url: verified.url });
  } else {
    await outcomes.record({ ...decided, state: "rejected", reason: verdict.reason, code: verdict.code });
  }
  // Blob soft delete, where the account has it, keeps a deleted upload recoverable for its retention period.
  // https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview
  await settle(inbox.delete({ conditions, deleteSnapshots: "include" }));
  return { kind: "decided", verdict };
}

/** At most `count` bytes from the start of the blob, and only if it is still the version named. */
async function readHead(
  blob: BlobClient,
  count: number,
  conditions: { ifMatch: string },
): Promise<Uint8Array> {
  const response = await blob.download(0, count, { conditions, maxRetryRequests: 0 });
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of response.readableStreamBody ?? []) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    chunks.push(buffer);
    received += buffer.length;
    if (received >= count) break;
  }
  return Buffer.concat(chunks).subarray(0, count);
}

/**
 * A server-side copy of exactly the version checked (`x-ms-source-if-match`), then the Content-Type the bytes
 * showed. Set Blob Properties replaces every HTTP header, so whatever Content-Disposition or Content-Encoding
 * the uploader chose is dropped with the rest; naming the metadata replaces the uploader's too.
 * The source is in the same account, so the request's own authorization covers reading it; naming no
 * metadata would copy the source's.
 * https://learn.microsoft.com/rest/api/storageservices/copy-blob
 * https://learn.microsoft.com/rest/api/storageservices/set-blob-properties
 */
async function copyVerified(
  inbox: BlobClient,
  verified: BlobClient,
  eTag: string,
  contentType: string,
): Promise<void> {
  const poller = await verified.beginCopyFromURL(inbox.url, {
    sourceConditions: { ifMatch: eTag },
    metadata: { sourceetag: eTag.replaceAll('"', "") },
    intervalInMs: 500,
  });
  await poller.pollUntilDone();
  await verified.setHTTPHeaders({ blobContentType: contentType });
}

/** An event's ETag may come with or without the quotes of the HTTP header; the value is the same. */
function sameETag(a: string, b: string): boolean {
  const bare = (value: string) => value.replace(/^(W\/)?"|"$/g, "");
  return bare(a) === bare(b);
}

/** The operation's result, or GONE / CHANGED for the answers that mean the version is no longer there. */
async function settle<T>(operation: Promise<T>): Promise<T | typeof GONE | typeof CHANGED> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof RestError && (error.statusCode === GONE || error.statusCode === CHANGED)) {
      return error.statusCode;
    }
    throw error;
  }
}
