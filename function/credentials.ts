// The HTTP edge of the function: maps a request to the token core and the result to a response.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { SettingsError } from "./appSettings";
import { loadSettings } from "./settings";
import { issueContainerToken } from "./tokens";

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
  if (!(CREDENTIALS_METHODS as readonly string[]).includes(request.method)) {
    return errorResponse(405, `Method ${request.method} is not allowed: use GET.`, {
      Allow: CREDENTIALS_METHODS.join(", "),
    });
  }
  let settings: ReturnType<typeof loadSettings>;
  try {
    settings = loadSettings();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    context.error(
      JSON.stringify({ event: "settings.invalid", setting: error.setting, message: error.message }),
    );
    return errorResponse(500, `The function is misconfigured: ${error.message}`);
  }
  const body = issueContainerToken(settings, new Date());
  context.log(
    JSON.stringify({
      event: "token.issued",
      scope: "container",
      container: body.container,
      expiresOn: body.expiresOn,
    }),
  );
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: body };
}

function errorResponse(
  status: number,
  error: string,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return { status, headers: { ...RESPONSE_HEADERS, ...headers }, jsonBody: { error } };
}
