// The HTTP edge of issuance: reads GET /api/credentials into the core's terms (issuance.ts) and maps its
// decision to a response. Every status, header and body of the endpoint is chosen here, and only here.

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { SettingsError } from "../contract/appSettings";
import { HUMAN_PASS_HEADER, TURNSTILE_TOKEN_HEADER } from "../contract/humanCheckProtocol";
import { refusalMessage } from "../contract/limits";
import { RESUME_REFUSALS, RESUME_SECRET_HEADER } from "../contract/resumeProtocol";
import { authenticate } from "../identity";
import { type Instance, instance } from "../platform/instance";
import { errorResponse, log, methodRefusal, misconfigured, RESPONSE_HEADERS } from "../platform/responses";
import { HUMAN_CHECK_MESSAGES } from "./humanCheck";
import { accessPolicyDecision, decideIssuance, type IssuanceDecision, type IssuanceParts } from "./issuance";
import { uploadFinished } from "./uploadOutcome";

export const CREDENTIALS_METHODS = ["GET"] as const;

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
  const root = instance();
  let parts: Pick<IssuanceParts, "settings" | "signer" | "limiter" | "ownerLimiter">;
  let verifier: ReturnType<Instance["verifier"]>;
  try {
    parts = {
      settings: root.settings(),
      signer: root.signer(),
      limiter: root.limiter(),
      ownerLimiter: root.ownerLimiter(),
    };
    verifier = root.verifier();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return misconfigured(error, context);
  }
  const { settings } = parts;
  const note: IssuanceParts["log"] = (level, event) => log(context, level, event);
  // Kept per instance: after the instance's first check this is an already settled promise.
  const blocked = accessPolicyDecision(await parts.signer.prepare(), note);
  if (blocked) return respond(blocked);
  // Signed in (when the function has an issuer), before anything is counted or signed.
  const signedIn = await authenticate(request, verifier, context);
  if ("response" in signedIn) return signedIn.response;
  const decision = await decideIssuance(
    {
      query: request.query,
      forwardedFor: request.headers.get("x-forwarded-for"),
      resumeSecret: request.headers.get(RESUME_SECRET_HEADER),
      origin: request.headers.get("origin"),
      humanPass: request.headers.get(HUMAN_PASS_HEADER),
      turnstileToken: request.headers.get(TURNSTILE_TOKEN_HEADER),
      owner: signedIn.caller.owner,
    },
    {
      ...parts,
      // The outcomes' store is made only here, for a resume whose secret is good.
      uploadFinished: (blobName) => uploadFinished(settings, root.outcomes(), blobName),
      sampler: root.sampler,
      log: note,
      now: () => new Date(),
    },
  );
  return respond(decision);
}

/** Retry-After for a refusal that passes: the page waits this long (60 s) before asking again. */
const RETRY_IN_A_MINUTE = { "Retry-After": "60" };

/** The response for each decision. */
function respond(decision: IssuanceDecision): HttpResponseInit {
  switch (decision.kind) {
    case "issued":
      return { status: 200, headers: RESPONSE_HEADERS, jsonBody: decision.body };
    case "badRequest":
      return errorResponse(400, decision.message);
    case "limited":
      return limitedResponse(decision);
    case "humanCheckRefused":
      // `humanCheck` naming why tells the page to show the widget and ask again.
      return errorResponse(403, HUMAN_CHECK_MESSAGES[decision.reason], {}, { humanCheck: decision.reason });
    case "humanCheckUnavailable":
      return errorResponse(
        503,
        "The human check cannot be verified right now: try again in a minute.",
        RETRY_IN_A_MINUTE,
        { humanCheck: "unavailable" },
      );
    case "humanCheckMisconfigured":
      return errorResponse(
        500,
        "The function is misconfigured: Cloudflare refused its Turnstile secret key (TURNSTILE_SECRET_KEY).",
      );
    case "resumeRefused": {
      const { status, error } = RESUME_REFUSALS[decision.reason];
      return errorResponse(status, error, decision.reason === "unavailable" ? RETRY_IN_A_MINUTE : {}, {
        resume: decision.reason,
      });
    }
    case "misconfigured":
      return errorResponse(500, `The function is misconfigured: ${decision.error.message}`);
    case "cannotIssue":
      return errorResponse(500, `The function cannot issue tokens: ${decision.summary}`);
    case "signingUnavailable":
      return errorResponse(
        503,
        "The function cannot sign tokens right now: try again in a minute.",
        RETRY_IN_A_MINUTE,
      );
  }
}

/**
 * 429 with Retry-After (seconds), and the same in the body: a page on another origin cannot read
 * Retry-After, which is not a CORS-safelisted response header and the platform's CORS does not expose.
 * https://www.rfc-editor.org/rfc/rfc9110#name-retry-after
 * https://fetch.spec.whatwg.org/#cors-safelisted-response-header-name
 */
function limitedResponse(decision: Extract<IssuanceDecision, { kind: "limited" }>): HttpResponseInit {
  const { refusal } = decision;
  return {
    status: 429,
    headers: { ...RESPONSE_HEADERS, "Retry-After": String(refusal.retryAfterSeconds) },
    jsonBody: {
      error: refusalMessage(refusal, decision.at, decision.counted),
      retryAfterSeconds: refusal.retryAfterSeconds,
    },
  };
}
