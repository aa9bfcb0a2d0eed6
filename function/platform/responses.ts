// What every function shares at its edges: the JSON response headers, the error body, and the structured
// log line (one event per line, with the invocation id, through the context so it reaches Application Insights).
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { type SettingsError, settingsInvalidEvent } from "../contract/appSettings";

/** A token or an upload's state must never sit in a browser or proxy cache. */
export const RESPONSE_HEADERS = {
  "Content-Type": "application/json",
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
} as const;

/** `{"error": "<what is wrong and what to do>"}`, plus any fields a client acts on. */
export function errorResponse(
  status: number,
  error: string,
  headers: Record<string, string> = {},
  extra: Record<string, string> = {},
): HttpResponseInit {
  return { status, headers: { ...RESPONSE_HEADERS, ...headers }, jsonBody: { error, ...extra } };
}

export function log(
  context: InvocationContext,
  level: "information" | "warning" | "error",
  event: object,
): void {
  const line = JSON.stringify({ ...event, invocationId: context.invocationId });
  if (level === "error") context.error(line);
  else if (level === "warning") context.warn(line);
  else context.log(line);
}

/** A bad setting: logged with its name, answered with a message that names it and never its value. */
export function misconfigured(error: SettingsError, context: InvocationContext): HttpResponseInit {
  log(context, "error", settingsInvalidEvent(error));
  return errorResponse(500, `The function is misconfigured: ${error.message}`);
}

/** 405 with `Allow` for a method the function does not answer, or undefined for one it does. */
export function methodRefusal(
  request: HttpRequest,
  methods: readonly string[],
): HttpResponseInit | undefined {
  if (methods.includes(request.method)) return undefined;
  return errorResponse(405, `Method ${request.method} is not allowed: use ${methods.join(" or ")}.`, {
    Allow: methods.join(", "),
  });
}
