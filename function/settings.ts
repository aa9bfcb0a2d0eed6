// Reads and validates the function's settings once per instance: the uploads account (from its
// connection string), the container, the container token's lifetime, the issuance policy, the human check and
// the check of stored uploads; and the one place clients for the uploads account are made.
import {
  BlobServiceClient,
  SASProtocol,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { type Environment, SETTING, SettingsError } from "./appSettings";
import {
  fitUploadTokenLifetime,
  parseContainerName,
  parseTokenGeneration,
  parseTokenLifetime,
} from "./container";
import { type HumanCheckSettings, parseHumanCheckSettings } from "./humanCheck";
import { type IssuancePolicy, parsePolicy } from "./policy";
import { parseVerificationSettings, type VerificationSettings } from "./verification";

/** Azure's default endpoint suffix, assumed when an account-key connection string names none. */
const DEFAULT_ENDPOINT_SUFFIX = "core.windows.net";

export interface Settings {
  /** Blob service URL without a trailing slash: `<url>/<container>/<name>` is a blob's address. */
  readonly blobServiceUrl: string;
  readonly accountName: string;
  readonly credential: StorageSharedKeyCredential;
  /** HTTPS only, unless the endpoint itself is plain HTTP (the emulator). */
  readonly protocol: SASProtocol;
  readonly container: string;
  readonly tokenLifetimeMinutes: number;
  readonly policy: IssuancePolicy;
  /** The key generation whose stored access policies tokens reference (accessPolicies.ts). */
  readonly tokenGeneration: number;
  /** The Turnstile check issuance requires, or undefined when it is off. */
  readonly humanCheck: HumanCheckSettings | undefined;
  /** The check every stored upload gets before it reaches the verified container. */
  readonly verification: VerificationSettings;
}

export function parseSettings(env: Environment): Settings {
  const account = parseConnectionString(env[SETTING.connectionString]);
  const tokenLifetimeMinutes = parseTokenLifetime(
    SETTING.tokenLifetimeMinutes,
    env[SETTING.tokenLifetimeMinutes],
  );
  const policy = parsePolicy(env);
  const uploadTokenLifetimeMinutes = fitUploadTokenLifetime(
    { container: SETTING.tokenLifetimeMinutes, upload: SETTING.uploadTokenLifetimeMinutes },
    { container: tokenLifetimeMinutes, upload: policy.uploadTokenLifetimeMinutes },
    env[SETTING.uploadTokenLifetimeMinutes],
  );
  const container = parseContainerName(SETTING.container, env[SETTING.container]);
  return {
    ...account,
    container,
    tokenLifetimeMinutes,
    policy: { ...policy, uploadTokenLifetimeMinutes },
    tokenGeneration: parseTokenGeneration(SETTING.tokenGeneration, env[SETTING.tokenGeneration]),
    humanCheck: parseHumanCheckSettings(env),
    verification: parseVerificationSettings(env, container),
  };
}

/**
 * The uploads account's blob service, for every call the function makes to it: the one place its
 * credential is chosen, so another way of signing in plugs in here.
 */
export function uploadsBlobService(
  account: Pick<Settings, "blobServiceUrl" | "credential">,
  options?: StoragePipelineOptions,
): BlobServiceClient {
  return new BlobServiceClient(account.blobServiceUrl, account.credential, options);
}

let source: Environment = process.env;
let loaded: { settings: Settings } | { error: unknown } | undefined;

/**
 * Where this instance reads its settings: the process environment (the app settings, in Azure) unless a
 * host that runs the function inside its own process (the local stack, the benchmark) passes them in
 * here, before the first request. They are read on first use and kept.
 */
export function configureSettings(env: Environment): void {
  source = env;
  loaded = undefined;
}

/** The environment this instance reads its settings from (the issuance limits read theirs there too). */
export function settingsSource(): Environment {
  return source;
}

/** The settings of this instance, read on first use and kept (or the error, kept). */
export function loadSettings(): Settings {
  if (!loaded) {
    try {
      loaded = { settings: parseSettings(source) };
    } catch (error) {
      loaded = { error };
    }
  }
  if ("error" in loaded) throw loaded.error;
  return loaded.settings;
}

const ACCEPTED_FORMS =
  "an account-key connection string (DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…, " +
  "with EndpointSuffix or BlobEndpoint optional) or UseDevelopmentStorage=true";

type Account = Pick<Settings, "blobServiceUrl" | "accountName" | "credential" | "protocol">;

export function parseConnectionString(raw: string | undefined): Account {
  const name = SETTING.connectionString;
  if (raw === undefined || raw.trim() === "") {
    throw new SettingsError(name, `${name} is not set: set it to ${ACCEPTED_FORMS}.`);
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
  checkBlobEndpoint(client.url);
  const blobServiceUrl = client.url.replace(/\/+$/, "");
  return {
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
function checkBlobEndpoint(url: string): void {
  const name = SETTING.connectionString;
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
