// Whether an upload is over, so that it can no longer be resumed: the one place that knows what ends an
// upload. Today that is a committed blob of its name; an outcome recorded after the upload (accepted and
// moved elsewhere, or rejected) ends it too, and is to be asked here as well.
import { BlobClient } from "@azure/storage-blob";
import type { Settings } from "./settings";

/** Storage did not answer whether the upload is finished. */
export class UploadOutcomeUnavailableError extends Error {
  override name = "UploadOutcomeUnavailableError";
}

/**
 * True once the upload is finished: its block list was committed, so the blob exists. Blocks staged but not
 * committed do not make a blob (storage answers 404 for it until Put Block List), so an upload in progress is
 * not finished.
 * https://learn.microsoft.com/rest/api/storageservices/put-block#remarks
 * https://learn.microsoft.com/rest/api/storageservices/get-blob-properties
 */
export async function uploadFinished(settings: Settings, blobName: string): Promise<boolean> {
  const blob = new BlobClient(
    `${settings.blobServiceUrl}/${settings.container}/${encodeURIComponent(blobName)}`,
    settings.credential,
    // One quick try: the caller waits, and a page that is refused for now asks again later.
    { retryOptions: { maxTries: 2, tryTimeoutInMs: 5000 } },
  );
  try {
    return await blob.exists();
  } catch (error) {
    throw new UploadOutcomeUnavailableError(error instanceof Error ? error.name : typeof error);
  }
}
