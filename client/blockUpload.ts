// Uploads one file's bytes to its target with the storage SDK. A file of more than one block with a
// per-upload token goes block by block, several at a time, each block staged under an id that is the same
// in every session, so that an upload cut short can stage only what is missing and commit the whole list.
// The page and the benchmark both upload this way.
import { AnonymousCredential, BlockBlobClient } from "@azure/storage-blob";
import { errorCodeOf, isRestError } from "./errors.js";
import type { UploadTarget } from "./types.js";
import { blockCount, blockId } from "./uploadRecords.js";

/**
 * Network hiccups: the SDK retries the failed request (one block, not the whole file), waiting 0, 1, 3
 * and 7 seconds between tries.
 */
const RETRY_OPTIONS = { maxTries: 5, retryDelayInMs: 1000, maxRetryDelayInMs: 10_000 } as const;
/**
 * A block upload gives up sooner (0 and 1 second): it keeps what it staged, and the page tries again from
 * there, waiting longer each time and at once when the browser is back online.
 */
const BLOCK_RETRY_OPTIONS = { maxTries: 3, retryDelayInMs: 1000, maxRetryDelayInMs: 10_000 } as const;

export interface UploadOptions {
  /** The blob's Content-Type. */
  contentType: string;
  blockSizeBytes: number;
  concurrency: number;
  onProgress: (loadedBytes: number) => void;
  abortSignal?: AbortSignal;
}

/** Which blocks of a block upload are already staged, and whom to tell of each block staged. */
export interface StagedBlocks {
  /** Indexes of the blocks storage already holds for this blob, as far as the page knows. */
  readonly staged: ReadonlySet<number>;
  /** One more block is staged. */
  onStaged(index: number): Promise<void> | void;
  /** Storage did not hold every block named as staged (InvalidBlockList): all are sent again. */
  onLost(): Promise<void> | void;
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

/** Whether this file goes to this target in blocks (and so can be resumed). */
export function goesInBlocks(target: UploadTarget, sizeBytes: number, blockSizeBytes: number): boolean {
  return target.perUpload && sizeBytes > blockSizeBytes;
}

/**
 * Uploads one file to its target. A browser passes the File; Node passes a Buffer (the SDK's Node build
 * slices only buffers). In blocks (goesInBlocks), `blocks` says which are already staged; otherwise the
 * SDK sends it: one Put Blob for a container token, which can only create (Put Block needs write), up to
 * the service's 5,000 MiB single-request limit.
 */
export async function uploadTo(
  target: UploadTarget,
  data: Blob | Uint8Array,
  options: UploadOptions,
  blocks: StagedBlocks = { staged: new Set(), onStaged: () => undefined, onLost: () => undefined },
): Promise<void> {
  const size = data instanceof Blob ? data.size : data.byteLength;
  if (goesInBlocks(target, size, options.blockSizeBytes)) {
    await uploadBlocks(target, data, size, options, blocks);
    return;
  }
  const client = new BlockBlobClient(`${target.blobUrl}?${target.sasKey}`, new AnonymousCredential(), {
    retryOptions: RETRY_OPTIONS,
  });
  await client.uploadData(data, {
    blockSize: options.blockSizeBytes,
    concurrency: options.concurrency,
    maxSingleShotSize: target.perUpload ? options.blockSizeBytes : 5000 * 1024 * 1024,
    blobHTTPHeaders: { blobContentType: options.contentType },
    metadata: ownerMetadata(target),
    onProgress: (progress) => options.onProgress(progress.loadedBytes),
    abortSignal: options.abortSignal,
  });
}

/** Signed in, the owner the function named, as the blob's metadata (x-ms-meta-owner); none anonymous. */
function ownerMetadata(target: UploadTarget): Record<string, string> | undefined {
  return target.owner ? { owner: target.owner } : undefined;
}

/**
 * Stages the blocks not yet staged, `concurrency` at a time, then commits them all in order. Storage
 * refuses a list naming a block it does not hold with InvalidBlockList (uncommitted blocks expire after 7
 * days, and a commit deletes every block it does not list); then every block is staged again and the
 * commit tried once more.
 * https://learn.microsoft.com/rest/api/storageservices/put-block-list#remarks
 * https://learn.microsoft.com/dotnet/api/azure.storage.blobs.specialized.blockblobclient.commitblocklist
 */
async function uploadBlocks(
  target: UploadTarget,
  data: Blob | Uint8Array,
  size: number,
  options: UploadOptions,
  blocks: StagedBlocks,
): Promise<void> {
  const client = new BlockBlobClient(`${target.blobUrl}?${target.sasKey}`, new AnonymousCredential(), {
    retryOptions: BLOCK_RETRY_OPTIONS,
  });
  const count = blockCount(size, options.blockSizeBytes);
  const ids = Array.from({ length: count }, (_, index) => blockId(index));
  const commit = () =>
    client.commitBlockList(ids, {
      blobHTTPHeaders: { blobContentType: options.contentType },
      metadata: ownerMetadata(target),
      abortSignal: options.abortSignal,
    });
  await stageMissing(client, data, size, new Set(blocks.staged), options, blocks);
  try {
    await commit();
  } catch (error) {
    if (!isRestError(error) || errorCodeOf(error) !== "InvalidBlockList") throw error;
    await blocks.onLost();
    await stageMissing(client, data, size, new Set(), options, blocks);
    await commit();
  }
}

async function stageMissing(
  client: BlockBlobClient,
  data: Blob | Uint8Array,
  size: number,
  staged: Set<number>,
  options: UploadOptions,
  blocks: StagedBlocks,
): Promise<void> {
  const { blockSizeBytes } = options;
  const count = blockCount(size, blockSizeBytes);
  const lengthOf = (index: number) => Math.min(blockSizeBytes, size - index * blockSizeBytes);
  const missing = Array.from({ length: count }, (_, index) => index).filter((index) => !staged.has(index));
  let stagedBytes = 0;
  for (const index of staged) stagedBytes += lengthOf(index);
  const inFlight = new Map<number, number>();
  const report = () => {
    let loaded = stagedBytes;
    for (const bytes of inFlight.values()) loaded += bytes;
    options.onProgress(loaded);
  };
  report();
  // One block failing (after the SDK's own tries) stops the others: the page tries again from what is staged.
  // (Linked by hand: AbortSignal.any is newer than some of the browsers the page is built for.)
  const stop = new AbortController();
  const signal = stop.signal;
  const outer = options.abortSignal;
  const abort = () => stop.abort(outer?.reason);
  if (outer?.aborted) abort();
  outer?.addEventListener("abort", abort, { once: true });
  const worker = async () => {
    for (let index = missing.shift(); index !== undefined; index = missing.shift()) {
      const start = index * blockSizeBytes;
      const length = lengthOf(index);
      const body =
        data instanceof Blob ? data.slice(start, start + length) : data.subarray(start, start + length);
      inFlight.set(index, 0);
      await client.stageBlock(blockId(index), body, length, {
        abortSignal: signal,
        onProgress: (progress) => {
          inFlight.set(index, progress.loadedBytes);
          report();
        },
      });
      inFlight.delete(index);
      stagedBytes += length;
      await blocks.onStaged(index);
      report();
    }
  };
  const workers = Array.from({ length: Math.min(options.concurrency, missing.length) }, async () => {
    try {
      await worker();
    } catch (error) {
      stop.abort(error);
      throw error;
    }
  });
  const results = await Promise.allSettled(workers);
  outer?.removeEventListener("abort", abort);
  if (results.some((result) => result.status === "rejected")) throw stop.signal.reason;
}
