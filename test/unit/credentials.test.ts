// The credentials handler (function/issuing/credentials.ts) over HTTP objects: its response contract, logs without
// secrets, method refusals, and the clear errors of a misconfigured instance.
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { afterEach, describe, expect, test, vi } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { httpFunctions } from "../../function/functions";
import { configureInstance } from "../../function/platform/instance";
import { connectionStrings, TEST_ACCOUNT, TEST_KEY } from "../support/accounts";
import { invoke, LIMITS_OFF, POLICIES_IN_PLACE } from "../support/function";

/**
 * A fresh instance of the function app reading the process environment with the given app settings, as a new
 * Functions instance gets.
 */
async function instance(env: Record<string, string | undefined>, check = POLICIES_IN_PLACE) {
  for (const name of Object.values(SETTING)) delete process.env[name];
  for (const [name, value] of Object.entries({ ...LIMITS_OFF, ...env })) {
    if (value !== undefined) process.env[name] = value;
  }
  configureInstance(process.env, { accessPolicyCheck: check });
  return httpFunctions;
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
    expect(response.body.sasKey).toMatch(/^sv=[^&]+&.*se=.*&si=valet-g1-c&sr=c&sig=/);
    expect(new URLSearchParams(String(response.body.sasKey)).has("sp")).toBe(false);
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
    configureInstance(
      { ...LIMITS_OFF, [SETTING.connectionString]: connectionStrings.azureWithoutSuffix },
      { accessPolicyCheck: POLICIES_IN_PLACE },
    );
    expect((await invoke(functions)).status).toBe(200);
    expect(process.env[SETTING.connectionString]).toBeUndefined();
  });

  test("keeps answering after a configuration error", async () => {
    const functions = await instance({});
    expect((await invoke(functions)).status).toBe(500);
    expect((await invoke(functions)).status).toBe(500);
  });
});

describe("a misconfigured instance tells an anonymous caller nothing of the values", () => {
  const dev = { [SETTING.connectionString]: connectionStrings.developmentStorage };
  const key = `DefaultEndpointsProtocol=https;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY}`;
  // Each row: a bad setting, the fragments of its value the body must not contain, and whether the
  // log may name the wrong part (never for the connection string, which holds the key).
  test.each([
    [
      "a content type that is not allowed",
      { ...dev, [SETTING.allowedContentTypes]: "image/png,text/x-operator-note" },
      ["text/x-operator-note", "x-operator"],
      "text/x-operator-note",
    ],
    ["an empty content type list", { ...dev, [SETTING.allowedContentTypes]: ", ,;" }, [", ,;"], undefined],
    [
      "a size with a unit",
      { ...dev, [SETTING.maxUploadBytes]: "12345abc" },
      ["12345abc", "12345"],
      undefined,
    ],
    [
      "an out-of-range upload lifetime",
      { ...dev, [SETTING.uploadTokenLifetimeMinutes]: "99999" },
      ["99999"],
      undefined,
    ],
    [
      "an out-of-range container lifetime",
      { ...dev, [SETTING.tokenLifetimeMinutes]: "77777" },
      ["77777"],
      undefined,
    ],
    [
      "an upload lifetime longer than the container's",
      { ...dev, [SETTING.tokenLifetimeMinutes]: "20", [SETTING.uploadTokenLifetimeMinutes]: "45" },
      ["45", "20"],
      "(45)",
    ],
    [
      "a yes/no that is neither",
      { ...dev, [SETTING.containerTokensEnabled]: "maybe-later" },
      ["maybe-later"],
      undefined,
    ],
    [
      "an IP binding that is neither",
      { ...dev, [SETTING.bindTokenToClientIp]: "yes-please" },
      ["yes-please"],
      undefined,
    ],
    [
      "a container name",
      { ...dev, [SETTING.container]: "Operator_Bucket" },
      ["Operator_Bucket", "operator_bucket"],
      undefined,
    ],
    [
      "text that is no connection string",
      { [SETTING.connectionString]: "hello operator" },
      ["hello operator"],
      undefined,
    ],
    [
      "a javascript: blob endpoint",
      { [SETTING.connectionString]: `${key};BlobEndpoint=javascript:alert(1)` },
      ["javascript:alert", TEST_KEY.slice(0, 16)],
      undefined,
    ],
    [
      "a blob endpoint with a password",
      { [SETTING.connectionString]: `${key};BlobEndpoint=https://admin:hunter2@uploads.example.com` },
      ["hunter2", "admin:", "uploads.example.com", TEST_KEY.slice(0, 16)],
      undefined,
    ],
  ])(
    "with %s, the 500 body names the setting and quotes none of its value",
    async (_name, env, fragments, logged) => {
      const functions = await instance(env);
      const response = await invoke(functions);
      expect(response.status).toBe(500);
      const body = JSON.stringify(response.body);
      expect(body).toMatch(/The function is misconfigured: [A-Z_]+ /);
      for (const fragment of fragments) expect(body.toLowerCase()).not.toContain(fragment.toLowerCase());
      const log = response.logs[0]?.message ?? "";
      expect(JSON.parse(log)).toMatchObject({ event: "settings.invalid", invocationId: "test-invocation" });
      if (logged) expect(log).toContain(JSON.stringify(logged).slice(1, -1));
      else for (const fragment of fragments) expect(log.toLowerCase()).not.toContain(fragment.toLowerCase());
    },
  );
});

describe("the container's stored access policies", () => {
  const settings = { [SETTING.connectionString]: connectionStrings.azureWithoutSuffix };
  const events = (response: { logs: Array<{ message: string }> }) =>
    response.logs.map((log) => JSON.parse(log.message).event);

  test("a check that cannot reach storage still issues tokens, and is logged by the first request only", async () => {
    const functions = await instance(settings, async () => ({
      kind: "unverified",
      reason: "storage answered 503",
      at: Date.now(),
      reported: false,
    }));
    const first = await invoke(functions);
    const second = await invoke(functions);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(events(first)).toEqual(["accessPolicies.unverified", "token.issued"]);
    expect(first.logs[0]).toMatchObject({ level: "warning" });
    expect(JSON.parse(first.logs[0]?.message ?? "{}").reason).toBe("storage answered 503");
    expect(events(second)).toEqual(["token.issued"]);
  });

  test("an instance whose generation was superseded answers 500 naming the setting without its value, logged once", async () => {
    const { AccessPolicyError } = await import("../../function/signing/accessPolicies.js");
    const error = new AccessPolicyError(
      "TOKEN_GENERATION is 1, but … Set TOKEN_GENERATION to 2 or higher.",
      "TOKEN_GENERATION is older than the generation the uploads container holds.",
    );
    const functions = await instance(settings, async () => ({
      kind: "refused",
      error,
      at: Date.now(),
      reported: false,
    }));
    const first = await invoke(functions);
    const second = await invoke(functions);
    expect([first.status, second.status]).toEqual([500, 500]);
    expect(second.body).toEqual({
      error:
        "The function cannot issue tokens: TOKEN_GENERATION is older than the generation the uploads container holds.",
    });
    expect(events(first)).toEqual(["accessPolicies.refused"]);
    expect(JSON.parse(first.logs[0]?.message ?? "{}").message).toBe(error.message);
    expect(first.logs[0]).toMatchObject({ level: "error" });
    expect(events(second)).toEqual([]);
  });

  test("a refused check is started again by the first request after the wait, and the next one sees its outcome", async () => {
    const { AccessPolicyError, RECHECK_AFTER_MS } = await import("../../function/signing/accessPolicies.js");
    const outcomes = [false, true];
    let checks = 0;
    const functions = await instance(settings, async () => {
      const fixed = outcomes[checks++];
      if (fixed) return { kind: "ready" };
      const error = new AccessPolicyError("too many policies", "the uploads container holds too many.");
      return { kind: "refused", error, at: Date.now(), reported: false };
    });
    vi.useFakeTimers({ now: Date.now(), toFake: ["Date"] });
    try {
      const statuses = [(await invoke(functions)).status, (await invoke(functions)).status];
      expect(checks).toBe(1);
      vi.setSystemTime(Date.now() + RECHECK_AFTER_MS);
      statuses.push((await invoke(functions)).status, (await invoke(functions)).status);
      expect(checks).toBe(2);
      expect(statuses).toEqual([500, 500, 500, 200]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("keyless", () => {
  test("answers 503 when the user delegation key cannot be had, logs the cause without its detail, and does not ask on every request", async () => {
    const functions = await instance({});
    let asked = 0;
    configureInstance(
      {
        ...LIMITS_OFF,
        [SETTING.accountUrl]: `https://${TEST_ACCOUNT}.blob.core.windows.net`,
        [SETTING.keyDerivationSecret]: Buffer.alloc(32, 3).toString("base64"),
      },
      {
        uploadsCredential: {
          getToken: async () => {
            asked++;
            throw Object.assign(new Error("managed identity secret detail"), {
              name: "CredentialUnavailableError",
            });
          },
        },
      },
    );
    const first = await invoke(functions);
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("60");
    expect(first.body).toEqual({
      error: "The function cannot sign tokens right now: try again in a minute.",
    });
    const event = JSON.parse(first.logs[0]?.message ?? "{}");
    expect(event).toMatchObject({ event: "signing.unavailable", invocationId: "test-invocation" });
    expect(event.message).toContain("CredentialUnavailableError");
    expect(first.logs.map((log) => log.message).join("\n")).not.toContain("secret detail");
    const askedForFirst = asked;
    expect(askedForFirst).toBeGreaterThan(0);
    expect((await invoke(functions)).status).toBe(503);
    expect(asked).toBe(askedForFirst);
  });
});

describe("every HTTP function", () => {
  test("refuses a method it does not answer with 405, naming the ones it does in Allow, before reading any setting", async () => {
    for (const [name, fn] of Object.entries(httpFunctions)) {
      const request = new HttpRequest({ method: "DELETE", url: `http://127.0.0.1/api/${fn.route}` });
      const response = await fn.handler(request, new InvocationContext({ functionName: name }));
      expect(response.status, name).toBe(405);
      const init = response as { headers?: Record<string, string>; jsonBody?: unknown };
      expect(init.headers?.Allow, name).toBe(fn.methods.join(", "));
      expect(init.jsonBody, name).toEqual({
        error: `Method DELETE is not allowed: use ${fn.methods.join(" or ")}.`,
      });
    }
  });
});
