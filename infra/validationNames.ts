// The names and settings the upload validator (function/) and this program share: its app settings with
// their defaults and parsers, the queue Event Grid feeds it, its poison queue and the outcomes table the
// status endpoint answers from.
import { parseWholeNumber } from "../function/appSettings";

/** The validator's app settings. */
export const VALIDATION_SETTING = {
  /** The private container accepted images are copied to. */
  verifiedContainer: "VERIFIED_CONTAINER",
  /** Images with more pixels than this are refused (decompression bombs). */
  maxImagePixels: "MAX_IMAGE_PIXELS",
  /**
   * A connection prefix: `<prefix>__queueServiceUri` and `<prefix>__tableServiceUri`, the form Functions
   * reads for an identity-based Storage connection.
   * https://learn.microsoft.com/azure/azure-functions/functions-reference#common-properties-for-identity-based-connections
   */
  validationStorage: "VALIDATION_STORAGE",
} as const;

export const VALIDATION_QUEUE_SERVICE_URI = `${VALIDATION_SETTING.validationStorage}__queueServiceUri`;
export const VALIDATION_TABLE_SERVICE_URI = `${VALIDATION_SETTING.validationStorage}__tableServiceUri`;

export const DEFAULT_VERIFIED_CONTAINER = "verified";
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;
export const MAX_IMAGE_PIXELS_BOUNDS = { min: 1, max: 10_000_000_000 } as const;

/** Where Event Grid puts each BlobCreated event of the inbox. */
export const UPLOADS_CREATED_QUEUE = "uploads-created";
/**
 * The Functions host moves a message here after its fifth failed run: `<queue>-poison` is the host's own
 * naming. https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
 */
export const UPLOADS_CREATED_POISON_QUEUE = `${UPLOADS_CREATED_QUEUE}-poison`;
/** One row per checked upload, read by the status endpoint. */
export const OUTCOMES_TABLE = "uploadoutcomes";

export function parseMaxImagePixels(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_BOUNDS, "pixels");
}
