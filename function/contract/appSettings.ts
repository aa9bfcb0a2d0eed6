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
  // The issuance limits for per-upload tokens (parsed in policy.ts).
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
  // Sign-in (parsed below, used by identity/): on when the issuer is set; anonymous otherwise.
  authIssuer: "AUTH_ISSUER",
  authAudience: "AUTH_AUDIENCE",
  authOwnerClaim: "AUTH_OWNER_CLAIM",
  authAlgorithms: "AUTH_ALGORITHMS",
  /** Signed in, the declared upload bytes one person may be granted per UTC day (the limits' daily allowance). */
  dailyUploadBytesPerOwner: "DAILY_UPLOAD_BYTES_PER_OWNER",
  // What an accepted photo becomes: re-encoded without personal metadata, and its renditions (parsed in
  // photoSettings.ts).
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

// Sign-in: the OpenID Connect issuer whose bearer tokens the function accepts. These parsers are shared with
// infra/config.ts, which reads the same values from `valet:authIssuer`, `valet:authAudience`,
// `valet:authOwnerClaim` and `valet:authAlgorithms`.

/** Signature algorithms a token may use: asymmetric only, so no secret is shared with the issuer. */
export const AUTH_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;
export type AuthAlgorithm = (typeof AUTH_ALGORITHMS)[number];
/** What Entra ID, Auth0 and Keycloak sign access tokens with by default. */
export const DEFAULT_AUTH_ALGORITHMS: readonly AuthAlgorithm[] = ["RS256"];
/** OpenID Connect's subject: unique and never reassigned within an issuer. */
export const DEFAULT_OWNER_CLAIM = "sub";

export interface AuthSettings {
  /** Exactly as tokens carry it in `iss` and the discovery document in `issuer`. */
  readonly issuer: string;
  /** Any one of these must be in the token's `aud`. */
  readonly audiences: readonly string[];
  readonly ownerClaim: string;
  readonly algorithms: readonly AuthAlgorithm[];
}

/** Hosts where an http issuer is accepted: a stand-in on this machine. */
const LOOPBACK_ISSUER_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The issuer's URL, or undefined when sign-in is off. https only (its discovery document and keys decide which
 * tokens are trusted, so they must not be open to tampering on the way), except an issuer on loopback.
 * https://openid.net/specs/openid-connect-discovery-1_0.html#IssuerDiscovery
 */
export function parseAuthIssuer(
  name: string,
  raw: string | undefined,
  options: { allowLoopbackHttp: boolean } = { allowLoopbackHttp: true },
): string | undefined {
  const text = trimmed(raw);
  if (text === undefined) return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  const loopbackHttp =
    options.allowLoopbackHttp && url?.protocol === "http:" && LOOPBACK_ISSUER_HOSTS.has(url.hostname);
  if (!url || !(url.protocol === "https:" || loopbackHttp)) {
    throw new SettingsError(
      name,
      `${name} must be the OpenID Connect issuer's https URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0` +
        (options.allowLoopbackHttp ? " (http only for a stand-in on 127.0.0.1, localhost or ::1)." : "."),
    );
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new SettingsError(name, `${name} must be the issuer's URL alone: no user name, query or fragment.`);
  }
  return text;
}

export function parseAuthAudiences(name: string, raw: string | undefined): string[] | undefined {
  const audiences = parseList(raw);
  if (audiences === undefined) return undefined;
  if (audiences.some((audience) => audience.length > 256)) {
    throw new SettingsError(name, `${name} must list audiences of at most 256 characters, comma-separated.`);
  }
  return audiences;
}

export function parseOwnerClaim(name: string, raw: string | undefined): string {
  const text = trimmed(raw);
  if (text === undefined) return DEFAULT_OWNER_CLAIM;
  if (!/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(text)) {
    throw new SettingsError(
      name,
      `${name} must name one claim of the token (letters, digits, '_', '.', ':' or '-'), e.g. sub or oid (default ${DEFAULT_OWNER_CLAIM}).`,
    );
  }
  return text;
}

export function parseAuthAlgorithms(name: string, raw: string | undefined): AuthAlgorithm[] {
  const list = parseList(raw);
  if (list === undefined || list.length === 0) return [...DEFAULT_AUTH_ALGORITHMS];
  const allowed: readonly string[] = AUTH_ALGORITHMS;
  if (!list.every((algorithm) => allowed.includes(algorithm))) {
    throw new SettingsError(
      name,
      `${name} must list signature algorithms from ${AUTH_ALGORITHMS.join(", ")} (default ${DEFAULT_AUTH_ALGORITHMS.join(", ")}); ` +
        "none and the HMAC ones (HS256…) are never accepted.",
    );
  }
  return list as AuthAlgorithm[];
}

/**
 * Sign-in's settings, or undefined when AUTH_ISSUER is unset (anonymous, as before). The audience is
 * required with an issuer: without it, a token the issuer minted for any other application would do.
 */
export function parseAuthSettings(
  env: Environment,
  names: {
    issuer: string;
    audience: string;
    ownerClaim: string;
    algorithms: string;
  } = {
    issuer: SETTING.authIssuer,
    audience: SETTING.authAudience,
    ownerClaim: SETTING.authOwnerClaim,
    algorithms: SETTING.authAlgorithms,
  },
  options?: { allowLoopbackHttp: boolean },
): AuthSettings | undefined {
  const issuer = parseAuthIssuer(names.issuer, env[names.issuer], options);
  const audiences = parseAuthAudiences(names.audience, env[names.audience]);
  if (issuer === undefined) {
    if (audiences !== undefined) {
      throw new SettingsError(
        names.audience,
        `${names.audience} is set without ${names.issuer}: set both to require sign-in, or neither.`,
      );
    }
    return undefined;
  }
  if (audiences === undefined) {
    throw new SettingsError(
      names.audience,
      `${names.audience} is not set: with ${names.issuer}, tokens must be for this API (its application ID URI or client ID).`,
    );
  }
  return {
    issuer,
    audiences,
    ownerClaim: parseOwnerClaim(names.ownerClaim, env[names.ownerClaim]),
    algorithms: parseAuthAlgorithms(names.algorithms, env[names.algorithms]),
  };
}
