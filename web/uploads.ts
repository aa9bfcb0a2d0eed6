// The upload page's logic without the DOM: checks a file against config.json, gets a token from the SAS
// endpoint, uploads with the storage SDK's browser build, and turns every failure into plain language.
import { AnonymousCredential, BlockBlobClient, type RestError } from "@azure/storage-blob";
import type { PageConfig } from "./config";

/** The part of a File the checks look at (a File satisfies it). */
export interface FileFacts {
  readonly name: string;
  readonly size: number;
  readonly type: string;
}

/** What the SAS endpoint answers: a per-upload token (with blobName/blobUrl) or a container token. */
export interface Credentials {
  sasKey: string;
  url: string;
  container: string;
  expiresOn: string;
  blobName?: string;
  blobUrl?: string;
}

/** Where one upload goes and with which token. */
export interface UploadTarget {
  readonly blobName: string;
  /** The blob's URL without the token. */
  readonly blobUrl: string;
  readonly sasKey: string;
  readonly expiresOn: Date;
  /** A per-upload token may upload in blocks; a container token is create-only, so one Put Blob. */
  readonly perUpload: boolean;
}

export type FailureKind =
  | "type"
  | "size"
  | "empty"
  | "expired"
  | "token-refused"
  | "cors"
  | "network"
  | "server"
  | "clock"
  | "unknown";

/** A failure the page shows as is. `retryable` is false when trying again cannot help. */
export class UploadFailure extends Error {
  override name = "UploadFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly retryable = true,
  ) {
    super(message);
  }
}

/** A cached token is used again only while it has at least this long to live. */
export const REFRESH_MARGIN_MS = 60_000;
/** Fresh tokens asked for in a row before concluding that this device's clock is wrong. */
const MAX_TOKEN_REQUESTS = 3;

/**
 * Network hiccups: the SDK retries the failed request (one block, not the whole file), waiting 0, 1, 3
 * and 7 seconds between tries.
 */
const RETRY_OPTIONS = { maxTries: 5, retryDelayInMs: 1000, maxRetryDelayInMs: 10_000 } as const;

/** Checks made before any request: the type and size limits from config.json. */
export function checkFile(file: FileFacts, config: PageConfig): UploadFailure | undefined {
  if (!config.allowedContentTypes.includes(file.type.toLowerCase())) {
    const what = file.type ? `${describeType(file.type)} files` : "Files of this type";
    return new UploadFailure(
      "type",
      `${what} are not allowed. Choose ${listTypes(config.allowedContentTypes)}.`,
      false,
    );
  }
  if (file.size > config.maxUploadBytes) {
    return new UploadFailure(
      "size",
      `This file is too large (${formatBytes(file.size)}). The limit is ${formatBytes(config.maxUploadBytes)}.`,
      false,
    );
  }
  if (file.size === 0) return new UploadFailure("empty", "This file is empty.", false);
  return undefined;
}

const TYPE_NAMES: Record<string, string> = { "image/webp": "WebP" };

/** "image/png" → "PNG", "image/webp" → "WebP". */
export function describeType(type: string): string {
  const known = TYPE_NAMES[type.toLowerCase()];
  if (known) return known;
  const subtype = type.split("/")[1] ?? type;
  return subtype.replace(/^x-/, "").toUpperCase();
}

/** ["image/png", "image/jpeg", "image/gif"] → "PNG, JPEG or GIF". */
export function listTypes(types: readonly string[]): string {
  const names = types.map(describeType);
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** Sizes as people read them: 1,024-based, one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toLocaleString("en", { maximumFractionDigits: digits })} ${units[unit]}`;
}

/**
 * Hands out tokens. A per-upload token names one blob, so it serves exactly one upload attempt; a
 * container token (the endpoint's older answer) is kept for further files while it has more than
 * REFRESH_MARGIN_MS to live. No token is used after its expiresOn.
 */
export class TokenSource {
  private cachedContainerToken: Credentials | undefined;

  constructor(
    private readonly apiUrl: string,
    private readonly now: () => number = Date.now,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  async targetFor(file: FileFacts): Promise<UploadTarget> {
    const cached = this.cachedContainerToken;
    if (cached && Date.parse(cached.expiresOn) - this.now() > REFRESH_MARGIN_MS) {
      return targetOf(cached, file);
    }
    this.cachedContainerToken = undefined;
    for (let request = 0; request < MAX_TOKEN_REQUESTS; request++) {
      const credentials = await this.request(file);
      // A token that arrives already expired (by this device's clock) is never used; ask again.
      if (Date.parse(credentials.expiresOn) <= this.now()) continue;
      if (!credentials.blobUrl) this.cachedContainerToken = credentials;
      return targetOf(credentials, file);
    }
    throw new UploadFailure(
      "clock",
      "Every upload token arrived already expired. Check that this device's date and time are correct, then try again.",
    );
  }

  /** Storage refused this token: never hand it out again. */
  discard(target: UploadTarget): void {
    if (this.cachedContainerToken?.sasKey === target.sasKey) this.cachedContainerToken = undefined;
  }

  private async request(file: FileFacts): Promise<Credentials> {
    const query = new URLSearchParams({
      filename: file.name,
      contentType: file.type,
      size: String(file.size),
    });
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.apiUrl}?${query}`, {
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new UploadFailure(
        "network",
        "Could not reach the upload service. Check your connection and try again.",
      );
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const message = errorMessageOf(body) ?? `it answered with status ${response.status}`;
      throw new UploadFailure("server", `The upload service refused the request: ${message}`);
    }
    if (!isCredentials(body)) {
      throw new UploadFailure("server", "The upload service sent an answer this page does not understand.");
    }
    return body;
  }
}

function errorMessageOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  return typeof error === "string" && error.length > 0 ? error.slice(0, 500) : undefined;
}

function isCredentials(body: unknown): body is Credentials {
  if (typeof body !== "object" || body === null) return false;
  const value = body as Record<string, unknown>;
  const text = (key: string) => typeof value[key] === "string" && value[key] !== "";
  return (
    text("sasKey") &&
    text("url") &&
    text("container") &&
    text("expiresOn") &&
    !Number.isNaN(Date.parse(value.expiresOn as string)) &&
    (value.blobUrl === undefined || (text("blobUrl") && text("blobName")))
  );
}

/** The endpoint chooses the blob name; only a container token leaves it to the page (random id + extension). */
export function targetOf(credentials: Credentials, file: FileFacts): UploadTarget {
  const expiresOn = new Date(credentials.expiresOn);
  if (credentials.blobUrl && credentials.blobName) {
    return {
      blobName: credentials.blobName,
      blobUrl: credentials.blobUrl,
      sasKey: credentials.sasKey,
      expiresOn,
      perUpload: true,
    };
  }
  const blobName = `${randomId()}.${extensionFor(file)}`;
  return {
    blobName,
    blobUrl: `${credentials.url}/${encodeURIComponent(credentials.container)}/${blobName}`,
    sasKey: credentials.sasKey,
    expiresOn,
    perUpload: false,
  };
}

/** The extension the function gives each type (IMAGE_EXTENSIONS in function/policy.ts; a test keeps them equal). */
export const EXTENSIONS: Readonly<Record<string, string>> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/heic": "heic",
  "image/heif": "heif",
  "image/bmp": "bmp",
  "image/tiff": "tif",
};

function extensionFor(file: FileFacts): string {
  return EXTENSIONS[file.type.toLowerCase()] ?? "bin";
}

function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export interface UploadOptions {
  blockSizeBytes: number;
  concurrency: number;
  onProgress: (loadedBytes: number) => void;
  abortSignal?: AbortSignal;
}

/** Uploads one file to its target: in blocks of blockSizeBytes, `concurrency` at a time. */
export async function uploadTo(target: UploadTarget, file: Blob, options: UploadOptions): Promise<void> {
  const client = new BlockBlobClient(`${target.blobUrl}?${target.sasKey}`, new AnonymousCredential(), {
    retryOptions: RETRY_OPTIONS,
  });
  await client.uploadData(file, {
    blockSize: options.blockSizeBytes,
    concurrency: options.concurrency,
    // A container token can only create, and Put Block needs write: one Put Blob for those (up to the
    // service's 5,000 MiB single-request limit). A per-upload token goes in blocks beyond one block's size.
    maxSingleShotSize: target.perUpload ? options.blockSizeBytes : 5000 * 1024 * 1024,
    blobHTTPHeaders: { blobContentType: file.type },
    onProgress: (progress) => options.onProgress(progress.loadedBytes),
    abortSignal: options.abortSignal,
  });
}

/**
 * Storage refused the token itself. Azure answers an expired SAS with 403 AuthenticationFailed and the
 * detail "Signature not valid in the specified time frame"; Azurite answers 403 AuthorizationFailure
 * without detail. Either way the page asks once for a new token.
 */
export function isTokenRefusal(error: unknown): error is RestError {
  return (
    isRestError(error) &&
    error.statusCode === 403 &&
    ["AuthenticationFailed", "AuthorizationFailure"].includes(errorCodeOf(error) ?? "")
  );
}

/**
 * Whether a refusal was for expiry: the detail says so (Azure), or storage's own clock (its `Date`
 * header, exposed by the CORS rule) had passed the expiry signed into the token (`se`), which is what
 * storage checks, whatever this device's clock says.
 */
export function isExpiryRefusal(error: RestError, target: UploadTarget): boolean {
  const detail = String(
    (error.details as { authenticationErrorDetail?: unknown })?.authenticationErrorDetail,
  );
  if (/time frame|expir/i.test(detail)) return true;
  const serverDate = Date.parse(error.response?.headers.get("date") ?? "");
  const signedExpiry = Date.parse(new URLSearchParams(target.sasKey).get("se") ?? "");
  const expiry = Number.isNaN(signedExpiry) ? target.expiresOn.getTime() : signedExpiry;
  return !Number.isNaN(serverDate) && serverDate >= expiry;
}

/** By name rather than instanceof: the SDK's packages may each bundle their own copy of the class. */
function isRestError(error: unknown): error is RestError {
  return error instanceof Error && error.name === "RestError";
}

function errorCodeOf(error: RestError): string | undefined {
  const details = error.details as { errorCode?: unknown } | undefined;
  if (typeof details?.errorCode === "string") return details.errorCode;
  return error.response?.headers.get("x-ms-error-code") ?? error.code;
}

/**
 * Turns a failed upload into words. A request the browser could not send is either the network or
 * CORS (the browser hides which); a no-cors request to the same host tells them apart: it gets an
 * (opaque) answer when the host is reachable, so the storage account must have refused this origin.
 */
export async function describeUploadError(
  error: unknown,
  target: UploadTarget,
  probe: (url: string) => Promise<boolean> = reachable,
): Promise<UploadFailure> {
  if (error instanceof UploadFailure) return error;
  if (isTokenRefusal(error)) {
    return isExpiryRefusal(error, target)
      ? new UploadFailure("expired", "The upload token expired before the upload finished. Try again.")
      : new UploadFailure("token-refused", "The storage account refused the upload token. Try again.");
  }
  if (isRestError(error) && error.statusCode === undefined) {
    if (typeof navigator !== "undefined" && navigator.onLine === false) return networkLost();
    return (await probe(target.blobUrl))
      ? new UploadFailure(
          "cors",
          `The storage account refused uploads from this page's address (${originOf()}): its CORS rules do not allow this origin.`,
        )
      : networkLost();
  }
  if (isRestError(error) && error.statusCode !== undefined) {
    const code = errorCodeOf(error);
    return new UploadFailure(
      "server",
      `The storage account refused the upload (${error.statusCode}${code ? ` ${code}` : ""}).`,
    );
  }
  return new UploadFailure("unknown", `The upload failed: ${(error as Error)?.message ?? String(error)}`);
}

function networkLost(): UploadFailure {
  return new UploadFailure(
    "network",
    "The network connection was lost. Check your connection and try again.",
  );
}

function originOf(): string {
  return typeof location === "undefined" ? "unknown" : location.origin;
}

async function reachable(url: string): Promise<boolean> {
  try {
    await fetch(url, { method: "HEAD", mode: "no-cors", cache: "no-store", credentials: "omit" });
    return true;
  } catch {
    return false;
  }
}
