// App-setting names (shared with infra/, which sets them), the error every bad setting raises, and the
// parsers the settings have in common.

/** App-setting names. `AzureWebJobsStorage` is not among them: it belongs to the Functions runtime. */
export const SETTING = {
  connectionString: "UPLOADS_CONNECTION_STRING",
  container: "UPLOADS_CONTAINER",
  tokenLifetimeMinutes: "SAS_TOKEN_LIFETIME_MINUTES",
  // The issuance policy for per-upload tokens (parsed in policy.ts).
  uploadTokenLifetimeMinutes: "UPLOAD_TOKEN_LIFETIME_MINUTES",
  allowedContentTypes: "ALLOWED_CONTENT_TYPES",
  maxUploadBytes: "MAX_UPLOAD_BYTES",
  containerTokensEnabled: "CONTAINER_TOKENS_ENABLED",
  bindTokenToClientIp: "BIND_TOKEN_TO_CLIENT_IP",
} as const;

/** A setting is missing or wrong. The message names the setting and never quotes its value. */
export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = "SettingsError";
  }
}

/** The log event for a bad setting: names the setting and what is wrong, never its value. */
export function settingsInvalidEvent(error: SettingsError): {
  event: string;
  setting: string;
  message: string;
} {
  return { event: "settings.invalid", setting: error.setting, message: error.message };
}

export type Environment = Readonly<Record<string, string | undefined>>;

export function parseMinutes(
  name: string,
  raw: string | undefined,
  fallback: number,
  bounds: { readonly min: number; readonly max: number },
): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const text = raw.trim();
  const value = Number(text);
  if (!/^\d{1,7}$/.test(text) || value < bounds.min || value > bounds.max) {
    throw new SettingsError(
      name,
      `${name} must be a whole number of minutes from ${bounds.min} to ${bounds.max} (default ${fallback}).`,
    );
  }
  return value;
}
