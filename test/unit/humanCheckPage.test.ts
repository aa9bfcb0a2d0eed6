// The page's side of the human check: one solved challenge, then the pass, for as many files as follow.
import { describe, expect, test } from "vitest";
import { HumanPassKeeper } from "../../client/humanPass";
import { TokenSource } from "../../client/uploadTokens";
import { HUMAN_PASS_HEADER, TURNSTILE_TOKEN_HEADER } from "../../function/contract/humanCheckProtocol";
import { DEFAULT_UPLOAD_TUNING, type PageConfig, parsePageConfig } from "../../web/config";

const CONFIG: PageConfig = {
  apiUrl: "http://127.0.0.1:7071/api/credentials",
  allowedContentTypes: ["image/png"],
  extensions: { "image/png": "png" },
  maxUploadBytes: 1024 * 1024,
  ...DEFAULT_UPLOAD_TUNING,
};
const PHOTO = { name: "photo.png", size: 2048, type: "image/png" };
const NOW = Date.parse("2026-11-23T12:00:00Z");
const PASS_EXPIRES = new Date(NOW + 30 * 60_000).toISOString();

/**
 * A fake SAS endpoint that requires the check: a pass it issued, or a token the fake widget handed out
 * (each once), earns a token; anything else a 403 asking for the check.
 */
function guardedEndpoint(options: { refuseTokens?: boolean } = {}) {
  const sent: Array<Record<string, string>> = [];
  const usedTokens = new Set<string>();
  let solves = 0;
  const solve = async () => `widget-token-${++solves}`;
  const fetchImpl = (async (_input: string | URL | Request, init?: RequestInit) => {
    const headers = { ...(init?.headers as Record<string, string>) };
    sent.push(headers);
    const token = headers[TURNSTILE_TOKEN_HEADER];
    const body = {
      sasKey: `sig=${sent.length}`,
      url: "http://127.0.0.1:10000/devstoreaccount1",
      container: "images",
      expiresOn: new Date(NOW + 60 * 60_000).toISOString(),
      blobName: `${sent.length}.png`,
      blobUrl: `http://127.0.0.1:10000/devstoreaccount1/images/${sent.length}.png`,
    };
    if (headers[HUMAN_PASS_HEADER] === "the-pass") return Response.json(body);
    if (token && !usedTokens.has(token) && !options.refuseTokens) {
      usedTokens.add(token);
      return Response.json({ ...body, humanPass: "the-pass", humanPassExpiresOn: PASS_EXPIRES });
    }
    return Response.json(
      {
        error: "The human check was not passed: solve the check again.",
        humanCheck: token ? "failed" : "required",
      },
      { status: 403 },
    );
  }) as typeof fetch;
  return { sent, fetchImpl, solve, solves: () => solves };
}

function source(endpoint: ReturnType<typeof guardedEndpoint>, now = () => NOW): TokenSource {
  return new TokenSource(
    CONFIG,
    now,
    endpoint.fetchImpl,
    undefined,
    new HumanPassKeeper(endpoint.solve, now),
  );
}

describe("the page's human check", () => {
  test("a 403 asking for the check shows the widget once, sends its token, then sends the pass", async () => {
    const endpoint = guardedEndpoint();
    const tokens = source(endpoint);
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe("sig=2");
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe("sig=3");
    expect(endpoint.solves()).toBe(1);
    expect(endpoint.sent).toEqual([
      {},
      { [TURNSTILE_TOKEN_HEADER]: "widget-token-1" },
      { [HUMAN_PASS_HEADER]: "the-pass" },
    ]);
  });

  test("files asked for at once wait for the one check instead of each solving their own", async () => {
    const endpoint = guardedEndpoint();
    const tokens = source(endpoint);
    const targets = await Promise.all([1, 2, 3, 4].map(() => tokens.targetFor(PHOTO)));
    expect(new Set(targets.map((target) => target.sasKey)).size).toBe(4);
    expect(endpoint.solves()).toBe(1);
  });

  test("a pass about to expire is not sent: the check is solved again", async () => {
    const endpoint = guardedEndpoint();
    let now = NOW;
    const tokens = source(endpoint, () => now);
    await tokens.targetFor(PHOTO);
    now = NOW + 29.5 * 60_000;
    await tokens.targetFor(PHOTO);
    expect(endpoint.solves()).toBe(2);
    expect(endpoint.sent.at(-2)).toEqual({});
  });

  test("a check that keeps failing ends in a failure that quotes the endpoint, not in a loop", async () => {
    const endpoint = guardedEndpoint({ refuseTokens: true });
    await expect(source(endpoint).targetFor(PHOTO)).rejects.toMatchObject({
      kind: "server",
      message: "The human check did not succeed: The human check was not passed: solve the check again.",
    });
    expect(endpoint.solves()).toBe(3);
  });

  /** An endpoint answering each request with `answer(headers, n)`; n counts from 1. */
  function scripted(answer: (headers: Record<string, string>, n: number) => Response) {
    const sent: Array<Record<string, string>> = [];
    let solves = 0;
    const fetchImpl = (async (_input: string | URL | Request, init?: RequestInit) => {
      const headers = { ...(init?.headers as Record<string, string>) };
      sent.push(headers);
      return answer(headers, sent.length);
    }) as typeof fetch;
    const tokens = new TokenSource(
      CONFIG,
      () => NOW,
      fetchImpl,
      async () => {},
      new HumanPassKeeper(
        async () => `widget-token-${++solves}`,
        () => NOW,
      ),
    );
    return { sent, tokens, solves: () => solves };
  }
  const issued = (n: number, pass?: string) =>
    Response.json({
      sasKey: `sig=${n}`,
      url: "http://127.0.0.1:10000/devstoreaccount1",
      container: "images",
      expiresOn: new Date(NOW + 60 * 60_000).toISOString(),
      blobName: `${n}.png`,
      blobUrl: `http://127.0.0.1:10000/devstoreaccount1/images/${n}.png`,
      ...(pass && { humanPass: pass, humanPassExpiresOn: PASS_EXPIRES }),
    });
  const refused = (reason: string) =>
    Response.json({ error: `Refused: ${reason}.`, humanCheck: reason }, { status: 403 });

  test("a pass refused while several files are in flight brings one new challenge, not one per file", async () => {
    let passes = 0;
    const endpoint = scripted((headers, n) => {
      const pass = headers[HUMAN_PASS_HEADER];
      if (pass === `pass-${passes}` && passes > 1) return issued(n);
      if (headers[TURNSTILE_TOKEN_HEADER]) return issued(n, `pass-${++passes}`);
      return refused("required");
    });
    await endpoint.tokens.targetFor(PHOTO);
    // pass-1 is now refused (say the address changed): the four files share one new challenge.
    passes = 1;
    const targets = await Promise.all([1, 2, 3, 4].map(() => endpoint.tokens.targetFor(PHOTO)));
    expect(targets).toHaveLength(4);
    expect(endpoint.solves()).toBe(2);
  });

  test("a token the endpoint did not spend (429) is sent again after the wait instead of a new challenge", async () => {
    let limited = false;
    const endpoint = scripted((headers, n) => {
      const token = headers[TURNSTILE_TOKEN_HEADER];
      if (token && !limited) {
        limited = true;
        return Response.json({ error: "Slow down.", retryAfterSeconds: 1 }, { status: 429 });
      }
      return token ? issued(n, "the-pass") : refused("required");
    });
    await endpoint.tokens.targetFor(PHOTO);
    expect(endpoint.solves()).toBe(1);
    expect(endpoint.sent.map((headers) => headers[TURNSTILE_TOKEN_HEADER])).toEqual([
      undefined,
      "widget-token-1",
      "widget-token-1",
    ]);
  });

  test("while the check is unavailable, one file fails with the endpoint's words and the next fails at once", async () => {
    const endpoint = scripted((headers) =>
      headers[TURNSTILE_TOKEN_HEADER]
        ? Response.json(
            {
              error: "The human check cannot be verified right now; retry in a minute.",
              humanCheck: "unavailable",
            },
            { status: 503, headers: { "Retry-After": "60" } },
          )
        : refused("required"),
    );
    await expect(endpoint.tokens.targetFor(PHOTO)).rejects.toMatchObject({
      message:
        "The human check is unavailable: The human check cannot be verified right now; retry in a minute.",
    });
    const requests = endpoint.sent.length;
    await expect(endpoint.tokens.targetFor(PHOTO)).rejects.toMatchObject({ kind: "server" });
    expect(endpoint.sent).toHaveLength(requests);
    expect(endpoint.solves()).toBe(1);
  });

  test("without the check the page sends no extra header", async () => {
    const endpoint = guardedEndpoint();
    const tokens = new TokenSource(CONFIG, () => NOW, endpoint.fetchImpl);
    await expect(tokens.targetFor(PHOTO)).rejects.toMatchObject({ kind: "server" });
    expect(endpoint.sent).toEqual([{}]);
  });

  test("config.json may carry a site key and a script URL, and an empty one is refused", () => {
    expect(parsePageConfig({ ...CONFIG, turnstileSiteKey: "0x4AAA" }).turnstileSiteKey).toBe("0x4AAA");
    expect(() => parsePageConfig({ ...CONFIG, turnstileSiteKey: "" })).toThrow(
      /turnstileSiteKey and turnstileScriptUrl, when given, must be non-empty strings/,
    );
  });
});
