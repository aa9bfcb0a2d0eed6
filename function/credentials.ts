// The HTTP edge of the function: maps a request to the token core and the result to a response.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { accessPolicyStatus } from "./accessPolicies";
import { SETTING, SettingsError, settingsInvalidEvent } from "./appSettings";
import { loadSettings, type Settings } from "./settings";
import { issueContainerToken, issueUploadToken, type TokenBinding } from "./tokens";
import { clientIpv4, parseTokenRequest, RequestError } from "./uploadRequest";

/** A token must never sit in a browser or proxy cache. */
const RESPONSE_HEADERS = {
  "Content-Type": "application/json",
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
} as const;

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
  if (!(CREDENTIALS_METHODS as readonly string[]).includes(request.method)) {
    return errorResponse(405, `Method ${request.method} is not allowed: use GET.`, {
      Allow: CREDENTIALS_METHODS.join(", "),
    });
  }
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    log(context, "error", settingsInvalidEvent(error));
    return errorResponse(500, `The function is misconfigured: ${error.message}`);
  }
  // Kept per instance: after the instance's first check this is an already settled promise.
  const policies = await accessPolicyStatus(settings, SETTING.tokenGeneration);
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
  try {
    const tokenRequest = parseTokenRequest(request.query, settings.policy);
    const binding = bindingFor(request, settings);
    if (tokenRequest.kind === "container") {
      const body = issueContainerToken(settings, new Date(), binding);
      log(context, "information", {
        event: "token.issued",
        scope: "container",
        container: body.container,
        expiresOn: body.expiresOn,
      });
      return { status: 200, headers: RESPONSE_HEADERS, jsonBody: body };
    }
    const body = issueUploadToken(settings, new Date(), tokenRequest, binding);
    log(context, "information", {
      event: "token.issued",
      scope: "blob",
      container: body.container,
      blobName: body.blobName,
      contentType: tokenRequest.contentType,
      size: tokenRequest.size,
      expiresOn: body.expiresOn,
    });
    return { status: 200, headers: RESPONSE_HEADERS, jsonBody: body };
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    // The message quotes input only JSON-escaped and truncated, and the log line is JSON too.
    log(context, "warning", { event: "request.rejected", message: error.message });
    return errorResponse(400, error.message);
  }
}

/** One structured event per line, with the invocation id, through the context so it reaches Application Insights. */
function log(context: InvocationContext, level: "information" | "warning" | "error", event: object): void {
  const line = JSON.stringify({ ...event, invocationId: context.invocationId });
  if (level === "error") context.error(line);
  else if (level === "warning") context.warn(line);
  else context.log(line);
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

function errorResponse(
  status: number,
  error: string,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return { status, headers: { ...RESPONSE_HEADERS, ...headers }, jsonBody: { error } };
}
