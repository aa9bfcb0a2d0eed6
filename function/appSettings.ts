// App-setting names (shared with infra/, which sets them), the error every bad setting raises, and the
// parsers the settings have in common.

/** App-setting names. `AzureWebJobsStorage` is not among them: it belongs to the Functions runtime. */
export const SETTING = {
  // The uploads account: a connection string with its key, or (keyless) its blob endpoint alone.
  connectionString: "UPLOADS_CONNECTION_STRING",
  accountUrl: "UPLOADS_ACCOUNT_URL",
  /** Keyless only: the root secret HMAC keys are derived from (keyDerivation.ts), there being no account key. */
  keyDerivationSecret: "KEY_DERIVATION_SECRET",
  container: "UPLOADS_CONTAINER",
  tokenLifetimeMinutes: "SAS_TOKEN_LIFETIME_MINUTES",
  // The issuance policy for per-upload tokens (parsed in policy.ts).
  uploadTokenLifetimeMinutes: "UPLOAD_TOKEN_LIFETIME_MINUTES",
  allowedContentTypes: "ALLOWED_CONTENT_TYPES",
  maxUploadBytes: "MAX_UPLOAD_BYTES",
  containerTokensEnabled: "CONTAINER_TOKENS_ENABLED",
  bindTokenToClientIp: "BIND_TOKEN_TO_CLIENT_IP",
  // Which stored access policies tokens reference (parsed in container.ts); raising it revokes them.
  tokenGeneration: "TOKEN_GENERATION",
  // Per-client issuance limits and where their counts are kept (parsed in limits.ts).
  issuanceRatePerMinute: "ISSUANCE_RATE_PER_MINUTE",
  issuanceBurst: "ISSUANCE_BURST",
  dailyUploadBytesPerClient: "DAILY_UPLOAD_BYTES_PER_CLIENT",
  /** A connection prefix: `<prefix>__tableServiceUri` (identity) or `<prefix>` itself (a connection string). */
  limitsStorage: "ISSUANCE_LIMITS_STORAGE",
  // The opt-in human check (parsed in humanCheck.ts): on when the secret key is set.
  turnstileSecretKey: "TURNSTILE_SECRET_KEY",
  turnstileSiteverifyUrl: "TURNSTILE_SITEVERIFY_URL",
  // The check of every upload after it is stored (parsed in verification.ts).
  verifiedContainer: "VERIFIED_CONTAINER",
  maxImagePixels: "MAX_IMAGE_PIXELS",
  /**
   * A connection prefix for the upload events' queue and the outcomes table: `<prefix>__queueServiceUri`
   * and `<prefix>__tableServiceUri` (identity) or `<prefix>` itself (a connection string).
   */
  validationStorage: "VALIDATION_STORAGE",
  // What an accepted photo becomes: re-encoded without personal metadata, and its renditions (parsed in
  // photos/settings.ts).
  photoQuality: "PHOTO_QUALITY",
  feedSize: "PHOTO_FEED_SIZE",
  thumbnailSize: "PHOTO_THUMBNAIL_SIZE",
  renditionQuality: "PHOTO_RENDITION_QUALITY",
} as const;

/**
 * A setting is missing or wrong. The message names the setting and the kind of problem and never quotes
 * any part of its value: it is what an anonymous caller may be told. The detail, for the log and the
 * operator, may also say which part is wrong, but only for a setting that is not a secret; it defaults
 * to the message.
 */
export class SettingsError extends Error {
  readonly detail: string;
  constructor(
    readonly setting: string,
    message: string,
    detail?: string,
  ) {
    super(message);
    this.name = "SettingsError";
    this.detail = detail ?? message;
  }
}

/** The log event for a bad setting: names the setting and what is wrong, never a secret's value. */
export function settingsInvalidEvent(error: SettingsError): {
  event: string;
  setting: string;
  message: string;
} {
  return { event: "settings.invalid", setting: error.setting, message: error.detail };
}

export type Environment = Readonly<Record<string, string | undefined>>;

// The converters below are shared with infra/config.ts, which reads the same values from stack config:
// each takes the name to report (an app setting here, a `valet:` key there), treats a blank value as
// unset, and throws a SettingsError whose message names that setting and never quotes its value.

export interface Bounds {
  readonly min: number;
  readonly max: number;
}

/** The value without surrounding whitespace; undefined when unset or blank, where the default applies. */
export function trimmed(raw: string | undefined): string | undefined {
  const text = raw?.trim();
  return text === "" ? undefined : text;
}

export function parseWholeNumber(
  name: string,
  raw: string | undefined,
  fallback: number,
  bounds: Bounds,
  unit: string,
): number {
  const text = trimmed(raw);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < bounds.min || value > bounds.max) {
    throw new SettingsError(
      name,
      `${name} must be a whole number of ${unit} from ${bounds.min} to ${bounds.max} (default ${fallback}).`,
    );
  }
  return value;
}

export function parseMinutes(
  name: string,
  raw: string | undefined,
  fallback: number,
  bounds: Bounds,
): number {
  return parseWholeNumber(name, raw, fallback, bounds, "minutes");
}

export function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  const value = trimmed(raw)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === "true") return true;
  if (value === "false") return false;
  throw new SettingsError(name, `${name} must be true or false (default ${fallback}).`);
}

/** A comma-separated list, its items trimmed and blanks dropped; undefined when the value is blank. */
export function parseList(raw: string | undefined): string[] | undefined {
  return trimmed(raw)
    ?.split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
