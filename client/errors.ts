// Every way an upload can fail, in words a person can act on: storage's refusals of a token (expired or
// not), CORS, a lost network, other statuses, and the check's rejection. The client's one error class.
import type { RestError } from "@azure/storage-blob";
import type { UploadTarget } from "./types.js";

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
  /** Stored, then refused by valet's check: `reason` is the check's own words, `blobName` the upload. */
  | "rejected"
  | "unknown";

/**
 * A failure to show as is: `message` is a sentence a person can act on, `kind` what went wrong, and
 * `reason` valet's own words when valet refused (the endpoint's `error`, or the check's reason).
 * `retryable` is false when trying again cannot help.
 */
export class ValetUploadError extends Error {
  override name = "ValetUploadError";
  /** valet's own words, when the endpoint or the check refused. */
  readonly reason: string | undefined;
  /** The blob the upload became, when it was stored (a rejected upload). */
  readonly blobName: string | undefined;
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly retryable = true,
    details: { readonly reason?: string; readonly blobName?: string } = {},
  ) {
    super(message);
    this.reason = details.reason;
    this.blobName = details.blobName;
  }
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
export function isRestError(error: unknown): error is RestError {
  return error instanceof Error && error.name === "RestError";
}

export function errorCodeOf(error: RestError): string | undefined {
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
): Promise<ValetUploadError> {
  if (error instanceof ValetUploadError) return error;
  if (isTokenRefusal(error)) {
    return isExpiryRefusal(error, target)
      ? new ValetUploadError("expired", "The upload token expired before the upload finished. Try again.")
      : new ValetUploadError("token-refused", "The storage account refused the upload token. Try again.");
  }
  if (isRestError(error) && error.statusCode === undefined) {
    if (typeof navigator !== "undefined" && navigator.onLine === false) return networkLost();
    return (await probe(target.blobUrl))
      ? new ValetUploadError(
          "cors",
          `The storage account refused uploads from this page's address (${originOf()}): its CORS rules do not allow this origin.`,
        )
      : networkLost();
  }
  if (isRestError(error) && error.statusCode !== undefined) {
    const code = errorCodeOf(error);
    return new ValetUploadError(
      "server",
      `The storage account refused the upload (${error.statusCode}${code ? ` ${code}` : ""}).`,
    );
  }
  return new ValetUploadError("unknown", `The upload failed: ${(error as Error)?.message ?? String(error)}`);
}

function networkLost(): ValetUploadError {
  return new ValetUploadError(
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

/** The SAS endpoint's own words from a JSON `{"error"}` body, truncated, or undefined. */
export function errorMessageOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  return typeof error === "string" && error.length > 0 ? error.slice(0, 500) : undefined;
}
