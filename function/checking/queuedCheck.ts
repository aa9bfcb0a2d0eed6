// The queue edge of the check of stored uploads: one BlobCreated event in, the blob's properties and first
// bytes read, and the verdict carried out (a candidate read whole and processed, function/photos/, then
// published to the verified container; or deleted) and recorded.
import type { InvocationContext } from "@azure/functions";
import { BlobClient, type BlobServiceClient, type ContainerClient, RestError } from "@azure/storage-blob";
import { SettingsError, settingsInvalidEvent } from "../contract/appSettings";
import { HEAD_BYTES, UPLOADS_CREATED_POISON_QUEUE } from "../contract/check";
import { bareETag, sameETag } from "../contract/eTags";
import { isImageContentType } from "../contract/issuanceLimits";
import { SCAN_RESULT, type ScanResult } from "../contract/malwareScanning";
import { QUEUE_TRIGGER } from "../contract/queueTrigger";
import { declaredSize, isUploadName } from "../contract/uploadNames";
import { HEIGHT_METADATA, publishCompletion, WIDTH_METADATA } from "../events";
import type { CompletionPublisher } from "../events/publisher";
import { ownerMetadata } from "../identity/owner";
import { parseRenditionsMetadata, renditionsMetadata } from "../photos/names";
import type { EncodedImage, ProcessedPhoto } from "../photos/process";
import { preparePhoto, writeRenditions } from "../photos/store";
import { instance } from "../platform/instance";
import { log } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { storageFailureCause } from "../platform/uploadsAccount";
import type { OutcomeStore } from "./outcomes";
import {
  type BlobCreatedEvent,
  EventMessageError,
  framesThroughout,
  judgeContent,
  judgeProperties,
  judgeReadRefusal,
  parseBlobCreatedMessage,
  type Verdict,
} from "./uploadCheck";

/** 404: the blob (or the version of it the event names) is gone; 412: it was written again since. */
const GONE = 404;
const CHANGED = 412;

/**
 * Returning acknowledges the message (the host deletes it); throwing leaves it for the host to retry, and
 * after host.json's maxDequeueCount tries to move to the poison queue. Only transient failures and configuration faults throw: a
 * message that is not an event cannot become one, so it is logged and acknowledged rather than retried.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
 */
export async function checkQueuedUpload(message: unknown, context: InvocationContext): Promise<void> {
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
  try {
    await checkEvent(event, context);
  } catch (error) {
    // The host moves the message to the poison queue after this try, and the upload stays pending (the
    // inbox's lifecycle rule deletes it in the end): the one alert an operator gets, naming the blob, so that
    // the event can be sent again once the cause is fixed (docs/security.md, "Replay a poisoned check").
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount);
    if (dequeueCount >= QUEUE_TRIGGER.maxDequeueCount) {
      log(context, "error", {
        event: "validation.abandoned",
        message: `The check of ${event.blobName} failed ${dequeueCount} times; its event goes to ${UPLOADS_CREATED_POISON_QUEUE} and the upload stays pending until the event is sent again.`,
        // Storage's answer by its status alone; the check's own errors say which step failed.
        cause:
          error instanceof RestError || !(error instanceof Error)
            ? storageFailureCause(error)
            : error.message,
        blobName: event.blobName,
        eTag: event.eTag,
        eventId: event.id,
      });
    }
    throw error;
  }
}

/**
 * The check of one event. With malware scanning on, a BlobCreated event alone decides nothing: the upload is
 * checked when its scan result arrives (`scan`, from function/scanning/), and until then it stays in the inbox,
 * pending; one without a result is never copied (docs/security.md#malware-scanning).
 */
export async function checkEvent(
  event: BlobCreatedEvent,
  context: InvocationContext,
  scan?: ScanResult,
): Promise<void> {
  const root = instance();
  let loaded: {
    settings: Settings;
    outcomes: OutcomeStore;
    service: BlobServiceClient;
    events: CompletionPublisher | undefined;
    malwareScanning: boolean;
  };
  try {
    loaded = {
      settings: root.settings(),
      outcomes: root.outcomes(),
      service: root.uploadsClient(),
      events: root.events(),
      malwareScanning: root.malwareScanning(),
    };
  } catch (error) {
    if (error instanceof SettingsError) log(context, "error", settingsInvalidEvent(error));
    // Retried, then poisoned: the event is sound, and replaying it from the poison queue once the setting is
    // fixed completes the check.
    throw error;
  }
  const { settings } = loaded;
  if (event.container !== settings.container) {
    log(context, "warning", {
      event: "validation.ignored",
      reason: "not the uploads container",
      eventId: event.id,
    });
    return;
  }
  // Signed in, every name the function gives starts with its owner's segment; anonymous, none does.
  if (!isUploadName(event.blobName, settings.auth !== undefined)) {
    await deleteUnresolved(loaded.service, settings, event.blobName);
    log(context, "warning", {
      event: "validation.nameRefused",
      reason: "not a name the function or the page gives uploads; deleted unchecked",
      blobName: event.blobName,
      eventId: event.id,
    });
    return;
  }
  if (!scan && loaded.malwareScanning) {
    log(context, "information", {
      event: "validation.awaitingScan",
      blobName: event.blobName,
      eTag: event.eTag,
      eventId: event.id,
    });
    return;
  }
  const result = await check(event, loaded, scan);
  const fields = { blobName: event.blobName, eTag: event.eTag, eventId: event.id };
  if (result.kind === "nameTaken") {
    log(context, "warning", {
      event: "validation.nameTaken",
      reason: "an accepted image already has this name; the new blob was deleted unchecked",
      verifiedSourceETag: result.verifiedSourceETag,
      ...fields,
    });
  } else if (result.kind === "redelivered") {
    log(context, "information", { event: "validation.redelivered", ...fields });
  } else if (result.kind === "skipped") {
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
  // After the verified copy and the outcome row: the event tells of what is recorded. A failure throws, so
  // the message comes back and this publishes the recorded outcome's event again, with the same id.
  await publishCompletion(event, loaded, context);
}

/** The first bytes' verdict, or the refusal of processing the whole image. */
type Decision = Verdict | Extract<ProcessedPhoto, { accepted: false }>;

type CheckResult =
  | { kind: "skipped"; reason: "gone" | "changed" }
  | { kind: "decided"; verdict: Decision }
  | { kind: "redelivered" }
  | { kind: "nameTaken"; verifiedSourceETag: string };

/**
 * Seams for tests, so that a write racing the check, or a failure between its steps, happens at a known
 * point: after the head read (before the verdict is carried out), and after the verified blob is written
 * (before its outcome is recorded). Nothing sets them outside tests.
 */
export const checkSeams: {
  afterHeadRead?: (blobName: string) => Promise<void>;
  afterCopy?: (blobName: string) => Promise<void>;
  beforeDelete?: (blobName: string) => Promise<void>;
} = {};

async function check(
  event: BlobCreatedEvent,
  { settings, outcomes, service }: { settings: Settings; outcomes: OutcomeStore; service: BlobServiceClient },
  scan?: ScanResult,
): Promise<CheckResult> {
  const inbox = service.getContainerClient(settings.container).getBlobClient(event.blobName);
  const properties = await settle(inbox.getProperties());
  if (properties === GONE) return { kind: "skipped", reason: "gone" };
  if (properties === CHANGED || !properties.etag || !sameETag(properties.etag, event.eTag)) {
    return { kind: "skipped", reason: "changed" };
  }
  // The blob's own form of the ETag (quoted) for the conditions below.
  const eTag = properties.etag;
  const conditions = { ifMatch: eTag };
  const verifiedContainer = service.getContainerClient(settings.check.verifiedContainer);
  const verified = verifiedContainer.getBlobClient(event.blobName);
  const decided = { blobName: event.blobName, eTag, sequencer: event.sequencer };

  // A name once accepted stays with its image: the verified blob is never replaced, whatever is uploaded
  // under that name later (a container token picks names; a per-upload token lives on after acceptance).
  const existing = await settle(verified.getProperties());
  if (existing !== GONE && existing !== CHANGED) {
    return settleExisting(existing, verified, inbox, eTag, outcomes);
  }

  const size = Math.max(event.contentLength, properties.contentLength ?? 0);
  let verdict: Decision | undefined = scan && scanVerdict(scan);
  verdict ??= judgeProperties(
    {
      blobType: properties.blobType ?? event.blobType,
      contentLength: size,
      declaredBytes: declaredSize(event.blobName),
      accessTier: properties.accessTier,
      customerKey: properties.encryptionKeySha256 !== undefined,
    },
    settings.issuanceLimits.maxUploadBytes,
  );
  if (!verdict) {
    // A conditional range read: the bytes judged are those of the version the event is about.
    const head = await settle(readJudged(inbox, size, conditions));
    if (head === GONE) return { kind: "skipped", reason: "gone" };
    if (head === CHANGED) return { kind: "skipped", reason: "changed" };
    await checkSeams.afterHeadRead?.(event.blobName);
    verdict =
      "refused" in head
        ? head.refused
        : await judgeContent(
            event.blobName,
            head.bytes,
            {
              allowedContentTypes: settings.issuanceLimits.allowedContentTypes,
              maxImagePixels: settings.check.maxImagePixels,
            },
            size,
          );
  }
  // Only a candidate is read whole: what reaches the verified container is its processed image.
  let photo: Extract<ProcessedPhoto, { accepted: true }> | undefined;
  if (verdict.accepted) {
    const prepared = await settle(
      preparePhoto(inbox, size, conditions, verdict.contentType, {
        maxImagePixels: settings.check.maxImagePixels,
        photos: settings.photos,
      }),
    );
    if (prepared === GONE) return { kind: "skipped", reason: "gone" };
    if (prepared === CHANGED) return { kind: "skipped", reason: "changed" };
    if (prepared.accepted) photo = prepared;
    else verdict = prepared;
  }
  if (verdict.accepted && photo) {
    const copied = await settle(
      storeVerified(photo, verifiedContainer, verified, eTag, event.sequencer).catch((error: unknown) => {
        // A destination that exists may be refused as a conflict (BlobAlreadyExists) rather than a failed
        // condition; both mean the same here.
        if (error instanceof RestError && error.statusCode === 409) return CHANGED;
        throw error;
      }),
    );
    if (typeof copied === "number") {
      // Which side refused matters: the inbox blob's going or changing ends the check; a verified blob that
      // appeared meanwhile (409 or 412 on If-None-Match: *) is either this very copy or a taken name.
      const now = await settle(inbox.getProperties());
      if (now === GONE) return { kind: "skipped", reason: "gone" };
      if (now === CHANGED || now.etag !== eTag) return { kind: "skipped", reason: "changed" };
      const there = await settle(verified.getProperties());
      if (there !== GONE && there !== CHANGED) return settleExisting(there, verified, inbox, eTag, outcomes);
      throw new Error(`copying to the verified container failed with ${copied}`);
    }
    // Recorded only once the headers are right: an accepted outcome promises a safe blob.
    await outcomes.record({
      ...decided,
      decidedAt: timestamp(),
      state: "accepted",
      url: verified.url,
      renditions: photo.renditions.map(({ data: _data, ...listed }) => listed),
    });
  } else if (!verdict.accepted) {
    await outcomes.record({
      ...decided,
      decidedAt: timestamp(),
      state: "rejected",
      reason: verdict.reason,
      code: verdict.code,
    });
  }
  // Blob soft delete, where the account has it, keeps a deleted upload recoverable for its retention period.
  // https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview
  await deleteInbox(inbox, eTag);
  return { kind: "decided", verdict };
}

/**
 * A scan that found a threat, or did not complete, rejects the upload (fail closed). The reason names the
 * scanner's verdict only: the malware's name is for the operator's alert, not for an anonymous uploader.
 * https://learn.microsoft.com/azure/defender-for-cloud/understand-malware-scan-results
 */
function scanVerdict(scan: ScanResult): Verdict | undefined {
  if (scan.resultType === SCAN_RESULT.clean) return undefined;
  if (scan.resultType === SCAN_RESULT.malicious) {
    return { accepted: false, code: "malware", reason: "the malware scanner's verdict is Malicious" };
  }
  return { accepted: false, code: "notScanned", reason: "the malware scanner could not scan it" };
}

/**
 * The bytes the verdict is drawn from: the first HEAD_BYTES, or the whole blob (already known to be within
 * the size limit) for a format whose frames lie throughout the file, so that each frame's size is seen. A
 * read the service refuses for good (judgeReadRefusal) is a refusal of the upload, not a failure to retry.
 */
async function readJudged(
  blob: BlobClient,
  size: number,
  conditions: { ifMatch: string },
): Promise<{ bytes: Uint8Array } | { refused: Verdict }> {
  try {
    const head = await readHead(blob, Math.min(size, HEAD_BYTES), conditions);
    if (size <= head.length || !framesThroughout(head)) return { bytes: head };
    return { bytes: await readHead(blob, size, conditions) };
  } catch (error) {
    const refused = error instanceof RestError ? judgeReadRefusal(error.code) : undefined;
    if (refused) return { refused };
    throw error;
  }
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
 * What valet writes on a verified blob besides its bytes: the metadata names the inbox version it was copied
 * from (and when it was created, by the event's sequencer) and the type its bytes showed, so that a later
 * event can tell a re-delivery from a new blob under a taken name and repair the headers from valet's own
 * record, never from the uploader's.
 */
const SOURCE_ETAG = "sourceetag";
const SOURCE_SEQUENCER = "sourcesequencer";
const DETECTED_TYPE = "detectedtype";

const RENDITIONS = "renditions";

/**
 * The processed image, written to a name that must not exist yet (`If-None-Match`: it never replaces a
 * verified blob), with its detected type as Content-Type and nothing else of the uploader's, after its
 * renditions. The inbox version it came from was read under `If-Match`, so these bytes are that version's.
 * https://learn.microsoft.com/rest/api/storageservices/put-blob
 * https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations
 */
async function storeVerified(
  photo: { image: EncodedImage; renditions: Parameters<typeof writeRenditions>[1] },
  container: ContainerClient,
  verified: BlobClient,
  eTag: string,
  sequencer: string,
): Promise<void> {
  await writeRenditions(container, photo.renditions);
  await verified.getBlockBlobClient().uploadData(photo.image.bytes, {
    conditions: { ifNoneMatch: "*" },
    blobHTTPHeaders: { blobContentType: photo.image.contentType },
    metadata: {
      [SOURCE_ETAG]: bareETag(eTag),
      [DETECTED_TYPE]: photo.image.contentType,
      // For the completion event, which may be published by a later try that no longer has the image.
      [WIDTH_METADATA]: String(photo.image.width),
      [HEIGHT_METADATA]: String(photo.image.height),
      // Signed in, the owner, from the name the function signed (the inbox blob's metadata is the uploader's).
      ...ownerMetadata(verified.name),
      // Only with a value: an event without a sequencer leaves the copy without one.
      ...(sequencer ? { [SOURCE_SEQUENCER]: sequencer } : {}),
      [RENDITIONS]: renditionsMetadata(photo.renditions, verified.name),
    },
  });
  await checkSeams.afterCopy?.(verified.name);
}

/**
 * The headers every verified blob is served with: the detected type, and nothing of the uploader's. No
 * Content-Disposition, -Encoding or -Language (an uploader's `attachment; filename=x.html` or `gzip` would
 * change how a browser treats the bytes); no Cache-Control, so that whoever serves the blob (a CDN, a SAS
 * link) decides caching, rather than a value valet would have to get right for every consumer.
 */
async function writeSafeHeaders(blob: BlobClient, ifMatch: string, contentType: string): Promise<void> {
  await blob.setHTTPHeaders({ blobContentType: contentType }, { conditions: { ifMatch } });
}

/**
 * The name already has a verified blob. Copied from this very version: a re-delivery, or a retry after a
 * failure between the copy and the outcome; the headers are made right (from valet's own metadata) and the
 * accepted outcome recorded. Copied from another version: the name is taken, and the new blob is deleted
 * unchecked. Either way the verified blob's accepted outcome stands, and the inbox blob goes.
 */
async function settleExisting(
  existing: { etag?: string; metadata?: Record<string, string> },
  verified: BlobClient,
  inbox: BlobClient,
  eTag: string,
  outcomes: OutcomeStore,
): Promise<CheckResult> {
  const metadata = existing.metadata ?? {};
  const sourceETag = metadata[SOURCE_ETAG] ?? "";
  const contentType = metadata[DETECTED_TYPE];
  if (contentType && isImageContentType(contentType) && existing.etag) {
    // A 412 here means the blob was written since it was read: only valet writes it, and the next try
    // reads it again.
    await writeSafeHeaders(verified, existing.etag, contentType);
    await outcomes.record({
      blobName: verified.name,
      eTag: `"${sourceETag}"`,
      sequencer: metadata[SOURCE_SEQUENCER] ?? "",
      decidedAt: timestamp(),
      state: "accepted",
      url: verified.url,
      renditions: parseRenditionsMetadata(metadata[RENDITIONS], verified.name),
    });
  }
  await deleteInbox(inbox, eTag);
  if (sameETag(sourceETag, eTag)) return { kind: "redelivered" };
  return { kind: "nameTaken", verifiedSourceETag: sourceETag };
}

/**
 * Deletes the inbox blob of the version checked, whatever lease its uploader took: a `w` token may lease its
 * blob (infinitely), and the delete then gets 412 LeaseIdMissing. The lease is broken at once (period 0)
 * and the delete tried again; breaking needs no lease id. A blob gone or rewritten since (404, or 412
 * ConditionNotMet) is left to its own event; any other failure throws, so the message is retried and, after
 * the fifth try, poisoned (which the alert on the poison queue reports), rather than the blob left behind.
 * https://learn.microsoft.com/rest/api/storageservices/lease-blob (break, x-ms-lease-break-period: 0)
 * https://learn.microsoft.com/rest/api/storageservices/delete-blob (a leased blob needs the lease id)
 * https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes (LeaseIdMissing, 412)
 */
async function deleteInbox(inbox: BlobClient, eTag: string): Promise<void> {
  const conditions = { ifMatch: eTag };
  await checkSeams.beforeDelete?.(inbox.name);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await inbox.delete({ conditions, deleteSnapshots: "include" });
      return;
    } catch (error) {
      if (!isLeased(error)) {
        if (error instanceof RestError && (error.statusCode === GONE || error.statusCode === CHANGED)) return;
        throw error;
      }
    }
    try {
      await inbox.getBlobLeaseClient().breakLease(0, { conditions });
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === GONE || error.statusCode === CHANGED)) return;
      // 409: no lease any more (released meanwhile): the next delete goes through.
      if (!(error instanceof RestError && error.statusCode === 409)) throw error;
    }
  }
  throw new Error("the inbox blob was leased again each time its lease was broken, and is not deleted yet");
}

function isLeased(error: unknown): boolean {
  return (
    error instanceof RestError &&
    error.statusCode === CHANGED &&
    (error.code === "LeaseIdMissing" || error.code === "LeaseIdMismatchWithBlobOperation")
  );
}

/**
 * Deletes a blob whose name the function never gives (a container token's holder may store
 * `../verified/y.png` by sending `..%2Fverified%2Fy.png`), never checking or resolving it: the SDK keeps a
 * name's `/` and so its `.` and `..` segments, which the URL parser then resolves (WHATWG URL, path
 * state), turning the name into another blob's. Here the whole name is one encoded segment (`/` as `%2F`,
 * which the service decodes back into the name), so the request reaches this blob and no other.
 * https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#blob-names
 * https://url.spec.whatwg.org/#single-dot-path-segment
 */
async function deleteUnresolved(
  service: BlobServiceClient,
  settings: Settings,
  blobName: string,
): Promise<void> {
  const container = service.getContainerClient(settings.container);
  const blob = new BlobClient(
    `${container.url}/${encodeURIComponent(blobName)}`,
    settings.uploads.credential,
  );
  // Whatever version is there: none of them is checked.
  await deleteInbox(blob, "*");
}

const timestamp = () => new Date().toISOString();

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
