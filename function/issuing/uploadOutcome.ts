// Whether an upload is over, so that it can no longer be resumed: the one place that knows what ends an
// upload. A committed blob of its name in the inbox (waiting for its check), or an outcome the check
// recorded (accepted and copied to the verified container, or rejected; either way gone from the inbox).
import type { OutcomeStore } from "../checking/outcomes";
import type { Settings } from "../platform/settings";
import { storageFailureCause, uploadsServiceClient } from "../platform/uploadsAccount";

/** Storage did not answer whether the upload is finished. */
export class UploadOutcomeUnavailableError extends Error {
  override name = "UploadOutcomeUnavailableError";
}

/**
 * True once the upload is finished. Blocks staged but not committed make no blob (storage answers 404 until
 * Put Block List), so an upload in progress has neither a blob nor an outcome.
 * https://learn.microsoft.com/rest/api/storageservices/put-block#remarks
 * https://learn.microsoft.com/rest/api/storageservices/get-blob-properties
 */
export async function uploadFinished(
  settings: Settings,
  outcomes: OutcomeStore,
  blobName: string,
): Promise<boolean> {
  const blob = uploadsServiceClient(settings.uploads, {
    // One quick try: the caller waits, and a page that is refused for now asks again later.
    retryOptions: { maxTries: 2, tryTimeoutInMs: 5000 },
  })
    .getContainerClient(settings.container)
    .getBlobClient(blobName);
  try {
    const [stored, outcome] = await Promise.all([blob.exists(), outcomes.find(blobName)]);
    return stored || outcome !== undefined;
  } catch (error) {
    throw new UploadOutcomeUnavailableError(storageFailureCause(error));
  }
}
