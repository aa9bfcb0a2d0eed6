// The check every upload gets after it is stored: its settings (the verified container, the pixel cap)
// and the names the function, the local stack and infra/ share (the events' queue, the outcomes table).
import { type Environment, parseWholeNumber, SETTING, SettingsError } from "./appSettings";
import { parseContainerName } from "./container";
import { queueServiceUriSetting, tableServiceUriSetting } from "./storageConnection";

/** Accepted images, written only by the function: nothing a token holder does reaches them. */
export const DEFAULT_VERIFIED_CONTAINER = "verified";
/**
 * 100 megapixels: above any camera's photo (a 61-megapixel full frame, a 200-megapixel phone mode
 * excepted), far below what a decompression bomb claims (a 100000 × 100000 PNG header is 10 gigapixels).
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;
export const MAX_IMAGE_PIXELS_BOUNDS = { min: 1, max: 10_000_000_000 } as const;

/** The one event type the check reads: a blob was written in the inbox. */
export const BLOB_CREATED = "Microsoft.Storage.BlobCreated";

/** Where Event Grid puts the inbox's BlobCreated events; the Functions host moves failing ones to `-poison`. */
export const UPLOADS_CREATED_QUEUE = "uploads-created";
/**
 * The queue trigger's poison queue: `<queue>-poison`, by the Functions host's convention.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
 */
export const UPLOADS_CREATED_POISON_QUEUE = `${UPLOADS_CREATED_QUEUE}-poison`;
/** One row per checked upload: what the status endpoint answers. */
export const OUTCOMES_TABLE = "uploadoutcomes";
/** The identity-based forms of the validation connection, on the runtime account. */
export const VALIDATION_QUEUE_SERVICE_URI = queueServiceUriSetting(SETTING.validationStorage);
export const VALIDATION_TABLE_SERVICE_URI = tableServiceUriSetting(SETTING.validationStorage);

/**
 * The most of an upload the check reads. Enough for every allowed type's signature, and for the dimensions of
 * ordinary files; not for a JPEG whose frame header (SOF) comes after more than this of metadata (large
 * EXIF, ICC or XMP segments), nor a TIFF whose first IFD lies beyond it: those are refused as unreadable
 * rather than read further. Only a file no larger than this is read whole and has its end checked.
 */
export const HEAD_BYTES = 128 * 1024;

export interface CheckSettings {
  readonly verifiedContainer: string;
  readonly maxImagePixels: number;
}

/** `inboxContainer` is where uploads land; the verified container must be another one. */
export function parseCheckSettings(env: Environment, inboxContainer: string): CheckSettings {
  const verifiedContainer = parseVerifiedContainer(SETTING.verifiedContainer, env[SETTING.verifiedContainer]);
  if (verifiedContainer === inboxContainer) {
    throw new SettingsError(
      SETTING.verifiedContainer,
      `${SETTING.verifiedContainer} must name another container than ${SETTING.container}: uploads land in ` +
        "one and only checked images are copied to the other.",
    );
  }
  return {
    verifiedContainer,
    maxImagePixels: parseMaxImagePixels(SETTING.maxImagePixels, env[SETTING.maxImagePixels]),
  };
}

// One parser per setting; infra/config.ts may call them with stack keys.

export function parseVerifiedContainer(name: string, raw: string | undefined): string {
  return parseContainerName(name, raw, DEFAULT_VERIFIED_CONTAINER);
}

export function parseMaxImagePixels(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_BOUNDS, "pixels");
}
