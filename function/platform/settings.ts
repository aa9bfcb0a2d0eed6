// Reads and validates the function's settings (the instance root, instance.ts, reads them once per instance): the uploads account (from its
// connection string, or keyless from its URL), the container, the container token's lifetime, the issuance
// limits, the human check and the check of stored uploads.

import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { BlobServiceClient, SASProtocol, StorageSharedKeyCredential } from "@azure/storage-blob";
import {
  type AuthSettings,
  type Environment,
  parseAuthSettings,
  SETTING,
  SettingsError,
  trimmed,
} from "../contract/appSettings";
import { type CheckSettings, parseCheckSettings } from "../contract/check";
import {
  fitUploadTokenLifetime,
  parseContainerName,
  parseTokenGeneration,
  parseTokenLifetime,
} from "../contract/container";
import { type HumanCheckSettings, parseHumanCheckSettings } from "../contract/humanCheckSettings";
import { type IssuanceLimits, parseIssuanceLimits } from "../contract/issuanceLimits";
import { type PhotoSettings, parsePhotoSettings } from "../contract/photoSettings";
import { type KeyRoot, parseRootSecret } from "../contract/rootSecret";
import { humanPassKey } from "../issuing/humanCheck";
import { deriveKey, KEY_LABELS } from "../signing/keyDerivation";
import type { UploadsAccount } from "./uploadsAccount";

/** Azure's default endpoint suffix, assumed when an account-key connection string names none. */
const DEFAULT_ENDPOINT_SUFFIX = "core.windows.net";

export interface Settings {
  /**
   * The uploads account (uploadsAccount.ts): its blob service URL, name and the tokens' protocol, and the one
   * way every client is made.
   */
  readonly uploads: UploadsAccount;
  /** The root of every HMAC key (keyDerivation.ts): the account key, or keyless KEY_DERIVATION_SECRET. */
  readonly keyRoot: KeyRoot;
  readonly container: string;
  readonly tokenLifetimeMinutes: number;
  readonly issuanceLimits: IssuanceLimits;
  /** The key generation whose stored access policies tokens reference (accessPolicies.ts). */
  readonly tokenGeneration: number;
  /** The Turnstile check issuance requires, or undefined when it is off. */
  readonly humanCheck: HumanCheckSettings | undefined;
  /** The key human passes are signed with, derived from the key root. */
  readonly humanPassKey: Buffer;
  /** The key resume secrets are signed with (resume.ts), derived from the key root. */
  readonly resumeKey: Buffer;
  /** The check every stored upload gets before it reaches the verified container. */
  readonly check: CheckSettings;
  /** The OpenID Connect issuer whose bearer tokens every endpoint requires, or undefined: anonymous. */
  readonly auth: AuthSettings | undefined;
  /** What an accepted photo becomes (contract/photoSettings.ts). */
  readonly photos: PhotoSettings;
}

export interface SettingsOptions {
  /**
   * The Entra ID credential keyless mode signs with, for a host that has its own (the local stack's
   * stand-in for Entra ID); by default the app's managed identity.
   */
  readonly uploadsCredential?: TokenCredential;
}

export function parseSettings(env: Environment, options: SettingsOptions = {}): Settings {
  const uploads = parseUploadsAccount(env, options);
  const tokenLifetimeMinutes = parseTokenLifetime(
    SETTING.tokenLifetimeMinutes,
    env[SETTING.tokenLifetimeMinutes],
  );
  const issuanceLimits = parseIssuanceLimits(env);
  const uploadTokenLifetimeMinutes = fitUploadTokenLifetime(
    { container: SETTING.tokenLifetimeMinutes, upload: SETTING.uploadTokenLifetimeMinutes },
    { container: tokenLifetimeMinutes, upload: issuanceLimits.uploadTokenLifetimeMinutes },
    env[SETTING.uploadTokenLifetimeMinutes],
  );
  const tokenGeneration = parseTokenGeneration(SETTING.tokenGeneration, env[SETTING.tokenGeneration]);
  const container = parseContainerName(SETTING.container, env[SETTING.container]);
  const keyRoot = parseKeyRoot(env, uploads);
  const humanCheck = parseHumanCheckSettings(env);
  return {
    uploads,
    keyRoot,
    container,
    tokenLifetimeMinutes,
    issuanceLimits: { ...issuanceLimits, uploadTokenLifetimeMinutes },
    tokenGeneration,
    humanCheck,
    humanPassKey: humanPassKey(keyRoot),
    resumeKey: deriveKey(keyRoot, KEY_LABELS.resume),
    check: parseCheckSettings(env, container),
    auth: parseAuthSettings(env),
    photos: parsePhotoSettings(env),
  };
}

/**
 * The account key is the root where there is one, so account-key mode needs no further secret; keyless,
 * the root is KEY_DERIVATION_SECRET, which is refused where the account key already is the root.
 */
function parseKeyRoot(env: Environment, uploads: UploadsAccount): KeyRoot {
  const name = SETTING.keyDerivationSecret;
  const root = parseRootSecret(name, env[name]);
  if (uploads.mode === "identity") {
    if (root) return root;
    throw new SettingsError(
      name,
      `${name} is not set: keyless (${SETTING.accountUrl}) the resume secrets and the human check's passes ` +
        "are signed with keys derived from it; set it to base64 of 32 random bytes (openssl rand -base64 32).",
    );
  }
  if (root) {
    throw new SettingsError(
      name,
      `${name} is only for keyless signing (${SETTING.accountUrl}): with ${SETTING.connectionString} keys ` +
        "are derived from the account key, so remove it.",
    );
  }
  return uploads.credential;
}

/** The uploads account: exactly one of its connection string (account key) and its URL (keyless). */
function parseUploadsAccount(env: Environment, options: SettingsOptions): UploadsAccount {
  const accountUrl = trimmed(env[SETTING.accountUrl]);
  if (accountUrl === undefined) return parseConnectionString(env[SETTING.connectionString]);
  if (trimmed(env[SETTING.connectionString]) !== undefined) {
    throw new SettingsError(
      SETTING.accountUrl,
      `${SETTING.connectionString} and ${SETTING.accountUrl} are both set: set the connection string to sign ` +
        "with the account key, or the account URL to sign keyless with the app's identity, not both.",
    );
  }
  return parseAccountUrl(accountUrl, options.uploadsCredential ?? defaultCredential(env));
}

/**
 * The app's managed identity where the platform provides one (App Service and Functions set
 * IDENTITY_ENDPOINT for it), otherwise DefaultAzureCredential (a developer's Azure CLI sign-in, say).
 * https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
 */
function defaultCredential(env: Environment): TokenCredential {
  return env.IDENTITY_ENDPOINT ? new ManagedIdentityCredential() : new DefaultAzureCredential();
}

/**
 * Keyless: the blob endpoint, https even on loopback, since Entra ID bearer tokens are sent over HTTPS
 * only (Azurite refuses them over http as Azure does).
 * https://learn.microsoft.com/rest/api/storageservices/authorize-with-azure-active-directory
 */
export function parseAccountUrl(raw: string, credential: TokenCredential): UploadsAccount {
  const name = SETTING.accountUrl;
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (url?.protocol !== "https:") {
    throw new SettingsError(
      name,
      `${name} must be the uploads account's https blob endpoint, e.g. https://<account>.blob.core.windows.net ` +
        "(https also for an emulator: bearer tokens are sent over HTTPS only).",
    );
  }
  checkBlobEndpoint(name, raw);
  const blobServiceUrl = raw.replace(/\/+$/, "");
  const accountName = new BlobServiceClient(blobServiceUrl).accountName;
  if (accountName === "") {
    throw new SettingsError(
      name,
      `${name} names no storage account: give https://<account>.blob.core.windows.net.`,
    );
  }
  return { mode: "identity", blobServiceUrl, accountName, credential, protocol: SASProtocol.Https };
}

const ACCEPTED_FORMS =
  "an account-key connection string (DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…, " +
  "with EndpointSuffix or BlobEndpoint optional) or UseDevelopmentStorage=true";

export function parseConnectionString(raw: string | undefined): UploadsAccount {
  const name = SETTING.connectionString;
  if (raw === undefined || raw.trim() === "") {
    throw new SettingsError(
      name,
      `${name} is not set: set it to ${ACCEPTED_FORMS}, or set ${SETTING.accountUrl} instead to sign keyless.`,
    );
  }
  let client: BlobServiceClient;
  try {
    client = BlobServiceClient.fromConnectionString(completeConnectionString(raw.trim()));
  } catch {
    // The SDK's own message may quote part of the value, so it is not passed on.
    throw new SettingsError(
      name,
      `${name} is not a valid storage connection string: expected ${ACCEPTED_FORMS}.`,
    );
  }
  const credential = client.credential;
  if (!(credential instanceof StorageSharedKeyCredential)) {
    throw new SettingsError(
      name,
      `${name} holds a shared access signature, not an account key: tokens are signed with the account key, ` +
        `so use ${ACCEPTED_FORMS}.`,
    );
  }
  if (!hasBase64AccountKey(raw)) {
    throw new SettingsError(name, `${name} has an AccountKey that is not a base64 storage account key.`);
  }
  checkBlobEndpoint(name, client.url);
  const blobServiceUrl = client.url.replace(/\/+$/, "");
  return {
    mode: "accountKey",
    blobServiceUrl,
    accountName: client.accountName,
    credential,
    protocol: blobServiceUrl.startsWith("https:") ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
  };
}

/** Hosts where a plain-http blob endpoint is accepted: an emulator on this machine. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The blob endpoint becomes every token's `url`, so it must be a plain service address: https (http
 * only for a loopback emulator), no user info, no query or fragment. The messages never quote it.
 */
function checkBlobEndpoint(name: string, url: string): void {
  const endpoint = URL.canParse(url) ? new URL(url) : undefined;
  const secure = endpoint?.protocol === "https:";
  const loopbackHttp = endpoint?.protocol === "http:" && LOOPBACK_HOSTS.has(endpoint.hostname);
  if (!endpoint || !(secure || loopbackHttp)) {
    throw new SettingsError(
      name,
      `${name} has a blob endpoint that is not an https: URL (http: is accepted only for an emulator on ` +
        "127.0.0.1, localhost or ::1).",
    );
  }
  if (endpoint.username !== "" || endpoint.password !== "") {
    throw new SettingsError(
      name,
      `${name} has a blob endpoint with a user name or password in it: give the service's address only.`,
    );
  }
  if (/[?#]/.test(url)) {
    throw new SettingsError(
      name,
      `${name} has a blob endpoint with a query or fragment: give the service's address only.`,
    );
  }
}

/**
 * Fills in what Azure treats as implied but the SDK requires: the SDK refuses an account-key string
 * without EndpointSuffix (the form Pulumi's own examples build), and reads one without
 * DefaultEndpointsProtocol as a SAS string. Only key names are looked at; the SDK does the parsing.
 */
function completeConnectionString(connectionString: string): string {
  const keys = new Set(connectionString.split(";").map((part) => part.split("=", 1)[0]?.trim()));
  if (!keys.has("AccountKey")) return connectionString;
  const parts = [connectionString.replace(/;+$/, "")];
  if (!keys.has("DefaultEndpointsProtocol")) {
    const blobEndpoint = /(?:^|;)\s*BlobEndpoint=\s*(https?):/i.exec(connectionString);
    parts.unshift(`DefaultEndpointsProtocol=${blobEndpoint?.[1]?.toLowerCase() ?? "https"}`);
  }
  if (!keys.has("EndpointSuffix") && !keys.has("BlobEndpoint")) {
    parts.push(`EndpointSuffix=${DEFAULT_ENDPOINT_SUFFIX}`);
  }
  return parts.join(";");
}

/** The SDK decodes any AccountKey leniently; a typo would only show up as 403s at upload time. */
function hasBase64AccountKey(connectionString: string): boolean {
  if (/^\s*UseDevelopmentStorage=true\s*;?\s*$/i.test(connectionString)) return true;
  const key = /(?:^|;)\s*AccountKey=([^;]*)/.exec(connectionString)?.[1]?.trim() ?? "";
  return key.length > 0 && key.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(key);
}
