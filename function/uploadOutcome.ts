// Whether an upload is over, so that it can no longer be resumed. One question with one answer, asked by the
// resume request only: today, whether storage holds a committed blob of that name.
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
