// How much memory processing photos may take on one instance, and the settings that bound it: sharp's threads,
// the queue trigger's batch, and the instance size infra/ configures. No SDK imports: infra/config.ts refuses a
// stack whose instance could run out with the batch in flight.

/**
 * Messages the queue trigger hands the function at once, and (with `newBatchThreshold` 0) the most it runs at
 * once on one instance: `batchSize + newBatchThreshold`. function/host.json says the same (a test holds them
 * together). One photo at a time: a check of the largest image the pixel cap allows holds it decoded whole
 * while it is turned upright, and two of them would not fit in half of a 2048 MB instance.
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
 * The most one check holds, by the settings that bound it: the upload read whole (at most `maxUploadBytes`),
 * its re-encode (no larger than the upload for a lossy format; a lossless one is budgeted the same), and the
 * image decoded whole at four bytes a pixel (8-bit RGBA), which turning it upright requires. Renditions are
 * made from a decode at their own size, and add little.
 */
export function checkMemoryBytes(maxImagePixels: number, maxUploadBytes: number): number {
  return 2 * maxUploadBytes + 4 * maxImagePixels;
}

/**
 * Whether an instance of `instanceMemoryMB` keeps half of its memory free with the whole batch in flight:
 * the other half is headroom for the allocator's fragmentation and the HTTP functions on the same instance.
 * Flex Consumption instances have 512, 2048 (the default) or 4096 MB.
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-memory
 */
export function fitsInstanceMemory(
  instanceMemoryMB: number,
  maxImagePixels: number,
  maxUploadBytes: number,
): boolean {
  const inFlight =
    (CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD) * checkMemoryBytes(maxImagePixels, maxUploadBytes);
  return RUNTIME_BASELINE_BYTES + inFlight <= (instanceMemoryMB * 1024 * 1024) / 2;
}

/** The largest pixel cap that fits: what an error tells the operator to lower `maxImagePixels` to. */
export function largestFittingPixels(instanceMemoryMB: number, maxUploadBytes: number): number {
  const budget = (instanceMemoryMB * 1024 * 1024) / 2 - RUNTIME_BASELINE_BYTES;
  const perCheck = budget / (CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD);
  return Math.max(0, Math.floor((perCheck - 2 * maxUploadBytes) / 4));
}
