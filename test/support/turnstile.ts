// A stand-in for Cloudflare Turnstile's siteverify API, for tests: it speaks the documented wire format
// (POST JSON or form fields `secret`, `response`, `remoteip`; JSON answer `success`, `error-codes`,
// `challenge_ts`, `hostname`, `action`, `cdata`) over loopback, so nothing calls out to Cloudflare.
// https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
// It knows only the tokens it mints (`mint`, or the widget stand-in's `/stand-in/solve`), each single-use and
// valid 300 s like Cloudflare's; it does no challenge, risk scoring, analytics or rate limiting.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { closeServer } from "../../local/lifecycle";

/** Cloudflare's token lifetime. */
const TOKEN_LIFETIME_MS = 300_000;

export interface SiteverifyRequest {
  readonly secret?: string;
  readonly response?: string;
  readonly remoteip?: string;
}

export interface SiteverifyStandIn {
  /** The siteverify URL to put in TURNSTILE_SITEVERIFY_URL. */
  readonly url: string;
  /** The secret key it accepts. */
  readonly secretKey: string;
  /** Where the widget stand-in gets a token: minted for the hostname of the page asking (its Origin). */
  readonly solveUrl: string;
  /** A token as if a visitor solved the widget on `hostname` at `solvedAt` (default now). */
  mint(hostname: string, solvedAt?: Date): string;
  /** Every request received, in order (for what the function really sends). */
  readonly requests: SiteverifyRequest[];
  stop(): Promise<void>;
}

export async function startSiteverifyStandIn(secretKey = "stand-in-secret-key"): Promise<SiteverifyStandIn> {
  const tokens = new Map<string, { hostname: string; solvedAt: Date; used: boolean }>();
  const requests: SiteverifyRequest[] = [];
  const mint = (hostname: string, solvedAt = new Date()) => {
    const token = `stand-in.${randomUUID()}`;
    tokens.set(token, { hostname, solvedAt, used: false });
    return token;
  };
  const server: Server = createServer((req, res) => {
    if (req.url === "/stand-in/solve") {
      // Cloudflare binds a token to the hostname the widget ran on; here, the page's Origin.
      const origin = req.headers.origin;
      const cors = { "Access-Control-Allow-Origin": origin ?? "*", "Content-Type": "application/json" };
      res.writeHead(200, cors);
      res.end(
        req.method === "POST" && origin ? JSON.stringify({ token: mint(new URL(origin).hostname) }) : "{}",
      );
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let fields: SiteverifyRequest = {};
      try {
        fields = /json/.test(req.headers["content-type"] ?? "")
          ? (JSON.parse(text) as SiteverifyRequest)
          : (Object.fromEntries(new URLSearchParams(text)) as SiteverifyRequest);
      } catch {
        fields = {};
      }
      requests.push(fields);
      const answer = (body: object) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const fail = (code: string) => answer({ success: false, "error-codes": [code], messages: [] });
      if (req.method !== "POST") return fail("bad-request");
      if (!fields.secret) return fail("missing-input-secret");
      if (fields.secret !== secretKey) return fail("invalid-input-secret");
      if (!fields.response) return fail("missing-input-response");
      const token = tokens.get(fields.response);
      if (!token) return fail("invalid-input-response");
      if (token.used || Date.now() - token.solvedAt.getTime() > TOKEN_LIFETIME_MS) {
        return fail("timeout-or-duplicate");
      }
      token.used = true;
      answer({
        success: true,
        "error-codes": [],
        challenge_ts: token.solvedAt.toISOString(),
        hostname: token.hostname,
        action: "",
        cdata: "",
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/turnstile/v0/siteverify`,
    secretKey,
    solveUrl: `http://127.0.0.1:${port}/stand-in/solve`,
    requests,
    mint,
    stop: () => closeServer(server),
  };
}

/**
 * A stand-in for Turnstile's widget script (`api.js?render=explicit`), for the page in tests: it offers the
 * part of the client API the page uses (`turnstile.render(container, { sitekey, callback })` returning a
 * widget id, and `turnstile.remove(id)`) and "solves" at once by asking the siteverify stand-in for a token.
 * It shows no challenge and does no checks; `window.standInRenders` counts the widgets rendered.
 * https://developers.cloudflare.com/turnstile/get-started/client-side-rendering/
 */
export function widgetStandInScript(solveUrl: string): string {
  return `"use strict";
window.standInRenders = 0;
window.turnstile = {
  render(container, options) {
    const id = "stand-in-" + ++window.standInRenders;
    const widget = document.createElement("p");
    widget.id = id;
    widget.textContent = "Turnstile stand-in for " + options.sitekey;
    container.append(widget);
    fetch(${JSON.stringify(solveUrl)}, { method: "POST" })
      .then((response) => response.json())
      .then((body) => options.callback(body.token), (error) => options["error-callback"]?.("stand-in"));
    return id;
  },
  remove(id) {
    document.getElementById(id)?.remove();
  },
};
`;
}
