// Uploads one file's bytes to its target with the storage SDK: in blocks, several at a time, the SDK
// retrying a failed block rather than the whole file. The page and the benchmark both upload this way.
import { AnonymousCredential, BlockBlobClient } from "@azure/storage-blob";
import type { UploadTarget } from "./tokens";

/**
 * Network hiccups: the SDK retries the failed request (one block, not the whole file), waiting 0, 1, 3
 * and 7 seconds between tries.
 */
const RETRY_OPTIONS = { maxTries: 5, retryDelayInMs: 1000, maxRetryDelayInMs: 10_000 } as const;

export interface UploadOptions {
  /** The blob's Content-Type. */
  contentType: string;
  blockSizeBytes: number;
  concurrency: number;
  onProgress: (loadedBytes: number) => void;
  abortSignal?: AbortSignal;
}

/**
 * The most requests one file's upload keeps in flight: a file of one block (or less) goes in one request,
 * a larger one sends up to `concurrency` blocks at a time.
 */
export function requestsInFlight(
  sizeBytes: number,
  tuning: Pick<UploadOptions, "blockSizeBytes" | "concurrency">,
): number {
  return Math.max(1, Math.min(tuning.concurrency, Math.ceil(sizeBytes / tuning.blockSizeBytes)));
}

/**
 * Uploads one file to its target: in blocks of blockSizeBytes, `concurrency` at a time. A browser passes
 * the File; Node passes a Buffer (the SDK's Node build slices only buffers).
 */
export async function uploadTo(
  target: UploadTarget,
  data: Blob | Uint8Array,
  options: UploadOptions,
): Promise<void> {
  const client = new BlockBlobClient(`${target.blobUrl}?${target.sasKey}`, new AnonymousCredential(), {
    retryOptions: RETRY_OPTIONS,
  });
  await client.uploadData(data, {
    blockSize: options.blockSizeBytes,
    concurrency: options.concurrency,
    // A container token can only create, and Put Block needs write: one Put Blob for those (up to the
    // service's 5,000 MiB single-request limit). A per-upload token goes in blocks beyond one block's size.
    maxSingleShotSize: target.perUpload ? options.blockSizeBytes : 5000 * 1024 * 1024,
    blobHTTPHeaders: { blobContentType: options.contentType },
    onProgress: (progress) => options.onProgress(progress.loadedBytes),
    abortSignal: options.abortSignal,
  });
}
