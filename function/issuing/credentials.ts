// The HTTP edge of the function: maps a request to the token core and the result to a response.

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { loadOutcomeStore } from "../checking/outcomes";
import { SettingsError } from "../contract/appSettings";
import type { HumanPassBody } from "../contract/humanCheckProtocol";
import type { HumanCheckSettings } from "../contract/humanCheckSettings";
import { type Decision, refusalMessage } from "../contract/limits";
import { RESUME_REFUSALS, RESUME_SECRET_HEADER, type ResumeRefusal } from "../contract/resumeProtocol";
import { authenticate, ownerLimitKey, ownerOfBlobName } from "../identity";
import { loadOwnerLimiter } from "../identity/ownerLimits";
import { LogSampler } from "../platform/logSampler";
import { errorResponse, log, methodRefusal, misconfigured, RESPONSE_HEADERS } from "../platform/responses";
import { loadSettings, type Settings } from "../platform/settings";
import { SigningUnavailableError } from "../signing/signing";
import {
  checkHuman,
  HUMAN_CHECK_MESSAGES,
  HUMAN_PASS_HEADER,
  type HumanCheckRefusal,
  TURNSTILE_TOKEN_HEADER,
} from "./humanCheck";
import { type FallbackCounts, type Limiter, type LimiterDecision, loadLimiter } from "./limiter";
import { type ResumableUpload, resumeSecretUntil, verifyResumeSecret } from "./resume";
import { issueContainerToken, issueUploadToken, type TokenBinding } from "./tokens";
import { UploadOutcomeUnavailableError, uploadFinished } from "./uploadOutcome";
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

export const CREDENTIALS_METHODS = ["GET"] as const;

/** Refusals and table failures can come once per request: their log lines are sampled per instance. */
const sampler = new LogSampler();

export async function credentials(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    // `return await`: a promise returned without it settles after this try has exited, so a rejection
    // would skip the catch below. https://typescript-eslint.io/rules/return-await/
    return await issue(request, context);
  } catch (error) {
    // The client learns only that it failed; the log says how, never with a stack trace or a secret.
    log(context, "error", {
      event: "invocation.failed",
      error: error instanceof Error ? error.name : typeof error,
    });
    return errorResponse(500, "The function failed unexpectedly; retry, and report it if it persists.");
  }
}

async function issue(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const refused = methodRefusal(request, CREDENTIALS_METHODS);
  if (refused) return refused;
  let settings: Settings;
  let limiter: Limiter | undefined;
  let ownerLimiter: Limiter | undefined;
  try {
    settings = loadSettings();
    limiter = loadLimiter();
    ownerLimiter = settings.auth ? loadOwnerLimiter() : undefined;
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return misconfigured(error, context);
  }
  // Kept per instance: after the instance's first check this is an already settled promise.
  const policies = await settings.signer.prepare();
  // A failed check is logged once, by the first request that sees it, so a flood does not fill the logs.
  const firstToSee = policies.kind !== "ready" && !policies.reported;
  if (policies.kind !== "ready") policies.reported = true;
  if (policies.kind === "refused") {
    if (firstToSee)
      log(context, "error", { event: "accessPolicies.refused", message: policies.error.message });
    return errorResponse(500, `The function cannot issue tokens: ${policies.error.summary}`);
  }
  if (policies.kind === "unverified" && firstToSee) {
    // Signing needs no storage: the token works if its policy exists, as it does unless this generation is
    // new, so tokens are still issued.
    log(context, "warning", { event: "accessPolicies.unverified", reason: policies.reason });
  }
  // Signed in (when the function has an issuer), before anything is counted or signed.
  const signedIn = await authenticate(request, settings.auth, context);
  if ("response" in signedIn) return signedIn.response;
  const owner = signedIn.caller.owner;
  // The request is read before the limits see it (the daily allowance counts its declared size), but a
  // bad one is counted like any other before it is answered.
  const read = readRequest(request, settings, owner);
  const caller = clientKey(request.headers.get("x-forwarded-for"));
  if (limiter || ownerLimiter) {
    // A container token declares no size: it counts as one upload of the largest size allowed, so the
    // daily allowance bounds how many a caller gets (each can still create many blobs while it lives).
    // A resume's bytes were counted when its upload began (its secret is bound to that declared size).
    const bytes = !read.ok
      ? 0
      : read.tokenRequest.kind === "upload"
        ? read.tokenRequest.resume
          ? 0
          : read.tokenRequest.size
        : settings.policy.maxUploadBytes;
    // Signed in, the person is counted first; their address stays a coarse outer bound for everyone behind it.
    const decision =
      owner !== undefined && ownerLimiter
        ? await limit(ownerLimiter, { key: ownerLimitKey(owner), scale: 1 }, bytes, context)
        : undefined;
    if (decision && !decision.allowed) return limitedResponse(decision, context, "person");
    // Narrowest first: a caller refused at its own key spends nothing of its wider prefixes'.
    for (const tier of limiter ? limitTiers(request.headers.get("x-forwarded-for")) : []) {
      const outer = limiter && (await limit(limiter, tier, bytes, context));
      if (outer && !outer.allowed) return limitedResponse(outer, context);
    }
  }
  if (!read.ok) {
    // The message quotes input only JSON-escaped and truncated, and the log line is JSON too.
    log(context, "warning", { event: "request.rejected", message: read.error.message });
    return errorResponse(400, read.error.message);
  }
  // After the request is known to be good, so a Turnstile token (single-use) is not spent on a bad one.
  let pass: HumanPassBody | undefined;
  // parseSettings refuses a human check without a pass key, so both are set or neither.
  if (settings.humanCheck) {
    const human = await passHumanCheck(settings.humanCheck, settings.humanPassKey, request, caller, context);
    if ("response" in human) return human.response;
    pass = human.pass;
  }
  try {
    return await issueToken(read.tokenRequest, read.binding, settings, pass, context, owner);
  } catch (error) {
    if (!(error instanceof SigningUnavailableError)) throw error;
    logSampled(context, "error", "signing.unavailable", Date.now(), {
      event: "signing.unavailable",
      message: error.message,
    });
    return errorResponse(503, "The function cannot sign tokens right now: try again in a minute.", {
      "Retry-After": "60",
    });
  }
}

async function issueToken(
  tokenRequest: TokenRequest,
  binding: TokenBinding,
  settings: Settings,
  pass: HumanPassBody | undefined,
  context: InvocationContext,
  owner: string | undefined,
): Promise<HttpResponseInit> {
  if (tokenRequest.kind === "container") {
    const body = await issueContainerToken(settings, new Date(), binding);
    log(context, "information", {
      event: "token.issued",
      scope: "container",
      container: body.container,
      expiresOn: body.expiresOn,
    });
    return { status: 200, headers: RESPONSE_HEADERS, jsonBody: { ...body, ...pass } };
  }
  let resumedUntil: Date | undefined;
  if (tokenRequest.resume) {
    let refusal: ResumeRefusal | undefined;
    try {
      refusal = await resumeRefusal(settings, tokenRequest, owner);
    } catch (error) {
      if (!(error instanceof SettingsError)) throw error;
      return misconfigured(error, context);
    }
    if (refusal) return resumeRefused(refusal, context);
    resumedUntil = resumeSecretUntil(
      settings.resumeKey,
      resumableOf(settings, tokenRequest, tokenRequest.resume.blobName),
      tokenRequest.resume.secret,
      settings.policy.uploadTokenLifetimeMinutes,
    );
  }
  const body = await issueUploadToken(
    settings,
    new Date(),
    tokenRequest.resume && resumedUntil
      ? { ...tokenRequest, owner, resume: { blobName: tokenRequest.resume.blobName, until: resumedUntil } }
      : { ...tokenRequest, owner },
    binding,
  );
  log(context, "information", {
    event: "token.issued",
    scope: "blob",
    resumed: tokenRequest.resume !== undefined,
    container: body.container,
    blobName: body.blobName,
    contentType: tokenRequest.contentType,
    size: tokenRequest.size,
    expiresOn: body.expiresOn,
  });
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: { ...body, ...pass } };
}

/**
 * Why a resume must be refused, or undefined to issue: the secret must be this upload's and still within its
 * window, and the upload must not be finished (asked last, as it is the one check that calls storage).
 */
async function resumeRefusal(
  settings: Settings,
  request: Extract<TokenRequest, { kind: "upload" }>,
  owner: string | undefined,
): Promise<ResumeRefusal | undefined> {
  const resume = request.resume;
  if (!resume) return undefined;
  // A name is resumed only by whom it was issued to (anonymous names by anonymous callers).
  if (ownerOfBlobName(resume.blobName) !== owner) return "invalid";
  const check = verifyResumeSecret(
    settings.resumeKey,
    resumableOf(settings, request, resume.blobName),
    resume.secret,
    new Date(),
    settings.policy.uploadTokenLifetimeMinutes,
  );
  if (check !== "valid") return check;
  // Only now the outcomes' table (a SettingsError when its connection is wrong): a bad secret costs no lookup.
  const outcomes = loadOutcomeStore();
  try {
    return (await uploadFinished(settings, outcomes, resume.blobName)) ? "finished" : undefined;
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

/** The refusal with `resume` naming why; sampled in the log, never with the secret. */
function resumeRefused(reason: ResumeRefusal, context: InvocationContext): HttpResponseInit {
  const sample = sampler.take(`resume.refused.${reason}`, Date.now());
  if (sample.log) {
    log(context, "warning", { event: "resume.refused", reason, unloggedSinceLast: sample.unloggedSinceLast });
  }
  const { status, error } = RESUME_REFUSALS[reason];
  return errorResponse(status, error, reason === "unavailable" ? { "Retry-After": "60" } : {}, {
    resume: reason,
  });
}

/**
 * The human check's answer as a response, or the pass to add to the token's body. When siteverify cannot
 * be reached the request is refused (503): the check is on because the operator chose it, and letting
 * everyone through while Cloudflare is away is exactly the gap a script would wait for. Neither the
 * Turnstile token nor the pass is ever logged.
 */
async function passHumanCheck(
  humanCheck: HumanCheckSettings,
  passKey: Buffer,
  request: HttpRequest,
  caller: string,
  context: InvocationContext,
): Promise<{ pass?: HumanPassBody } | { response: HttpResponseInit }> {
  const now = new Date();
  const result = await checkHuman(
    humanCheck,
    passKey,
    {
      clientKey: caller,
      address: clientAddress(request.headers.get("x-forwarded-for"))?.address,
      origin: request.headers.get("origin"),
      pass: request.headers.get(HUMAN_PASS_HEADER),
      token: request.headers.get(TURNSTILE_TOKEN_HEADER),
    },
    now,
  );
  if (result.kind === "passed") return { pass: result.pass };
  if (result.kind === "refused") {
    return { response: humanCheckRefused(result.reason, context, result.errorCodes) };
  }
  if (result.kind === "misconfigured") {
    // Every token-carrying request fails the same way until the secret is fixed: logged once a minute.
    logSampled(context, "error", "humanCheck.misconfigured", now.getTime(), {
      event: "humanCheck.misconfigured",
      errorCodes: result.errorCodes,
    });
    return {
      response: errorResponse(
        500,
        "The function is misconfigured: Cloudflare refused its Turnstile secret key (TURNSTILE_SECRET_KEY).",
      ),
    };
  }
  logSampled(context, "warning", "humanCheck.unavailable", now.getTime(), {
    event: "humanCheck.unavailable",
    cause: result.cause,
    action: "refusing until siteverify answers",
  });
  return {
    response: errorResponse(
      503,
      "The human check cannot be verified right now: try again in a minute.",
      { "Retry-After": "60" },
      { humanCheck: "unavailable" },
    ),
  };
}

/** 403 with `humanCheck` naming why, which tells the page to show the widget and ask again. */
function humanCheckRefused(
  reason: HumanCheckRefusal,
  context: InvocationContext,
  errorCodes: string[] = [],
): HttpResponseInit {
  logSampled(context, "warning", `humanCheck.refused.${reason}`, Date.now(), {
    event: "humanCheck.refused",
    reason,
    errorCodes,
  });
  return errorResponse(403, HUMAN_CHECK_MESSAGES[reason], {}, { humanCheck: reason });
}

function readRequest(
  request: HttpRequest,
  settings: Settings,
  owner: string | undefined,
): { ok: true; tokenRequest: TokenRequest; binding: TokenBinding } | { ok: false; error: RequestError } {
  try {
    const tokenRequest = parseTokenRequest(
      request.query,
      settings.policy,
      request.headers.get(RESUME_SECRET_HEADER),
    );
    if (owner !== undefined && tokenRequest.kind === "container") {
      // A container token creates blobs of any name, so it could not keep uploads under their owner's prefix.
      throw new RequestError(
        "Signed in, tokens are issued per upload only: ask with ?filename=<name>&contentType=<type>&size=<bytes>.",
      );
    }
    return { ok: true, tokenRequest, binding: bindingFor(request, settings) };
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    return { ok: false, error };
  }
}

/**
 * The limits' decision. When their table cannot be reached in time the instance decides on counts of its
 * own with the same limits (limiter.ts), and says so in a sampled warning that counts what it let through
 * and refused since its last line; when the table answers again, a last line counts the rest. Undefined
 * only for a failure of the limiter itself, which is issued as if unlimited and logged the same way.
 */
async function limit(
  limiter: Limiter,
  tier: LimitTier,
  bytes: number,
  context: InvocationContext,
): Promise<Decision | undefined> {
  const now = Date.now();
  let decision: LimiterDecision;
  try {
    decision = await limiter.check(tier.key, bytes, now, tier.scale);
  } catch (error) {
    logSampled(context, "warning", "limits.unavailable", now, {
      event: "limits.unavailable",
      error: typeof error,
      action: "issuing without the limits",
    });
    return undefined;
  }
  if (decision.countedOn === "memory") {
    const sample = sampler.take("limits.unavailable", now);
    if (sample.log) {
      log(context, "warning", {
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
      log(context, "information", { event: "limits.available", ...sinceLast(counts) });
    }
  }
  return decision;
}

const sinceLast = (counts: FallbackCounts) => ({
  allowedSinceLast: counts.allowed,
  refusedSinceLast: counts.refused,
});

/**
 * 429 with Retry-After (seconds), and the same in the body: a page on another origin cannot read
 * Retry-After, which is not a CORS-safelisted response header and the platform's CORS does not expose.
 * https://www.rfc-editor.org/rfc/rfc9110#name-retry-after
 * https://fetch.spec.whatwg.org/#cors-safelisted-response-header-name
 */
function limitedResponse(
  decision: Extract<Decision, { allowed: false }>,
  context: InvocationContext,
  counted: "address" | "person" = "address",
): HttpResponseInit {
  const now = Date.now();
  logSampled(context, "warning", `request.limited.${decision.reason}`, now, {
    event: "request.limited",
    reason: decision.reason,
    counted,
    retryAfterSeconds: decision.retryAfterSeconds,
  });
  return {
    status: 429,
    headers: { ...RESPONSE_HEADERS, "Retry-After": String(decision.retryAfterSeconds) },
    jsonBody: {
      error: refusalMessage(decision, now, counted),
      retryAfterSeconds: decision.retryAfterSeconds,
    },
  };
}

/**
 * An event that can come once per request, logged at most once a minute per key on this instance, with how
 * many were left unlogged since the last.
 */
function logSampled(
  context: InvocationContext,
  level: "warning" | "error",
  key: string,
  now: number,
  event: object,
): void {
  const sample = sampler.take(key, now);
  if (sample.log) log(context, level, { ...event, unloggedSinceLast: sample.unloggedSinceLast });
}

function bindingFor(request: HttpRequest, settings: Settings): TokenBinding {
  if (!settings.policy.bindTokenToClientIp) return {};
  const clientIp = clientIpv4(request.headers.get("x-forwarded-for"));
  if (!clientIp) {
    throw new RequestError(
      "Tokens are bound to the caller's IPv4 address, and this request did not come from one: retry over IPv4.",
    );
  }
  return { clientIp };
}
