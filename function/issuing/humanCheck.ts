// The opt-in human check: a Cloudflare Turnstile token, verified with Cloudflare's siteverify API, earns the
// caller's address a short-lived signed pass that the page sends with its later token requests.
import type { HumanCheckRefusal, HumanPassBody } from "../contract/humanCheckProtocol";
import type { HumanCheckSettings } from "../contract/humanCheckSettings";
import type { KeyRoot } from "../contract/rootSecret";
import { deriveKey, KEY_LABELS, openStamped, signStamped } from "../signing/keyDerivation";

export {
  HUMAN_PASS_HEADER,
  type HumanCheckRefusal,
  TURNSTILE_TOKEN_HEADER,
} from "../contract/humanCheckProtocol";

/**
 * How long a pass lasts. A Turnstile token is single-use and valid 300 s, so a token per request would
 * mean a challenge per file; one check then covers a batch of 200 photos on an ordinary connection, while a
 * script that solved one challenge is still held to the issuance limits and must solve another soon.
 */
export const HUMAN_PASS_MINUTES = 30;
/** Past this, siteverify counts as unreachable. */
export const SITEVERIFY_TIMEOUT_MS = 5000;
/** Cloudflare's documented largest token. */
const MAX_TOKEN_LENGTH = 2048;
const MAX_PASS_LENGTH = 200;

// The pass: `<expiry, Unix seconds>.<HMAC-SHA256 of the client key and the expiry, base64url>`. It names no
// client: the function recomputes it for the caller's own address key, so a pass taken elsewhere is refused.

/**
 * The pass key, derived from the function's key root (keyDerivation.ts): in account-key mode the account
 * key, so there is no further secret to manage, a key rotation also ends every pass, and the account key
 * itself is never used to sign anything but tokens.
 */
export function humanPassKey(root: KeyRoot): Buffer {
  return deriveKey(root, KEY_LABELS.humanPass);
}

export function signHumanPass(key: Buffer, clientKey: string, expiresAt: Date): string {
  return signStamped(key, [clientKey], expiresAt);
}

export type PassCheck = "valid" | "expired" | "invalid";

/** A pass expiring later than this after now was never given (the function gives HUMAN_PASS_MINUTES). */
const CLOCK_SKEW_MS = 5 * 60_000;

export function verifyHumanPass(key: Buffer, clientKey: string, pass: string, now: Date): PassCheck {
  const expiry = openStamped(key, [clientKey], pass, MAX_PASS_LENGTH);
  // An expiry further away than any pass is given for is not one the function gave for this time: a
  // pass is worth HUMAN_PASS_MINUTES at most, whatever the clocks of the instances say.
  if (!expiry || expiry.getTime() > now.getTime() + HUMAN_PASS_MINUTES * 60_000 + CLOCK_SKEW_MS) {
    return "invalid";
  }
  return expiry.getTime() > now.getTime() ? "valid" : "expired";
}

export type SiteverifyOutcome =
  | { readonly kind: "passed" }
  | { readonly kind: "refused"; readonly reason: HumanCheckRefusal; readonly errorCodes: string[] }
  /** Cloudflare refused our secret: the operator's mistake, not the caller's. */
  | { readonly kind: "misconfigured"; readonly errorCodes: string[] }
  | { readonly kind: "unavailable"; readonly cause: string };

/**
 * Asks siteverify about one token. The request and answer fields are Cloudflare's:
 * https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
 * (request `secret`, `response`, `remoteip`; answer `success`, `error-codes`, `hostname`, ...). A token
 * is single-use, so it is never retried and no `idempotency_key` is sent. The hostname the challenge was
 * solved on must be the one of the page asking (its Origin), so a token solved on another site that
 * shares the site key is refused.
 */
export async function siteverify(
  settings: HumanCheckSettings,
  token: string,
  remoteIp: string | undefined,
  expectedHostname: string | undefined,
  fetchImpl: typeof fetch = fetch,
): Promise<SiteverifyOutcome> {
  if (token.length > MAX_TOKEN_LENGTH) return { kind: "refused", reason: "failed", errorCodes: [] };
  let answer: unknown;
  try {
    const response = await fetchImpl(settings.siteverifyUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        secret: settings.secretKey,
        response: token,
        ...(remoteIp && { remoteip: remoteIp }),
      }),
      signal: AbortSignal.timeout(SITEVERIFY_TIMEOUT_MS),
    });
    if (!response.ok) return { kind: "unavailable", cause: `status ${response.status}` };
    answer = await response.json();
  } catch (error) {
    return { kind: "unavailable", cause: error instanceof Error ? error.name : typeof error };
  }
  const { success, hostname } = (answer ?? {}) as { success?: unknown; hostname?: unknown };
  const codes = (answer as { "error-codes"?: unknown } | null)?.["error-codes"];
  const errorCodes = Array.isArray(codes) ? codes.filter((code) => typeof code === "string") : [];
  if (typeof success !== "boolean") return { kind: "unavailable", cause: "an unreadable answer" };
  if (success) {
    if (expectedHostname === undefined || hostname !== expectedHostname) {
      return { kind: "refused", reason: "wrong-hostname", errorCodes };
    }
    return { kind: "passed" };
  }
  if (errorCodes.some((code) => code === "missing-input-secret" || code === "invalid-input-secret")) {
    return { kind: "misconfigured", errorCodes };
  }
  if (errorCodes.includes("internal-error")) return { kind: "unavailable", cause: "internal-error" };
  // Our request was malformed, not the person's answer: solving again would not help.
  if (errorCodes.includes("bad-request")) return { kind: "unavailable", cause: "bad-request" };
  if (errorCodes.includes("timeout-or-duplicate")) return { kind: "refused", reason: "expired", errorCodes };
  return { kind: "refused", reason: "failed", errorCodes };
}

/** What one request brings to the check. */
export interface HumanCheckRequest {
  /** The key the caller's address is counted under (uploadRequest.ts clientKey): what a pass is bound to. */
  readonly clientKey: string;
  /** The caller's address, passed to siteverify as `remoteip`. */
  readonly address: string | undefined;
  /** The request's Origin: the hostname the challenge must have been solved on. */
  readonly origin: string | null;
  readonly pass: string | null;
  readonly token: string | null;
}

export type HumanCheckResult =
  /** Through; with a new pass when a Turnstile token was verified. */
  { readonly kind: "passed"; readonly pass?: HumanPassBody } | Exclude<SiteverifyOutcome, { kind: "passed" }>;

/**
 * A valid pass for the caller's address lets the request through; otherwise a Turnstile token that
 * siteverify accepts does, and earns a pass for HUMAN_PASS_MINUTES.
 */
export async function checkHuman(
  settings: HumanCheckSettings,
  passKey: Buffer,
  request: HumanCheckRequest,
  now: Date,
  fetchImpl: typeof fetch = fetch,
): Promise<HumanCheckResult> {
  const passCheck = request.pass ? verifyHumanPass(passKey, request.clientKey, request.pass, now) : undefined;
  if (passCheck === "valid") return { kind: "passed" };
  if (!request.token) {
    return { kind: "refused", reason: passCheck === "expired" ? "expired" : "required", errorCodes: [] };
  }
  const origin = request.origin && URL.canParse(request.origin) ? new URL(request.origin) : undefined;
  const outcome = await siteverify(settings, request.token, request.address, origin?.hostname, fetchImpl);
  if (outcome.kind !== "passed") return outcome;
  const expiresOn = new Date(now.getTime() + HUMAN_PASS_MINUTES * 60_000);
  return {
    kind: "passed",
    pass: {
      humanPass: signHumanPass(passKey, request.clientKey, expiresOn),
      humanPassExpiresOn: expiresOn.toISOString(),
    },
  };
}

/** What the page is told for each refusal: it shows the widget again and retries. */
export const HUMAN_CHECK_MESSAGES: Readonly<Record<HumanCheckRefusal, string>> = {
  required: "Upload tokens need a human check here: solve the check on the upload page, then try again.",
  failed: "The human check was not passed: solve the check again.",
  expired: "The human check expired or was already used: solve the check again.",
  "wrong-hostname":
    "The human check was not solved on the page asking for the token (its Origin): solve it on this page.",
};
