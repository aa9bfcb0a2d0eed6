// The check's one call into completion events: after a verdict is carried out and recorded, publish the
// event of the recorded outcome. Called for every try of a queue message, so a publish that failed before
// (the message then retried by the queue) is sent again, with the same id, without the verdict being redone.
import type { InvocationContext } from "@azure/functions";
import { type BlobServiceClient, RestError } from "@azure/storage-blob";
import type { OutcomeStore } from "../checking/outcomes";
import { sameETag } from "../contract/eTags";
import { log } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { completionEvent, type VerifiedFacts } from "./completion";
import type { CompletionPublisher } from "./publisher";

/** The metadata the check writes on each verified blob for its dimensions. */
export const WIDTH_METADATA = "width";
export const HEIGHT_METADATA = "height";

/**
 * Publishes the event of the outcome recorded for `blobName`, when that outcome is of the version `eTag`
 * names (a later version's event is its own message's; a name taken by an earlier upload has no new verdict).
 * Returns whether an event was sent. Throws when the topic refuses or cannot be reached, so the queue retries.
 */
export async function publishCompletion(
  upload: { blobName: string; eTag: string },
  parts: {
    settings: Settings;
    outcomes: OutcomeStore;
    service: BlobServiceClient;
    events: CompletionPublisher | undefined;
  },
  context: InvocationContext,
): Promise<boolean> {
  const { settings, outcomes, service, events: publisher } = parts;
  if (!publisher) return false;
  const outcome = await outcomes.find(upload.blobName);
  if (!outcome || !sameETag(outcome.eTag, upload.eTag)) return false;
  const facts =
    outcome.state === "accepted" ? await verifiedFacts(service, settings, upload.blobName) : undefined;
  const source = `${settings.uploads.blobServiceUrl}/${settings.container}`;
  if (outcome.state === "accepted" && !facts) return false;
  const event = completionEvent(outcome, source, facts);
  await publisher.publish(event);
  log(context, "information", {
    event: "completion.published",
    type: event.type,
    id: event.id,
    blobName: upload.blobName,
  });
  return true;
}

/** The verified blob's type, size and dimensions; undefined if it is gone (deleted by an operator). */
async function verifiedFacts(
  service: BlobServiceClient,
  settings: Settings,
  blobName: string,
): Promise<VerifiedFacts | undefined> {
  const blob = service.getContainerClient(settings.check.verifiedContainer).getBlobClient(blobName);
  try {
    const properties = await blob.getProperties();
    const metadata = properties.metadata ?? {};
    const dimension = (name: string) => {
      const value = Number(metadata[name]);
      return Number.isSafeInteger(value) && value > 0 ? value : undefined;
    };
    const width = dimension(WIDTH_METADATA);
    const height = dimension(HEIGHT_METADATA);
    return {
      contentType: properties.contentType ?? "application/octet-stream",
      size: properties.contentLength ?? 0,
      ...(width !== undefined && { width }),
      ...(height !== undefined && { height }),
    };
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    throw error;
  }
}
