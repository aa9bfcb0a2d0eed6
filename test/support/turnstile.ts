// A stand-in for Cloudflare Turnstile's siteverify API, for tests: it speaks the documented wire format
// (POST JSON or form fields `secret`, `response`, `remoteip`; JSON answer `success`, `error-codes`,
// `challenge_ts`, `hostname`, `action`, `cdata`) over loopback, so nothing calls out to Cloudflare.
// https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
// It knows only the tokens a test mints with `mint`, each single-use and valid 300 s like Cloudflare's; it
// does no challenge, risk scoring, analytics or rate limiting.
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
  /** A token as if a visitor solved the widget on `hostname` at `solvedAt` (default now). */
  mint(hostname: string, solvedAt?: Date): string;
  /** Every request received, in order (for what the function really sends). */
  readonly requests: SiteverifyRequest[];
  stop(): Promise<void>;
}

export async function startSiteverifyStandIn(secretKey = "stand-in-secret-key"): Promise<SiteverifyStandIn> {
  const tokens = new Map<string, { hostname: string; solvedAt: Date; used: boolean }>();
  const requests: SiteverifyRequest[] = [];
  const server: Server = createServer((req, res) => {
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
    requests,
    mint(hostname, solvedAt = new Date()) {
      const token = `stand-in.${randomUUID()}`;
      tokens.set(token, { hostname, solvedAt, used: false });
      return token;
    },
    stop: () => closeServer(server),
  };
}
