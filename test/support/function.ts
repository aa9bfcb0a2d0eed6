// Calls the exported handler directly with @azure/functions test objects, as the Functions host would.
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { SETTING } from "../../function/contract/appSettings";
import { CREDENTIALS_ROUTE } from "../../function/contract/routes";
import type { httpFunctions } from "../../function/functions";
import type { AccessPolicyCheck } from "../../function/signing/accessPolicies";

/** App settings that turn the issuance limits off, for tests about something else (no table needed). */
export const LIMITS_OFF = {
  [SETTING.issuanceRatePerMinute]: "0",
  [SETTING.dailyUploadBytesPerClient]: "0",
} as const;

export interface Invocation {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  logs: Array<{ level: string; message: string }>;
}

export async function invoke(
  functions: typeof httpFunctions,
  init: { method?: string; query?: string; headers?: Record<string, string> } = {},
): Promise<Invocation> {
  const logs: Invocation["logs"] = [];
  const request = new HttpRequest({
    method: init.method ?? "GET",
    url: `http://127.0.0.1:7071/api/${CREDENTIALS_ROUTE}${init.query ?? ""}`,
    headers: init.headers ?? {},
  });
  const context = new InvocationContext({
    invocationId: "test-invocation",
    functionName: "credentials",
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(" ") }),
  });
  const response = new HttpResponse(await functions.credentials.handler(request, context));
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text), logs };
}

/** For handler tests that reach no storage: the container's stored access policies count as in place. */
export const POLICIES_IN_PLACE: AccessPolicyCheck = async () => ({ kind: "ready" });
