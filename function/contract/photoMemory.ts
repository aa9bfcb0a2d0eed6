// How much memory processing photos may take on one instance, and the settings that bound it: sharp's threads,
// the queue trigger's batch, and the instance size infra/ configures: infra/config.ts refuses a stack whose
// instance could run out with the batch in flight.

/**
 * Messages the queue trigger hands the function at once, and (with `newBatchThreshold` 0) the most it runs at
 * once on one instance: `batchSize + newBatchThreshold`. function/host.json says the same (a test holds them
 * together). One photo at a time: a check of the largest image the default pixel cap allows peaks near 1 GB
 * (row 11 of `npm run bench`), and two of them would not fit a 2048 MB instance.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json
 */
export const CHECK_BATCH_SIZE = 1;
export const CHECK_NEW_BATCH_THRESHOLD = 0;

/**
 * libvips' worker threads per image. More threads than the instance has cores add a buffer each and no speed,
 * and one check runs at a time (above).
 * https://sharp.pixelplumbing.com/api-utility#concurrency
 */
export const SHARP_CONCURRENCY = 1;

/**
 * What the Node.js worker takes before any photo, with the bundle and sharp loaded (about 100 MB measured on
 * Node 20, rounded up). The Functions host's own process lives in the half of the instance left free.
 */
export const RUNTIME_BASELINE_BYTES = 128 * 1024 * 1024;

/**
 * What one check holds per pixel of its image, measured (`npm run bench`, row 11): about 9 bytes a pixel at
 * its peak for a JPEG re-encoded and turned upright (the decoded image, libvips' buffers around it, the
 * encoder's), rounded up to 10.
 */
export const CHECK_BYTES_PER_PIXEL = 10;

/** The most one check holds: the upload read whole (at most `maxUploadBytes`) and its image being processed. */
export function checkMemoryBytes(maxImagePixels: number, maxUploadBytes: number): number {
  return maxUploadBytes + CHECK_BYTES_PER_PIXEL * maxImagePixels;
}

/**
 * The share of an instance's memory the worker may plan for: the rest is headroom for the Functions host's own
 * process, the allocator's fragmentation and the HTTP functions on the same instance.
 */
export const PLANNED_SHARE = 0.75;

/**
 * Whether an instance of `instanceMemoryMB` holds the worker and the whole batch in flight, each check at its
 * largest, within the planned share of its memory. Flex Consumption instances have 512, 2048 (the default) or
 * 4096 MB. https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-memory
 */
export function fitsInstanceMemory(
  instanceMemoryMB: number,
  maxImagePixels: number,
  maxUploadBytes: number,
): boolean {
  const inFlight = CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD;
  return (
    RUNTIME_BASELINE_BYTES + inFlight * checkMemoryBytes(maxImagePixels, maxUploadBytes) <=
    plannedBytes(instanceMemoryMB)
  );
}

/** The largest pixel cap that fits: what an error tells the operator to lower `maxImagePixels` to. */
export function largestFittingPixels(instanceMemoryMB: number, maxUploadBytes: number): number {
  const perCheck =
    (plannedBytes(instanceMemoryMB) - RUNTIME_BASELINE_BYTES) /
    (CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD);
  return Math.max(0, Math.floor((perCheck - maxUploadBytes) / CHECK_BYTES_PER_PIXEL));
}

function plannedBytes(instanceMemoryMB: number): number {
  return instanceMemoryMB * 1024 * 1024 * PLANNED_SHARE;
}
