// Per-upload tokens through the handler: the response contract, the policy switches and hostile input.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { RESUME_SECRET_HEADER } from "../../function/contract/resumeProtocol";
import { httpFunctions } from "../../function/functions";
import { configureInstance } from "../../function/platform/instance";
import { connectionStrings, TEST_ACCOUNT } from "../support/accounts";
import { invoke, LIMITS_OFF, POLICIES_IN_PLACE } from "../support/function";

/** The function app with the given app settings, as a new instance reads them. */
function instance(env: Record<string, string>) {
  configureInstance(
    {
      ...LIMITS_OFF,
      [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
      ...env,
    },
    { accessPolicyCheck: POLICIES_IN_PLACE },
  );
  return httpFunctions;
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

describe("GET /api/credentials?filename=…&contentType=…", () => {
  test("answers with a token for one server-named blob", async () => {
    const functions = instance({});
    const before = Date.now();
    const response = await invoke(functions, {
      query: "?filename=holiday.JPEG&contentType=image/jpeg&size=2048",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = response.body as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual([
      "blobName",
      "blobUrl",
      "container",
      "expiresOn",
      "resumableUntil",
      "resumeSecret",
      "sasKey",
      "url",
    ]);
    expect(body.blobName).toMatch(new RegExp(`^${UUID}-2048\\.jpg$`));
    expect(body.blobName).not.toContain("holiday");
    expect(body.blobUrl).toBe(`https://${TEST_ACCOUNT}.blob.core.windows.net/images/${body.blobName}`);
    expect(body.blobUrl).not.toContain("sig=");
    const token = new URLSearchParams(body.sasKey);
    expect(token.get("sr")).toBe("b");
    expect(token.get("si")).toBe("valet-g1-w");
    expect(token.has("sp")).toBe(false);
    expect(token.get("spr")).toBe("https");
    expect(token.has("st")).toBe(false);
    expect(token.has("sip")).toBe(false);
    const expiry = Date.parse(token.get("se") ?? "");
    expect(Math.abs(expiry - (before + 15 * 60_000))).toBeLessThan(60_000);
    expect(Date.parse(String(body.expiresOn))).toBe(expiry);
  });

  test("follows the upload token lifetime setting", async () => {
    const functions = instance({ [SETTING.uploadTokenLifetimeMinutes]: "5" });
    const before = Date.now();
    const body = (await invoke(functions, { query: "?filename=a.png&contentType=image/png&size=1" })).body;
    expect(Math.abs(Date.parse(String(body.expiresOn)) - (before + 5 * 60_000))).toBeLessThan(60_000);
  });

  test("never gives two requests the same blob name", async () => {
    const functions = instance({});
    const names = new Set<string>();
    for (let i = 0; i < 50; i++) {
      names.add(
        String(
          (await invoke(functions, { query: "?filename=a.png&contentType=image/png&size=1" })).body.blobName,
        ),
      );
    }
    expect(names.size).toBe(50);
  });

  test("logs the issue without the token", async () => {
    const functions = instance({});
    const response = await invoke(functions, { query: "?filename=a.png&contentType=image/png&size=10" });
    expect(response.logs).toHaveLength(1);
    const event = JSON.parse(response.logs[0]?.message ?? "{}");
    expect(event).toMatchObject({ event: "token.issued", scope: "blob", contentType: "image/png", size: 10 });
    expect(response.logs[0]?.message).not.toContain(
      new URLSearchParams(String(response.body.sasKey)).get("sig"),
    );
  });
});

describe("the issuance policy in the handler", () => {
  test("with container tokens turned off, a bare request gets 400 telling the client to ask per upload", async () => {
    const functions = instance({ [SETTING.containerTokensEnabled]: "false" });
    const bare = await invoke(functions);
    expect(bare.status).toBe(400);
    expect(bare.body).toEqual({
      error:
        "Container tokens are turned off: ask for a token per upload with ?filename=<name>&contentType=<type>&size=<bytes>.",
    });
    expect((await invoke(functions, { query: "?filename=a.png&contentType=image/png&size=1" })).status).toBe(
      200,
    );
  });

  test("with container tokens on, a bare request keeps the original contract", async () => {
    const functions = instance({});
    const response = await invoke(functions);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(["container", "expiresOn", "sasKey", "url"]);
    expect(new URLSearchParams(String(response.body.sasKey)).get("sr")).toBe("c");
  });

  test("binds both kinds of token to the caller's IPv4 address when asked to", async () => {
    const functions = instance({ [SETTING.bindTokenToClientIp]: "true" });
    const headers = { "x-forwarded-for": "203.0.113.9:50123" };
    const upload = await invoke(functions, {
      query: "?filename=a.png&contentType=image/png&size=1",
      headers,
    });
    expect(new URLSearchParams(String(upload.body.sasKey)).get("sip")).toBe("203.0.113.9");
    const container = await invoke(functions, { headers });
    expect(new URLSearchParams(String(container.body.sasKey)).get("sip")).toBe("203.0.113.9");
  });

  test("refuses to issue a bound token when the caller's IPv4 address is unknown", async () => {
    const functions = instance({ [SETTING.bindTokenToClientIp]: "true" });
    const response = await invoke(functions, { headers: { "x-forwarded-for": "2001:db8::1" } });
    expect(response.status).toBe(400);
    expect(String(response.body.error)).toMatch(/bound to the caller's IPv4 address/);
  });

  test("an invalid policy setting is a 500 naming it", async () => {
    const functions = instance({ [SETTING.allowedContentTypes]: "image/png,application/pdf" });
    const response = await invoke(functions);
    expect(response.status).toBe(500);
    expect(String(response.body.error)).toMatch(/ALLOWED_CONTENT_TYPES must be a comma-separated list/);
  });
});

describe("hostile input", () => {
  const parameterName = fc.oneof(
    fc.constantFrom("filename", "contentType", "size", "sp", "sig", "blobName", "FILENAME", "content-type"),
    fc.string({ maxLength: 300 }),
  );
  const parameterValue = fc.oneof(
    fc.constantFrom(
      "a.png",
      "image/png",
      "../a.png",
      "a/b.png",
      "a\\b.png",
      "a\u0000.png",
      "a.png\r\nX: y",
      "0",
      "-5",
    ),
    fc.string({ maxLength: 2000 }),
    fc.string({ unit: "binary", maxLength: 300 }),
  );
  const badQuery = fc
    .array(fc.tuple(parameterName, parameterValue), { minLength: 1, maxLength: 6 })
    .map((pairs) => {
      const query = new URLSearchParams();
      for (const [name, value] of pairs) query.append(name, value);
      return query.toString();
    })
    .filter((query) => !isValidUpload(query));

  test("every bad query gets a 400 with a clear JSON error and no token", async () => {
    const functions = instance({});
    await fc.assert(
      fc.asyncProperty(badQuery, async (query) => {
        const response = await invoke(functions, { query: `?${query}` });
        expect(response.status).toBe(400);
        expect(Object.keys(response.body)).toEqual(["error"]);
        const error = String(response.body.error);
        expect(error.length).toBeGreaterThan(10);
        expect(error.length).toBeLessThan(300);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for control characters.
        expect(error).not.toMatch(/[\u0000-\u001f\u2028\u2029]/);
        expect(JSON.stringify(response.body)).not.toContain("sig=");
        for (const log of response.logs) {
          // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for control characters.
          expect(log.message).not.toMatch(/[\u0000-\u001f]/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** A query that is a correct per-upload request (fast-check rarely builds one, but it must not count as bad). */
function isValidUpload(query: string): boolean {
  const params = new URLSearchParams(query);
  const names = [...params.keys()];
  if (new Set(names).size !== names.length) return false;
  if (!names.every((n) => ["filename", "contentType", "size"].includes(n))) return false;
  const filename = params.get("filename");
  const type = params.get("contentType")?.trim().toLowerCase();
  if (!filename || !type) return false;
  const size = params.get("size");
  return (
    type === "image/png" &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the same character classes the parser refuses.
    /^[^/\\\u0000-\u001f\u007f-\u009f\u2028\u2029]{1,251}\.png$/i.test(filename) &&
    !filename.startsWith(".png") &&
    size !== null &&
    /^\d{1,16}$/.test(size) &&
    Number(size) > 0 &&
    Number(size) <= 50 * 1024 * 1024
  );
}

describe("raising TOKEN_GENERATION", () => {
  test("ends every resume secret issued before: a generation-1 secret gets no generation-2 token", async () => {
    const query = "?filename=a.png&contentType=image/png&size=1000";
    const first = await invoke(instance({ [SETTING.tokenGeneration]: "1" }), { query });
    expect(first.status).toBe(200);
    const { blobName, resumeSecret } = first.body as { blobName: string; resumeSecret: string };
    const resumed = await invoke(instance({ [SETTING.tokenGeneration]: "2" }), {
      query: `${query}&blobName=${blobName}`,
      headers: { [RESUME_SECRET_HEADER]: resumeSecret },
    });
    expect(resumed.status).toBe(403);
    expect(resumed.body).toMatchObject({ resume: "invalid" });
  });
});
