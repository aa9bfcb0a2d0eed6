// The opt-in human check over HTTP, against the siteverify stand-in: a Turnstile token earns a token and a
// pass; missing, failed, expired, reused and wrong-hostname tokens are each refused with their reason; an
// unreachable siteverify refuses (503); and without the secret key nothing changes.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Environment, SETTING } from "../../function/contract/appSettings";
import { httpFunctions } from "../../function/functions";
import { HUMAN_PASS_HEADER, TURNSTILE_TOKEN_HEADER } from "../../function/issuing/humanCheck";
import { configureInstance } from "../../function/platform/instance";
import { type FunctionHost, startFunctionHost } from "../../local/functionHost";
import { freePort } from "../../local/ports";
import { connectionStrings } from "../support/accounts";
import { invoke, LIMITS_OFF, POLICIES_IN_PLACE } from "../support/function";
import { type SiteverifyStandIn, startSiteverifyStandIn } from "../support/turnstile";

const PAGE_ORIGIN = "http://127.0.0.1:4280";
const PAGE_HOSTNAME = "127.0.0.1";
const UPLOAD = "?filename=cat.jpg&contentType=image%2Fjpeg&size=1000";

let siteverify: SiteverifyStandIn;
let host: FunctionHost;
const hostLogs: string[] = [];

beforeAll(async () => {
  siteverify = await startSiteverifyStandIn();
  host = await startFunctionHost({
    port: await freePort(),
    allowedOrigins: [PAGE_ORIGIN],
    log: (line) => hostLogs.push(line),
  });
});
afterAll(async () => {
  await host?.stop();
  await siteverify?.stop();
});

function configure(env: Environment = {}): void {
  configureInstance(
    {
      [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
      ...LIMITS_OFF,
      [SETTING.turnstileSecretKey]: siteverify.secretKey,
      [SETTING.turnstileSiteverifyUrl]: siteverify.url,
      ...env,
    },
    { accessPolicyCheck: POLICIES_IN_PLACE },
  );
}

async function ask(headers: Record<string, string> = {}, query = UPLOAD) {
  const response = await fetch(`${host.apiUrl}/credentials${query}`, {
    headers: { Origin: PAGE_ORIGIN, ...headers },
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe("the human check over HTTP", () => {
  test("a Turnstile token solved on the page earns a token and a pass, and the pass earns more tokens", async () => {
    configure();
    const first = await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) });
    expect(first.status).toBe(200);
    expect(first.body.sasKey).toEqual(expect.any(String));
    const pass = first.body.humanPass as string;
    expect(pass).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    const lifetime = Date.parse(first.body.humanPassExpiresOn as string) - Date.now();
    expect(lifetime).toBeGreaterThan(29 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(30 * 60_000);
    for (let request = 0; request < 3; request++) {
      const next = await ask({ [HUMAN_PASS_HEADER]: pass });
      expect(next.status).toBe(200);
      expect(next.body.sasKey).toEqual(expect.any(String));
      expect(next.body.humanPass).toBeUndefined();
    }
  });

  test("siteverify is asked with the secret key, the token and the caller's address", async () => {
    configure();
    const token = siteverify.mint(PAGE_HOSTNAME);
    await ask({ [TURNSTILE_TOKEN_HEADER]: token });
    expect(siteverify.requests.at(-1)).toEqual({
      secret: siteverify.secretKey,
      response: token,
      remoteip: "127.0.0.1",
    });
  });

  test("a request with neither token nor pass gets 403 saying a human check is required", async () => {
    configure();
    const refused = await ask();
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      error: "Upload tokens need a human check here: solve the check on the upload page, then try again.",
      humanCheck: "required",
    });
  });

  test("a token siteverify does not know gets 403 saying the check was not passed", async () => {
    configure();
    const refused = await ask({ [TURNSTILE_TOKEN_HEADER]: "made-up-token" });
    expect(refused.status).toBe(403);
    expect(refused.body.humanCheck).toBe("failed");
    expect(refused.body.error).toBe("The human check was not passed: solve the check again.");
  });

  test("a token used twice is refused the second time as expired or already used", async () => {
    configure();
    const token = siteverify.mint(PAGE_HOSTNAME);
    expect((await ask({ [TURNSTILE_TOKEN_HEADER]: token })).status).toBe(200);
    const again = await ask({ [TURNSTILE_TOKEN_HEADER]: token });
    expect(again.status).toBe(403);
    expect(again.body.humanCheck).toBe("expired");
    expect(again.body.error).toBe("The human check expired or was already used: solve the check again.");
  });

  test("a token solved more than 300 s ago is refused as expired", async () => {
    configure();
    const stale = siteverify.mint(PAGE_HOSTNAME, new Date(Date.now() - 301_000));
    const refused = await ask({ [TURNSTILE_TOKEN_HEADER]: stale });
    expect(refused.status).toBe(403);
    expect(refused.body.humanCheck).toBe("expired");
  });

  test("a token solved on another site is refused as the wrong hostname", async () => {
    configure();
    const refused = await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint("elsewhere.example.com") });
    expect(refused.status).toBe(403);
    expect(refused.body.humanCheck).toBe("wrong-hostname");
    expect(refused.body.error).toMatch(/not solved on the page asking/);
  });

  test("a pass that was tampered with is refused and a token is asked for", async () => {
    configure();
    const { body } = await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) });
    const pass = body.humanPass as string;
    const [expiry] = pass.split(".");
    const longer = pass.replace(`${expiry}.`, `${Number(expiry) + 86_400}.`);
    const refused = await ask({ [HUMAN_PASS_HEADER]: longer });
    expect(refused.status).toBe(403);
    expect(refused.body.humanCheck).toBe("required");
  });

  test("a pass earned at one address is refused at another, while it still works at its own", async () => {
    configure();
    const from = (address: string, headers: Record<string, string>) =>
      invoke(httpFunctions, {
        query: UPLOAD,
        headers: { "x-forwarded-for": address, origin: PAGE_ORIGIN, ...headers },
      });
    const earned = await from("198.51.100.1", { [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) });
    expect(earned.status).toBe(200);
    const pass = earned.body.humanPass as string;
    const elsewhere = await from("203.0.113.9", { [HUMAN_PASS_HEADER]: pass });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.humanCheck).toBe("required");
    expect((await from("198.51.100.1", { [HUMAN_PASS_HEADER]: pass })).status).toBe(200);
    expect(siteverify.requests.at(-1)?.remoteip).toBe("198.51.100.1");
  });

  test("an unreachable siteverify refuses with 503 rather than letting the request through", async () => {
    const closed = await freePort();
    configure({ [SETTING.turnstileSiteverifyUrl]: `http://127.0.0.1:${closed}/turnstile/v0/siteverify` });
    const refused = await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.body).toEqual({
      error: "The human check cannot be verified right now: try again in a minute.",
      humanCheck: "unavailable",
    });
  });

  test("a secret key Cloudflare refuses is the operator's error (500), and the key is never quoted", async () => {
    configure({ [SETTING.turnstileSecretKey]: "not-the-right-secret" });
    const refused = await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) });
    expect(refused.status).toBe(500);
    expect(refused.body.error).toMatch(/TURNSTILE_SECRET_KEY/);
    expect(JSON.stringify(refused.body)).not.toContain("not-the-right-secret");
  });

  test("a refused secret key is logged once a minute, not once per request", async () => {
    configure({ [SETTING.turnstileSecretKey]: "still-not-the-right-secret" });
    hostLogs.length = 0;
    for (let request = 0; request < 3; request++) {
      expect((await ask({ [TURNSTILE_TOKEN_HEADER]: siteverify.mint(PAGE_HOSTNAME) })).status).toBe(500);
    }
    expect(hostLogs.filter((line) => line.includes("humanCheck.misconfigured")).length).toBeLessThanOrEqual(
      1,
    );
  });

  test("neither tokens nor passes nor the secret key reach the log", async () => {
    configure();
    hostLogs.length = 0;
    const token = siteverify.mint(PAGE_HOSTNAME);
    const { body } = await ask({ [TURNSTILE_TOKEN_HEADER]: token });
    await ask({ [HUMAN_PASS_HEADER]: body.humanPass as string });
    await ask({ [TURNSTILE_TOKEN_HEADER]: token });
    const logs = hostLogs.join("\n");
    expect(logs).toContain("token.issued");
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(body.humanPass as string);
    expect(logs).not.toContain(siteverify.secretKey);
  });

  test("the page's preflight for the pass and token headers is answered", async () => {
    const response = await fetch(`${host.apiUrl}/credentials`, {
      method: "OPTIONS",
      headers: {
        Origin: PAGE_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": `${TURNSTILE_TOKEN_HEADER},${HUMAN_PASS_HEADER}`,
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-headers")).toBe(
      `${TURNSTILE_TOKEN_HEADER},${HUMAN_PASS_HEADER}`,
    );
  });

  test("without TURNSTILE_SECRET_KEY a request with neither token nor pass gets its token as before", async () => {
    configure({ [SETTING.turnstileSecretKey]: "" });
    const issued = await ask();
    expect(issued.status).toBe(200);
    expect(issued.body.humanPass).toBeUndefined();
  });
});
