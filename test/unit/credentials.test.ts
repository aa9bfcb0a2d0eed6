// The credentials handler (function/credentials.ts) over HTTP objects: its response contract, logs without
// secrets, method refusals, and the clear errors of a misconfigured instance.
import { type HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { afterEach, describe, expect, test, vi } from "vitest";
import { SETTING } from "../../function/appSettings";
import { connectionStrings, TEST_ACCOUNT, TEST_KEY } from "../support/accounts";
import { invoke, LIMITS_OFF } from "../support/function";

/** A fresh instance of the function app with the given app settings, as a new Functions instance gets. */
async function instance(env: Record<string, string | undefined>) {
  vi.resetModules();
  for (const name of Object.values(SETTING)) delete process.env[name];
  for (const [name, value] of Object.entries({ ...LIMITS_OFF, ...env })) {
    if (value !== undefined) process.env[name] = value;
  }
  return (await import("../../function/functions.js")).httpFunctions;
}

afterEach(() => {
  for (const name of Object.values(SETTING)) delete process.env[name];
});

describe("GET /api/credentials", () => {
  test("answers 200 with a token in the documented shape and no-store caching", async () => {
    const functions = await instance({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    const response = await invoke(functions);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.body.url).toBe(`https://${TEST_ACCOUNT}.blob.core.windows.net`);
    expect(response.body.container).toBe("images");
    expect(response.body.sasKey).toMatch(/^sv=[^&]+&.*se=.*&sr=c&sp=c&sig=/);
    expect(typeof response.body.expiresOn).toBe("string");
  });

  test("logs the issue of a token without the token or the key", async () => {
    const functions = await instance({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    const response = await invoke(functions);
    const sig = new URLSearchParams(String(response.body.sasKey)).get("sig") ?? "";
    expect(response.logs.map((log) => JSON.parse(log.message).event)).toEqual(["token.issued"]);
    expect(JSON.parse(response.logs[0]?.message ?? "{}").invocationId).toBe("test-invocation");
    for (const log of response.logs) {
      expect(log.message).not.toContain(sig);
      expect(log.message).not.toContain(TEST_KEY.slice(0, 20));
    }
  });

  test("reads the settings once per instance", async () => {
    const functions = await instance({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    await invoke(functions);
    process.env[SETTING.connectionString] = connectionStrings.sasOnly;
    const response = await invoke(functions);
    expect(response.status).toBe(200);
  });

  test.each(["POST", "PUT", "DELETE", "PATCH"])("refuses %s with 405 and an Allow header", async (method) => {
    const functions = await instance({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    const response = await invoke(functions, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect(response.body).toEqual({ error: `Method ${method} is not allowed: use GET.` });
  });
});

describe("a misconfigured instance", () => {
  test.each([
    ["a missing connection string", {}, /UPLOADS_CONNECTION_STRING is not set/],
    [
      "a SAS-only connection string",
      { [SETTING.connectionString]: connectionStrings.sasOnly },
      /shared access signature/,
    ],
    [
      "a malformed connection string",
      { [SETTING.connectionString]: "AccountKey=;;;" },
      /not a valid storage connection string/,
    ],
    [
      "an out-of-range lifetime",
      {
        [SETTING.connectionString]: connectionStrings.developmentStorage,
        [SETTING.tokenLifetimeMinutes]: "100000",
      },
      /SAS_TOKEN_LIFETIME_MINUTES must be a whole number of minutes from 5 to 1440/,
    ],
    [
      "an invalid container name",
      { [SETTING.connectionString]: connectionStrings.developmentStorage, [SETTING.container]: "Bad_Name" },
      /UPLOADS_CONTAINER must be a container name/,
    ],
  ])("with %s answers 500 with a JSON error naming the setting, and logs it", async (_name, env, message) => {
    const functions = await instance(env);
    const response = await invoke(functions);
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(Object.keys(response.body)).toEqual(["error"]);
    expect(String(response.body.error)).toMatch(message);
    expect(response.logs).toHaveLength(1);
    expect(response.logs[0]?.level).toBe("error");
    expect(response.logs[0]?.message).toMatch(message);
    const secret =
      SETTING.connectionString in env
        ? String((env as Record<string, string>)[SETTING.connectionString])
        : "";
    if (secret.length > 12) {
      expect(JSON.stringify(response.body)).not.toContain(secret.slice(-12));
      expect(response.logs[0]?.message).not.toContain(secret.slice(-12));
    }
  });

  test("an unexpected failure is a generic JSON 500, logged with the invocation id and without its message", async () => {
    const functions = await instance({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    const handler = functions.credentials.handler;
    const logs: string[] = [];
    const request = {
      method: "GET",
      get query(): URLSearchParams {
        throw new Error("AccountKey=should-never-be-seen");
      },
      headers: new Headers(),
    } as unknown as HttpRequest;
    const context = new InvocationContext({
      invocationId: "inv-42",
      logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")),
    });
    const response = new HttpResponse(await handler(request, context));
    expect(response.status).toBe(500);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({
      error: "The function failed unexpectedly; retry, and report it if it persists.",
    });
    expect(logs.map((line) => JSON.parse(line))).toEqual([
      { event: "invocation.failed", error: "Error", invocationId: "inv-42" },
    ]);
  });

  test("settings a host passes in take the place of the environment, which is left alone", async () => {
    const functions = await instance({});
    const { configureSettings } = await import("../../function/settings.js");
    configureSettings({ ...LIMITS_OFF, [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
    expect((await invoke(functions)).status).toBe(200);
    expect(process.env[SETTING.connectionString]).toBeUndefined();
  });

  test("keeps answering after a configuration error", async () => {
    const functions = await instance({});
    expect((await invoke(functions)).status).toBe(500);
    expect((await invoke(functions)).status).toBe(500);
  });
});
