// The stack's configuration: every key read once, typed and validated here, so that a bad value fails
// `pulumi preview` with a message naming the key and the values it accepts. Values that become the
// function's app settings are checked by the function's own parsers, called with the stack key.
import * as pulumi from "@pulumi/pulumi";
import {
  type AuthSettings,
  parseAuthSettings,
  parseBoolean,
  parseList,
  parseWholeNumber,
  SettingsError,
  trimmed,
} from "../function/contract/appSettings";
import { DEFAULT_VERIFIED_CONTAINER, parseMaxImagePixels } from "../function/contract/check";
import {
  fitUploadTokenLifetime,
  parseContainerName,
  parseTokenGeneration,
  parseTokenLifetime,
} from "../function/contract/container";
import {
  checkTurnstileKeysPaired,
  parseTurnstileSecretKey,
  parseTurnstileSiteKey,
} from "../function/contract/humanCheckSettings";
import {
  type ImageContentType,
  parseBindTokenToClientIp,
  parseContainerTokensEnabled,
  parseContentTypes,
  parseMaxUploadBytes,
  parseUploadTokenLifetime,
} from "../function/contract/issuanceLimits";
import {
  checkDailyAllowance,
  parseDailyUploadBytes,
  parseDailyUploadBytesPerOwner,
  parseIssuanceBurst,
  parseIssuanceRate,
} from "../function/contract/limits";
import { fitsInstanceMemory, largestFittingPixels } from "../function/contract/photoMemory";
import {
  type PhotoSettings,
  parseFeedSize,
  parsePhotoQuality,
  parseRenditionQuality,
  parseThumbnailSize,
} from "../function/contract/photoSettings";
import { parseRootSecret } from "../function/contract/rootSecret";
import { parseSigningMode } from "../function/contract/signingMode";
import { validateOrigins } from "./cors";
import { DEFAULT_SIGNING_KEY, SIGNING_KEYS, type Signing, type SigningKey } from "./signing";

export const DEFAULT_LOCATION = "swedencentral";
/**
 * The instance cap bounds the bill and what an abuser can make the app scale to. Flex Consumption
 * accepts 1 to 1000 on-demand instances.
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#set-instance-limits
 */
export const DEFAULT_MAXIMUM_INSTANCE_COUNT = 40;
export const MAXIMUM_INSTANCE_COUNT_BOUNDS = { min: 1, max: 1000 } as const;
/** https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-memory */
export const INSTANCE_MEMORY_SIZES = [512, 2048, 4096] as const;
export const DEFAULT_INSTANCE_MEMORY_MB = 2048;
/** Blob and container soft delete keep 1 to 365 days. */
export const SOFT_DELETE_RETENTION_BOUNDS = { min: 1, max: 365 } as const;
export const DEFAULT_SOFT_DELETE_RETENTION_DAYS = 7;
/**
 * Inbox blobs the validator never took out are deleted after this many days. At least 2: Event Grid keeps
 * retrying a delivery for a day (infra/events.ts), and the blob must still be there when the event arrives.
 * A week lets an operator see a poison message and send it again after a fix.
 */
export const INBOX_RETENTION_BOUNDS = { min: 2, max: 365 } as const;
export const DEFAULT_INBOX_RETENTION_DAYS = 7;
/** A month's cost budget, in the billing currency, when budget alerts are on. */
export const DEFAULT_MONTHLY_BUDGET = 50;
export const MONTHLY_BUDGET_BOUNDS = { min: 1, max: 1_000_000 } as const;
/** Log Analytics (PerGB2018) keeps 30 to 730 days. */
export const LOG_RETENTION_BOUNDS = { min: 30, max: 730 } as const;
export const DEFAULT_LOG_RETENTION_DAYS = 30;

export interface StackConfig {
  readonly location: string;
  /** Origins allowed by the blob service CORS rule and the Function App's CORS, besides the upload page. */
  readonly allowedOrigins: readonly string[];
  /** `"*"` may be among the origins: every web site may upload. */
  readonly allowAnyOrigin: boolean;
  /** Deploy the upload page as the uploads account's static website (its origin is then allowed too). */
  readonly deployUploadPage: boolean;
  readonly container: string;
  readonly tokenLifetimeMinutes: number;
  readonly uploadTokenLifetimeMinutes: number;
  readonly allowedContentTypes: readonly ImageContentType[];
  readonly maxUploadBytes: number;
  readonly containerTokensEnabled: boolean;
  readonly bindTokenToClientIp: boolean;
  /** TOKEN_GENERATION: raising it revokes every token issued so far. */
  readonly tokenGeneration: number;
  /**
   * How tokens are signed: `accountKey` with the uploads account key `signingKey` (the account allows Shared
   * Key, the function holds the key), or `identity` (keyless: Shared Key off, the function signs with a user
   * delegation key, and derives its HMAC keys from `keyDerivationSecret`). infra/signing.ts makes the plan.
   */
  readonly signing: Signing;
  readonly issuanceRatePerMinute: number;
  readonly issuanceBurst: number;
  readonly dailyUploadBytesPerClient: number;
  readonly maximumInstanceCount: number;
  readonly instanceMemoryMB: number;
  readonly softDeleteRetentionDays: number;
  /** Unchecked uploads older than this are deleted from the inbox. */
  readonly inboxRetentionDays: number;
  /** MAX_IMAGE_PIXELS: the validator refuses images with more pixels. */
  readonly maxImagePixels: number;
  /** What an accepted photo becomes: PHOTO_QUALITY, PHOTO_RENDITION_QUALITY, PHOTO_FEED_SIZE, PHOTO_THUMBNAIL_SIZE. */
  readonly photos: PhotoSettings;
  readonly logRetentionDays: number;
  /** A monthly cost budget with e-mail alerts, when `budgetAlertEmail` is set. */
  readonly budget?: { readonly amount: number; readonly alertEmail: string };
  /** The opt-in human check, when both Turnstile keys are set: the page's site key, the function's secret. */
  readonly turnstile?: { readonly siteKey: string; readonly secretKey: pulumi.Output<string> };
  /** Sign-in, when `authIssuer` is set: every endpoint then requires a bearer token from that issuer. */
  readonly auth?: AuthSettings;
  /** DAILY_UPLOAD_BYTES_PER_OWNER: signed in, one person's daily allowance of declared upload bytes. */
  readonly dailyUploadBytesPerOwner: number;
  /** Who hears of each verdict: `eventsWebhookUrl` and `eventsStorageQueue` (docs/events.md). */
  readonly events: CompletionEventsConfig;
  /** `malwareScanning` and `malwareScanCapGBPerMonth` (docs/security.md#malware-scanning). */
  readonly malwareScanning: MalwareScanningConfig;
}

export interface CompletionEventsConfig {
  /** An https endpoint that answers the CloudEvents validation handshake; none: no webhook subscription. */
  readonly webhookUrl?: string;
  /** Also deliver to a queue on the runtime account, for a backend that reads queues. */
  readonly storageQueue: boolean;
}

/** A configuration value is wrong. A RunError, so Pulumi prints the message without a stack trace. */
export class StackConfigError extends pulumi.RunError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = "StackConfigError";
  }
}

/**
 * Where the values come from: the stack's config (`pulumi.Config`), or a caller's arguments in the same form
 * (infra/valetUploads.ts), so that both meet the same rules and defaults.
 */
export interface ConfigSource {
  /** The namespace of the keys, e.g. `valet`. */
  readonly name: string;
  get(key: string): string | undefined;
  getSecret(key: string): pulumi.Output<string> | undefined;
  /** How errors name a key; `<name>:<key>` when absent, as a person writes it in the stack file. */
  keyName?(key: string): string;
}

/** Reads and validates the stack's configuration (the project's namespace, e.g. `valet:location`). */
export function loadStackConfig(config: ConfigSource = new pulumi.Config()): StackConfig {
  const key = (name: string) => fullKey(config, name);
  // The function's own parsers check the values that become its app settings, so each rule lives once.
  const read = <T>(name: string, parse: (name: string, raw: string | undefined) => T): T =>
    asStackConfigError(() => parse(key(name), config.get(name)));
  const allowAnyOrigin = read("allowAnyOrigin", (name, raw) => parseBoolean(name, raw, false));
  const origins = readList(config, "allowedOrigins") ?? [];
  let allowedOrigins: string[];
  try {
    allowedOrigins = validateOrigins(origins, { allowAnyOrigin, source: key("allowedOrigins") });
  } catch (error) {
    const detail = (error as Error).message;
    throw new StackConfigError(
      key("allowedOrigins"),
      detail.includes('"*"') ? `${detail} (set ${key("allowAnyOrigin")} to true to opt in)` : detail,
    );
  }
  const stackConfig: StackConfig = {
    location: readLocation(config),
    allowedOrigins,
    allowAnyOrigin,
    deployUploadPage: read("deployUploadPage", (name, raw) => parseBoolean(name, raw, true)),
    container: read("container", parseContainerName),
    tokenLifetimeMinutes: read("tokenLifetimeMinutes", parseTokenLifetime),
    uploadTokenLifetimeMinutes: read("uploadTokenLifetimeMinutes", parseUploadTokenLifetime),
    allowedContentTypes: asStackConfigError(() =>
      parseContentTypes(
        key("allowedContentTypes"),
        readList(config, "allowedContentTypes"),
        "a list of types among",
      ),
    ),
    maxUploadBytes: read("maxUploadBytes", parseMaxUploadBytes),
    containerTokensEnabled: read("containerTokensEnabled", parseContainerTokensEnabled),
    bindTokenToClientIp: read("bindTokenToClientIp", parseBindTokenToClientIp),
    tokenGeneration: read("tokenGeneration", parseTokenGeneration),
    signing: readSigning(config),
    issuanceRatePerMinute: read("issuanceRatePerMinute", parseIssuanceRate),
    issuanceBurst: read("issuanceBurst", parseIssuanceBurst),
    dailyUploadBytesPerClient: read("dailyUploadBytesPerClient", parseDailyUploadBytes),
    dailyUploadBytesPerOwner: read("dailyUploadBytesPerOwner", parseDailyUploadBytesPerOwner),
    maximumInstanceCount: read("maximumInstanceCount", (name, raw) =>
      parseWholeNumber(name, raw, DEFAULT_MAXIMUM_INSTANCE_COUNT, MAXIMUM_INSTANCE_COUNT_BOUNDS, "instances"),
    ),
    instanceMemoryMB: readInstanceMemory(config),
    softDeleteRetentionDays: read("softDeleteRetentionDays", (name, raw) =>
      parseWholeNumber(name, raw, DEFAULT_SOFT_DELETE_RETENTION_DAYS, SOFT_DELETE_RETENTION_BOUNDS, "days"),
    ),
    inboxRetentionDays: read("inboxRetentionDays", (name, raw) =>
      parseWholeNumber(name, raw, DEFAULT_INBOX_RETENTION_DAYS, INBOX_RETENTION_BOUNDS, "days"),
    ),
    maxImagePixels: read("maxImagePixels", parseMaxImagePixels),
    photos: {
      quality: read("photoQuality", parsePhotoQuality),
      renditionQuality: read("renditionQuality", parseRenditionQuality),
      feedSize: read("feedSize", parseFeedSize),
      thumbnailSize: read("thumbnailSize", parseThumbnailSize),
    },
    logRetentionDays: read("logRetentionDays", (name, raw) =>
      parseWholeNumber(name, raw, DEFAULT_LOG_RETENTION_DAYS, LOG_RETENTION_BOUNDS, "days"),
    ),
    events: readCompletionEvents(config),
    malwareScanning: readMalwareScanning(config),
  };
  if (stackConfig.container === DEFAULT_VERIFIED_CONTAINER) {
    throw new StackConfigError(
      key("container"),
      `${key("container")} must not be ${DEFAULT_VERIFIED_CONTAINER}: that container holds the images the ` +
        "validator accepted, and uploads land in another one.",
    );
  }
  checkInstanceMemory(key, stackConfig);
  const budget = readBudget(config);
  const uploadTokenLifetimeMinutes = asStackConfigError(() =>
    fitUploadTokenLifetime(
      { container: key("tokenLifetimeMinutes"), upload: key("uploadTokenLifetimeMinutes") },
      { container: stackConfig.tokenLifetimeMinutes, upload: stackConfig.uploadTokenLifetimeMinutes },
      config.get("uploadTokenLifetimeMinutes"),
    ),
  );
  asStackConfigError(() =>
    checkDailyAllowance(
      { daily: key("dailyUploadBytesPerClient"), max: key("maxUploadBytes") },
      { daily: stackConfig.dailyUploadBytesPerClient, max: stackConfig.maxUploadBytes },
    ),
  );
  asStackConfigError(() =>
    checkDailyAllowance(
      { daily: key("dailyUploadBytesPerOwner"), max: key("maxUploadBytes") },
      { daily: stackConfig.dailyUploadBytesPerOwner, max: stackConfig.maxUploadBytes },
    ),
  );
  const turnstile = readTurnstile(config);
  const auth = readAuth(config);
  return {
    ...stackConfig,
    uploadTokenLifetimeMinutes,
    ...(budget && { budget }),
    ...(turnstile && { turnstile }),
    ...(auth && { auth }),
  };
}

/** `valet:eventsWebhookUrl` and `valet:eventsStorageQueue`, checked so that `pulumi preview` names a bad one. */
function readCompletionEvents(config: ConfigSource): CompletionEventsConfig {
  const webhookKey = fullKey(config, "eventsWebhookUrl");
  const raw = config.get("eventsWebhookUrl")?.trim();
  let webhookUrl: string | undefined;
  if (raw) {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    // Event Grid delivers to webhooks over HTTPS only.
    // https://learn.microsoft.com/azure/event-grid/handler-webhooks
    if (url?.protocol !== "https:") {
      throw new StackConfigError(
        webhookKey,
        `${webhookKey} must be an https URL that answers the CloudEvents validation handshake (docs/events.md).`,
      );
    }
    webhookUrl = url.href;
  }
  const queueKey = fullKey(config, "eventsStorageQueue");
  const queueRaw = config.get("eventsStorageQueue")?.trim();
  if (queueRaw !== undefined && queueRaw !== "true" && queueRaw !== "false") {
    throw new StackConfigError(queueKey, `${queueKey} must be true or false (default false).`);
  }
  return { ...(webhookUrl && { webhookUrl }), storageQueue: queueRaw === "true" };
}

/**
 * Sign-in, with the function's own parsers under the stack's keys. A deployed function is never on the
 * issuer's machine, so the loopback exception the local stack has is refused here: an http issuer's
 * discovery document and keys could be changed on the way, and with them who may upload.
 */
function readAuth(config: ConfigSource): AuthSettings | undefined {
  const names = {
    issuer: "authIssuer",
    audience: "authAudience",
    ownerClaim: "authOwnerClaim",
    algorithms: "authAlgorithms",
  };
  const env = Object.fromEntries(
    Object.values(names).map((name) => [fullKey(config, name), config.get(name)]),
  );
  const keys = {
    issuer: fullKey(config, names.issuer),
    audience: fullKey(config, names.audience),
    ownerClaim: fullKey(config, names.ownerClaim),
    algorithms: fullKey(config, names.algorithms),
  };
  return asStackConfigError(() => parseAuthSettings(env, keys, { allowLoopbackHttp: false }));
}

/**
 * How tokens are signed, with the function's rules for KEY_DERIVATION_SECRET at preview: needed keyless
 * (resume secrets, human passes), refused with an account key (which is the root then), and checked inside
 * the secret without quoting it. `valet:signingKey` names an account key, so it is refused keyless.
 */
function readSigning(config: ConfigSource): Signing {
  const mode = asStackConfigError(() => parseSigningMode(fullKey(config, "signing"), config.get("signing")));
  const name = fullKey(config, "keyDerivationSecret");
  const secret = config.getSecret("keyDerivationSecret");
  if (mode === "accountKey") {
    if (secret !== undefined) {
      throw new StackConfigError(
        name,
        `${name} is only for ${fullKey(config, "signing")} identity: with the account key, keys are derived ` +
          "from the account key, so remove it.",
      );
    }
    return { mode, signingKey: readSigningKey(config) };
  }
  if (trimmed(config.get("signingKey")) !== undefined) {
    const signingKey = fullKey(config, "signingKey");
    throw new StackConfigError(
      signingKey,
      `${signingKey} names the account key that signs tokens, and with ${fullKey(config, "signing")} identity ` +
        "none does: remove it.",
    );
  }
  if (secret === undefined) {
    throw new StackConfigError(
      name,
      `${name} is not set: with ${fullKey(config, "signing")} identity the resume secrets and the human ` +
        "check's passes are signed with keys derived from it; set it with " +
        `pulumi config set --secret keyDerivationSecret "$(openssl rand -base64 32)".`,
    );
  }
  const keyDerivationSecret = secret.apply((raw) => {
    if (asStackConfigError(() => parseRootSecret(name, raw)) === undefined) {
      throw new StackConfigError(name, `${name} is blank: set it to base64 of 32 random bytes.`);
    }
    return raw.trim();
  });
  return { mode, keyDerivationSecret };
}

/**
 * Off unless both keys are set. The secret key is read as a secret (`pulumi config set --secret`), so it
 * stays encrypted in the stack file and the state and becomes a secret app setting; its checks run on
 * its value inside the output and never quote it.
 */
function readTurnstile(config: ConfigSource): StackConfig["turnstile"] {
  const siteKeyName = fullKey(config, "turnstileSiteKey");
  const secretKeyName = fullKey(config, "turnstileSecretKey");
  const siteKey = asStackConfigError(() =>
    parseTurnstileSiteKey(siteKeyName, config.get("turnstileSiteKey")),
  );
  const secret = config.getSecret("turnstileSecretKey");
  // Presence is known at preview even for a secret, so a missing half fails before anything is created.
  const secretSet = secret !== undefined;
  asStackConfigError(() =>
    checkTurnstileKeysPaired(
      { siteKey: siteKeyName, secretKey: secretKeyName },
      { siteKey: siteKey !== undefined, secretKey: secretSet },
    ),
  );
  if (siteKey === undefined || secret === undefined) return undefined;
  const secretKey = secret.apply((raw) => {
    const parsed = asStackConfigError(() => parseTurnstileSecretKey(secretKeyName, raw));
    if (parsed === undefined) {
      throw new StackConfigError(secretKeyName, `${secretKeyName} is blank: set the Turnstile secret key.`);
    }
    return parsed;
  });
  return { siteKey, secretKey };
}

/** Runs a parser of function/, re-raising its error (which names the stack key) as a StackConfigError. */
function asStackConfigError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // The operator sees the detail: it is their own stack config, and no secret goes through these parsers.
    if (error instanceof SettingsError) throw new StackConfigError(error.setting, error.detail);
    throw error;
  }
}

/** `valet:location`: the key as a person writes it in the stack file. */
function fullKey(config: ConfigSource, key: string): string {
  return config.keyName ? config.keyName(key) : `${config.name}:${key}`;
}

/** Azure region names: lowercase letters and digits, e.g. `westeurope`, `eastus2`. */
function readLocation(config: ConfigSource): string {
  const value = trimmed(config.get("location"));
  if (value === undefined) return DEFAULT_LOCATION;
  if (!/^[a-z][a-z0-9]{2,39}$/.test(value)) {
    throw new StackConfigError(
      fullKey(config, "location"),
      `${fullKey(config, "location")} must be an Azure region name in lowercase letters and digits that ` +
        `offers Flex Consumption, for example swedencentral, westeurope or eastus2 (default ${DEFAULT_LOCATION}).`,
    );
  }
  return value;
}

function readSigningKey(config: ConfigSource): SigningKey {
  const value = trimmed(config.get("signingKey"));
  if (value === undefined) return DEFAULT_SIGNING_KEY;
  const key = SIGNING_KEYS.find((candidate) => candidate === value);
  if (key === undefined) {
    const name = fullKey(config, "signingKey");
    throw new StackConfigError(
      name,
      `${name} must be ${SIGNING_KEYS.join(" or ")} (default ${DEFAULT_SIGNING_KEY}): the uploads account key ` +
        "that signs tokens.",
    );
  }
  return key;
}

/** Off unless `budgetAlertEmail` is set; `monthlyBudget` alone is refused, since it would alert no one. */
function readBudget(config: ConfigSource): StackConfig["budget"] {
  const emailKey = fullKey(config, "budgetAlertEmail");
  const alertEmail = trimmed(config.get("budgetAlertEmail"));
  const rawAmount = config.get("monthlyBudget");
  if (alertEmail === undefined) {
    if (trimmed(rawAmount) !== undefined) {
      throw new StackConfigError(
        fullKey(config, "monthlyBudget"),
        `${fullKey(config, "monthlyBudget")} is set but ${emailKey} is not: set the address the budget alerts go to.`,
      );
    }
    return undefined;
  }
  if (!/^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/.test(alertEmail)) {
    throw new StackConfigError(emailKey, `${emailKey} must be one e-mail address, such as ops@example.com.`);
  }
  const amount = asStackConfigError(() =>
    parseWholeNumber(
      fullKey(config, "monthlyBudget"),
      rawAmount,
      DEFAULT_MONTHLY_BUDGET,
      MONTHLY_BUDGET_BOUNDS,
      "units of the billing currency",
    ),
  );
  return { amount, alertEmail };
}

function readInstanceMemory(config: ConfigSource): number {
  const name = fullKey(config, "instanceMemoryMB");
  const raw = trimmed(config.get("instanceMemoryMB"));
  if (raw === undefined) return DEFAULT_INSTANCE_MEMORY_MB;
  const value = Number(raw);
  if (!(INSTANCE_MEMORY_SIZES as readonly number[]).includes(value) || !/^\d+$/.test(raw)) {
    throw new StackConfigError(
      name,
      `${name} must be one of ${INSTANCE_MEMORY_SIZES.join(", ")} (default ${DEFAULT_INSTANCE_MEMORY_MB}).`,
    );
  }
  return value;
}

/**
 * The instance must hold a check of the largest image the caps allow, with the queue's whole batch in flight,
 * in three quarters of its memory (function/contract/photoMemory.ts): refused at preview, not found out of memory later.
 */
function checkInstanceMemory(key: (name: string) => string, stack: StackConfig): void {
  const { instanceMemoryMB, maxImagePixels, maxUploadBytes } = stack;
  if (fitsInstanceMemory(instanceMemoryMB, maxImagePixels, maxUploadBytes)) return;
  const largest = largestFittingPixels(instanceMemoryMB, maxUploadBytes);
  throw new StackConfigError(
    key("instanceMemoryMB"),
    `${key("instanceMemoryMB")} ${instanceMemoryMB} cannot hold the check of a ${maxImagePixels}-pixel image of ` +
      `up to ${maxUploadBytes} bytes in three quarters of its memory: ` +
      (largest > 0
        ? `lower ${key("maxImagePixels")} to ${largest} or less, or choose a larger instance.`
        : `lower ${key("maxUploadBytes")}, or choose a larger instance.`),
  );
}

/**
 * A list, written in the stack file as a YAML list (which Pulumi hands over as JSON) or as one
 * comma-separated string (handy with `pulumi config set`). Undefined when the key is not set.
 */
function readList(config: ConfigSource, key: string): string[] | undefined {
  const raw = config.get(key)?.trim();
  if (!raw?.startsWith("[")) return parseList(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
    throw new StackConfigError(
      fullKey(config, key),
      `${fullKey(config, key)} must be a list of strings (a YAML list, or one comma-separated string).`,
    );
  }
  return parsed.map((item: string) => item.trim()).filter((item) => item !== "");
}

/** GB scanned a month before Defender stops scanning (and the gate, failing closed, stops accepting). */
export const DEFAULT_SCAN_CAP_GB_PER_MONTH = 1000;

export interface MalwareScanningConfig {
  readonly enabled: boolean;
  readonly capGBPerMonth: number;
}

/** `valet:malwareScanning` and `valet:malwareScanCapGBPerMonth`, checked at `pulumi preview`. */
function readMalwareScanning(config: ConfigSource): MalwareScanningConfig {
  const key = (name: string) => fullKey(config, name);
  const raw = config.get("malwareScanning")?.trim();
  if (raw !== undefined && raw !== "" && raw !== "true" && raw !== "false") {
    throw new StackConfigError(
      key("malwareScanning"),
      `${key("malwareScanning")} must be true or false (default false).`,
    );
  }
  const capRaw = config.get("malwareScanCapGBPerMonth")?.trim();
  const capGBPerMonth = capRaw ? Number(capRaw) : DEFAULT_SCAN_CAP_GB_PER_MONTH;
  if (!/^\d+$/.test(capRaw ?? "1") || capGBPerMonth < 1 || capGBPerMonth > 1_000_000) {
    throw new StackConfigError(
      key("malwareScanCapGBPerMonth"),
      `${key("malwareScanCapGBPerMonth")} must be a whole number of GB from 1 to 1000000 (default ${DEFAULT_SCAN_CAP_GB_PER_MONTH}).`,
    );
  }
  return { enabled: raw === "true", capGBPerMonth };
}
