// The page's side of the human check: one solved challenge, then the pass, for as many files as follow.
import { describe, expect, test } from "vitest";
import { HUMAN_PASS_HEADER, TURNSTILE_TOKEN_HEADER } from "../../function/humanCheckProtocol";
import { DEFAULT_UPLOAD_TUNING, type PageConfig, parsePageConfig } from "../../web/config";
import { HumanCheck } from "../../web/humanCheck";
import { TokenSource } from "../../web/tokens";

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
  return new TokenSource(CONFIG, now, endpoint.fetchImpl, undefined, new HumanCheck(endpoint.solve, now));
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
