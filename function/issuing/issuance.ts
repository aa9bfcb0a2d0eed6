// The issuance core: what GET /api/credentials decides for one request, without HTTP. The edge
// (credentials.ts) parses the request into an IssuanceAsk, hands it the instance's parts, and maps the typed
// decision this returns to a response; every refusal, its reason and its log line are decided here.

import { SettingsError, settingsInvalidEvent } from "../contract/appSettings";
import type { CredentialsBody, UploadCredentialsBody } from "../contract/credentialsProtocol";
import type { HumanCheckRefusal, HumanPassBody } from "../contract/humanCheckProtocol";
import type { Decision } from "../contract/limits";
import type { ResumeRefusal } from "../contract/resumeProtocol";
import { ownerLimitKey, ownerOfBlobName } from "../identity/owner";
import type { LogSampler } from "../platform/logSampler";
import type { Settings } from "../platform/settings";
import type { AccessPolicyStatus } from "../signing/accessPolicies";
import { SigningUnavailableError, type TokenSigner } from "../signing/signing";
import { checkHuman } from "./humanCheck";
import type { FallbackCounts, Limiter, LimiterDecision } from "./limiter";
import { type ResumableUpload, resumeSecretUntil, verifyResumeSecret } from "./resume";
import { issueContainerToken, issueUploadToken, type TokenBinding } from "./tokens";
import { UploadOutcomeUnavailableError } from "./uploadOutcome";
import {
  clientAddress,
  clientIpv4,
  clientKey,
  type LimitTier,
  limitTiers,
  parseTokenRequest,
  RequestError,
  type TokenRequest,
} from "./uploadRequest";

/** The request as the edge read it from HTTP: its query and the headers issuance reads. */
export interface IssuanceAsk {
  readonly query: URLSearchParams;
  /** `X-Forwarded-For`, as the platform's front end sets it: the caller's address and the limits' key. */
  readonly forwardedFor: string | null;
  readonly resumeSecret: string | null;
  readonly origin: string | null;
  readonly humanPass: string | null;
  readonly turnstileToken: string | null;
  /** Signed in, the caller (already authenticated by the edge); undefined when anonymous. */
  readonly owner: string | undefined;
}

export type LogLevel = "information" | "warning" | "error";

/** What issuance works with: the instance's settings and parts, and where its log lines go. */
export interface IssuanceParts {
  readonly settings: Settings;
  readonly signer: TokenSigner;
  /** The per-address issuance limits, or undefined when they are off. */
  readonly limiter: Limiter | undefined;
  /** Signed in, the per-person limits, or undefined when they are off. */
  readonly ownerLimiter: Limiter | undefined;
  /**
   * Whether the upload of that name is finished (uploadOutcome.ts): asked only for a resume whose secret is
   * good, since it is the one step that calls storage. May throw the outcomes' SettingsError.
   */
  readonly uploadFinished: (blobName: string) => Promise<boolean>;
  /** Lines that can come once per request are taken through it (one a minute per key on this instance). */
  readonly sampler: LogSampler;
  readonly log: (level: LogLevel, event: object) => void;
  readonly now: () => Date;
  /** siteverify's transport; the platform's fetch unless a test stands in for Cloudflare. */
  readonly fetch?: typeof fetch;
}

/** Everything issuance can answer: a token, or why not (the edge gives each its status and body). */
export type IssuanceDecision =
  | {
      readonly kind: "issued";
      readonly body: (CredentialsBody | UploadCredentialsBody) & Partial<HumanPassBody>;
    }
  /** The request itself is wrong (400), with a message that quotes input only JSON-escaped and truncated. */
  | { readonly kind: "badRequest"; readonly message: string }
  /** Over a limit (429), counted on the caller's address or, signed in, on the person. */
  | {
      readonly kind: "limited";
      readonly refusal: Extract<Decision, { allowed: false }>;
      readonly counted: "address" | "person";
      readonly at: number;
    }
  /** The human check must be solved (again) (403). */
  | { readonly kind: "humanCheckRefused"; readonly reason: HumanCheckRefusal }
  /** siteverify cannot be reached: refused until it answers (503, retry after a minute). */
  | { readonly kind: "humanCheckUnavailable" }
  /** Cloudflare refused the Turnstile secret key (500). */
  | { readonly kind: "humanCheckMisconfigured" }
  /** A resume that cannot be granted; `unavailable` means storage did not answer (503, retry after a minute). */
  | { readonly kind: "resumeRefused"; readonly reason: ResumeRefusal }
  /** A setting found bad while deciding (500, naming the setting). */
  | { readonly kind: "misconfigured"; readonly error: SettingsError }
  /** The container's stored access policies refuse this instance's tokens (500). */
  | { readonly kind: "cannotIssue"; readonly summary: string }
  /** No signing key can be had right now (503, retry after a minute). */
  | { readonly kind: "signingUnavailable" };

/**
 * The stored access policies' check as a refusal, or undefined to go on. A failed check is logged once, by
 * the first request that sees it, so a flood does not fill the logs.
 */
export function accessPolicyDecision(
  policies: AccessPolicyStatus,
  log: IssuanceParts["log"],
): IssuanceDecision | undefined {
  const firstToSee = policies.kind !== "ready" && !policies.reported;
  if (policies.kind !== "ready") policies.reported = true;
  if (policies.kind === "refused") {
    if (firstToSee) log("error", { event: "accessPolicies.refused", message: policies.error.message });
    return { kind: "cannotIssue", summary: policies.error.summary };
  }
  if (policies.kind === "unverified" && firstToSee) {
    // Signing needs no storage: the token works if its policy exists, as it does unless this generation is
    // new, so tokens are still issued.
    log("warning", { event: "accessPolicies.unverified", reason: policies.reason });
  }
  return undefined;
}

/**
 * The decision for one request, in the order that spends least on a bad one: the request is read before
 * the limits see it (the daily allowance counts its declared size), but a bad one is counted like any
 * other before it is refused; the human check comes after, so a Turnstile token (single-use) is not spent
 * on a bad request; signing comes last.
 */
export async function decideIssuance(ask: IssuanceAsk, parts: IssuanceParts): Promise<IssuanceDecision> {
  const { settings } = parts;
  const read = readRequest(ask, settings);
  const limited = await countRequest(ask, parts, read);
  if (limited) return limited;
  if (!read.ok) {
    parts.log("warning", { event: "request.rejected", message: read.error.message });
    return { kind: "badRequest", message: read.error.message };
  }
  let pass: HumanPassBody | undefined;
  // parseSettings refuses a human check without a pass key, so both are set or neither.
  if (settings.humanCheck) {
    const human = await passHumanCheck(ask, parts);
    if ("refusal" in human) return human.refusal;
    pass = human.pass;
  }
  try {
    return await issueToken(read.tokenRequest, read.binding, parts, pass, ask.owner);
  } catch (error) {
    if (!(error instanceof SigningUnavailableError)) throw error;
    logSampled(parts, "error", "signing.unavailable", Date.now(), {
      event: "signing.unavailable",
      message: error.message,
    });
    return { kind: "signingUnavailable" };
  }
}

type ReadRequest =
  | { readonly ok: true; readonly tokenRequest: TokenRequest; readonly binding: TokenBinding }
  | { readonly ok: false; readonly error: RequestError };

function readRequest(ask: IssuanceAsk, settings: Settings): ReadRequest {
  try {
    const tokenRequest = parseTokenRequest(ask.query, settings.policy, ask.resumeSecret);
    if (ask.owner !== undefined && tokenRequest.kind === "container") {
      // A container token creates blobs of any name, so it could not keep uploads under their owner's prefix.
      throw new RequestError(
        "Signed in, tokens are issued per upload only: ask with ?filename=<name>&contentType=<type>&size=<bytes>.",
      );
    }
    return { ok: true, tokenRequest, binding: bindingFor(ask, settings) };
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    return { ok: false, error };
  }
}

function bindingFor(ask: IssuanceAsk, settings: Settings): TokenBinding {
  if (!settings.policy.bindTokenToClientIp) return {};
  const clientIp = clientIpv4(ask.forwardedFor);
  if (!clientIp) {
    throw new RequestError(
      "Tokens are bound to the caller's IPv4 address, and this request did not come from one: retry over IPv4.",
    );
  }
  return { clientIp };
}

/**
 * The bytes a request counts against the daily allowance. A container token declares no size: it counts as
 * one upload of the largest size allowed, so the allowance bounds how many a caller gets (each can still
 * create many blobs while it lives). A resume's bytes were counted when its upload began (its secret is
 * bound to that declared size); a bad request counts none.
 */
export function countedBytes(read: ReadRequest, maxUploadBytes: number): number {
  if (!read.ok) return 0;
  const request = read.tokenRequest;
  if (request.kind !== "upload") return maxUploadBytes;
  return request.resume ? 0 : request.size;
}

/** The limits' refusal, or undefined: signed in, the person first; then the address, narrowest first. */
async function countRequest(
  ask: IssuanceAsk,
  parts: IssuanceParts,
  read: ReadRequest,
): Promise<IssuanceDecision | undefined> {
  const { limiter, ownerLimiter } = parts;
  if (!limiter && !ownerLimiter) return undefined;
  const bytes = countedBytes(read, parts.settings.policy.maxUploadBytes);
  // Signed in, the person is counted first; their address stays a coarse outer bound for everyone behind it.
  if (ask.owner !== undefined && ownerLimiter) {
    const decision = await limit(parts, ownerLimiter, { key: ownerLimitKey(ask.owner), scale: 1 }, bytes);
    if (decision && !decision.allowed) return limitedDecision(parts, decision, "person");
  }
  // Narrowest first: a caller refused at its own key spends nothing of its wider prefixes'.
  for (const tier of limiter ? limitTiers(ask.forwardedFor) : []) {
    const outer = limiter && (await limit(parts, limiter, tier, bytes));
    if (outer && !outer.allowed) return limitedDecision(parts, outer, "address");
  }
  return undefined;
}

function limitedDecision(
  parts: IssuanceParts,
  refusal: Extract<Decision, { allowed: false }>,
  counted: "address" | "person",
): IssuanceDecision {
  const at = Date.now();
  logSampled(parts, "warning", `request.limited.${refusal.reason}`, at, {
    event: "request.limited",
    reason: refusal.reason,
    counted,
    retryAfterSeconds: refusal.retryAfterSeconds,
  });
  return { kind: "limited", refusal, counted, at };
}

/**
 * The limits' decision. When their table cannot be reached in time the instance decides on counts of its
 * own with the same limits (limiter.ts), and says so in a sampled warning that counts what it let through
 * and refused since its last line; when the table answers again, a last line counts the rest. Undefined
 * only for a failure of the limiter itself, which is issued as if unlimited and logged the same way.
 */
async function limit(
  parts: IssuanceParts,
  limiter: Limiter,
  tier: LimitTier,
  bytes: number,
): Promise<Decision | undefined> {
  const now = Date.now();
  let decision: LimiterDecision;
  try {
    decision = await limiter.check(tier.key, bytes, now, tier.scale);
  } catch (error) {
    logSampled(parts, "warning", "limits.unavailable", now, {
      event: "limits.unavailable",
      error: typeof error,
      action: "issuing without the limits",
    });
    return undefined;
  }
  if (decision.countedOn === "memory") {
    const sample = parts.sampler.take("limits.unavailable", now);
    if (sample.log) {
      parts.log("warning", {
        event: "limits.unavailable",
        error: decision.fallback,
        action: "counting on this instance",
        ...sinceLast(limiter.takeFallbackCounts()),
        unloggedSinceLast: sample.unloggedSinceLast,
      });
    }
  } else if (decision.countedOn === "table") {
    const counts = limiter.takeFallbackCounts();
    if (counts.allowed + counts.refused > 0) {
      parts.log("information", { event: "limits.available", ...sinceLast(counts) });
    }
  }
  return decision;
}

const sinceLast = (counts: FallbackCounts) => ({
  allowedSinceLast: counts.allowed,
  refusedSinceLast: counts.refused,
});

/**
 * The human check's refusal, or the pass to add to the token's body. When siteverify cannot be reached the
 * request is refused: the check is on because the operator chose it, and letting everyone through while
 * Cloudflare is away is exactly the gap a script would wait for. Neither the Turnstile token nor the pass is
 * ever logged.
 */
async function passHumanCheck(
  ask: IssuanceAsk,
  parts: IssuanceParts,
): Promise<{ pass?: HumanPassBody } | { refusal: IssuanceDecision }> {
  const { settings } = parts;
  if (!settings.humanCheck) return {};
  const now = parts.now();
  const result = await checkHuman(
    settings.humanCheck,
    settings.humanPassKey,
    {
      clientKey: clientKey(ask.forwardedFor),
      address: clientAddress(ask.forwardedFor)?.address,
      origin: ask.origin,
      pass: ask.humanPass,
      token: ask.turnstileToken,
    },
    now,
    parts.fetch,
  );
  if (result.kind === "passed") return { pass: result.pass };
  if (result.kind === "refused") {
    logSampled(parts, "warning", `humanCheck.refused.${result.reason}`, Date.now(), {
      event: "humanCheck.refused",
      reason: result.reason,
      errorCodes: result.errorCodes ?? [],
    });
    return { refusal: { kind: "humanCheckRefused", reason: result.reason } };
  }
  if (result.kind === "misconfigured") {
    // Every token-carrying request fails the same way until the secret is fixed: logged once a minute.
    logSampled(parts, "error", "humanCheck.misconfigured", now.getTime(), {
      event: "humanCheck.misconfigured",
      errorCodes: result.errorCodes,
    });
    return { refusal: { kind: "humanCheckMisconfigured" } };
  }
  logSampled(parts, "warning", "humanCheck.unavailable", now.getTime(), {
    event: "humanCheck.unavailable",
    cause: result.cause,
    action: "refusing until siteverify answers",
  });
  return { refusal: { kind: "humanCheckUnavailable" } };
}

async function issueToken(
  tokenRequest: TokenRequest,
  binding: TokenBinding,
  parts: IssuanceParts,
  pass: HumanPassBody | undefined,
  owner: string | undefined,
): Promise<IssuanceDecision> {
  const { settings } = parts;
  if (tokenRequest.kind === "container") {
    const body = await issueContainerToken(settings, parts.signer, parts.now(), binding);
    parts.log("information", {
      event: "token.issued",
      scope: "container",
      container: body.container,
      expiresOn: body.expiresOn,
    });
    return { kind: "issued", body: { ...body, ...pass } };
  }
  let resumedUntil: Date | undefined;
  if (tokenRequest.resume) {
    let refusal: ResumeRefusal | undefined;
    try {
      refusal = await resumeRefusal(parts, tokenRequest, owner);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      parts.log("error", settingsInvalidEvent(error));
      return { kind: "misconfigured", error };
    }
    if (refusal) {
      const sample = parts.sampler.take(`resume.refused.${refusal}`, Date.now());
      if (sample.log) {
        parts.log("warning", {
          event: "resume.refused",
          reason: refusal,
          unloggedSinceLast: sample.unloggedSinceLast,
        });
      }
      return { kind: "resumeRefused", reason: refusal };
    }
    resumedUntil = resumeSecretUntil(
      settings.resumeKey,
      resumableOf(settings, tokenRequest, tokenRequest.resume.blobName),
      tokenRequest.resume.secret,
      settings.policy.uploadTokenLifetimeMinutes,
    );
  }
  const body = await issueUploadToken(
    settings,
    parts.signer,
    parts.now(),
    tokenRequest.resume && resumedUntil
      ? { ...tokenRequest, owner, resume: { blobName: tokenRequest.resume.blobName, until: resumedUntil } }
      : { ...tokenRequest, owner },
    binding,
  );
  parts.log("information", {
    event: "token.issued",
    scope: "blob",
    resumed: tokenRequest.resume !== undefined,
    container: body.container,
    blobName: body.blobName,
    contentType: tokenRequest.contentType,
    size: tokenRequest.size,
    expiresOn: body.expiresOn,
  });
  return { kind: "issued", body: { ...body, ...pass } };
}

/**
 * Why a resume must be refused, or undefined to issue: the secret must be this upload's and still within its
 * window, and the upload must not be finished (asked last, as it is the one check that calls storage).
 */
async function resumeRefusal(
  parts: IssuanceParts,
  request: Extract<TokenRequest, { kind: "upload" }>,
  owner: string | undefined,
): Promise<ResumeRefusal | undefined> {
  const { settings } = parts;
  const resume = request.resume;
  if (!resume) return undefined;
  // A name is resumed only by whom it was issued to (anonymous names by anonymous callers).
  if (ownerOfBlobName(resume.blobName) !== owner) return "invalid";
  const check = verifyResumeSecret(
    settings.resumeKey,
    resumableOf(settings, request, resume.blobName),
    resume.secret,
    parts.now(),
    settings.policy.uploadTokenLifetimeMinutes,
  );
  if (check !== "valid") return check;
  // Only now the outcomes' table (a SettingsError when its connection is wrong): a bad secret costs no lookup.
  try {
    return (await parts.uploadFinished(resume.blobName)) ? "finished" : undefined;
  } catch (error) {
    if (error instanceof UploadOutcomeUnavailableError) return "unavailable";
    throw error;
  }
}

/** What a resume secret for this request must have been signed for. */
function resumableOf(
  settings: Settings,
  request: Extract<TokenRequest, { kind: "upload" }>,
  blobName: string,
): ResumableUpload {
  return { blobName, size: request.size, generation: settings.tokenGeneration };
}

/**
 * An event that can come once per request, logged at most once a minute per key on this instance, with how
 * many were left unlogged since the last.
 */
function logSampled(
  parts: IssuanceParts,
  level: "warning" | "error",
  key: string,
  now: number,
  event: object,
): void {
  const sample = parts.sampler.take(key, now);
  if (sample.log) parts.log(level, { ...event, unloggedSinceLast: sample.unloggedSinceLast });
}
