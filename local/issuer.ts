// A stand-in for an OpenID Connect issuer (Entra ID, Auth0, Keycloak…) on loopback: its discovery document,
// its key set (JWKS), and a way to mint an access token for a named user, so that sign-in can be tried and
// tested without an account anywhere. RS256 with keys made at start; never for anything but this machine.
import { createHmac, createSign, generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The audience the local stack's function expects unless told otherwise. */
export const LOCAL_AUDIENCE = "api://valet-local";

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface MintOptions {
  readonly audience?: string;
  readonly issuer?: string;
  /** Seconds from now; negative for a token already expired. Default 3600. */
  readonly expiresIn?: number;
  /** Seconds from now the token becomes valid (nbf); absent: no nbf. */
  readonly notBefore?: number;
  /** `unpublished`: signed with a key the issuer does not publish (a kid it never heard of). */
  readonly key?: "current" | "unpublished";
  /** Extra claims, or claims to override. */
  readonly claims?: Record<string, unknown>;
}

export interface IssuerStandIn {
  /** The issuer's URL: what AUTH_ISSUER is set to, and every token's `iss`. */
  readonly issuer: string;
  readonly audience: string;
  /** `<issuer>/token?user=<name>` answers a token for that user (for a person trying the page). */
  readonly tokenUrl: string;
  /** An access token for `user` (its `sub`), signed with the current key. */
  mint(user: string, options?: MintOptions): string;
  /** A token with any header and payload, signed with the current key's private key as `alg` says. */
  signRaw(header: Record<string, unknown>, payload: Record<string, unknown>): string;
  /** The current public key as PEM: what an HS256 forgery would use as its secret. */
  publicKeyPem(): string;
  /** A new key is published and signs from now on; the old one stays published (as issuers roll keys). */
  rotate(): void;
  /** Requests for the key set so far. */
  keySetFetches(): number;
  stop(): Promise<void>;
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid: randomUUID(), privateKey, publicKey };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A compact JWS: RS256 with `key`, HS256 with `secret`, or `none` with no signature. */
export function compactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: { key?: KeyObject; secret?: string | Buffer },
): string {
  const input = `${base64url(header)}.${base64url(payload)}`;
  if (header.alg === "none") return `${input}.`;
  if (header.alg === "HS256") {
    return `${input}.${createHmac("sha256", signer.secret ?? "")
      .update(input)
      .digest("base64url")}`;
  }
  if (!signer.key) throw new Error("an RS256 token needs a private key");
  return `${input}.${createSign("RSA-SHA256").update(input).sign(signer.key).toString("base64url")}`;
}

export async function startIssuerStandIn(
  options: { port?: number; host?: string; audience?: string } = {},
): Promise<IssuerStandIn> {
  const host = options.host ?? "127.0.0.1";
  const audience = options.audience ?? LOCAL_AUDIENCE;
  const published: SigningKey[] = [newKey()];
  const unpublished = newKey();
  let fetches = 0;
  let issuer = "";
  const current = () => published.at(-1) as SigningKey;

  const mint = (user: string, mintOptions: MintOptions = {}): string => {
    const now = Math.floor(Date.now() / 1000);
    const key = mintOptions.key === "unpublished" ? unpublished : current();
    return compactJws(
      { alg: "RS256", typ: "JWT", kid: key.kid },
      {
        iss: mintOptions.issuer ?? issuer,
        aud: mintOptions.audience ?? audience,
        sub: user,
        iat: now,
        exp: now + (mintOptions.expiresIn ?? 3600),
        ...(mintOptions.notBefore !== undefined && { nbf: now + mintOptions.notBefore }),
        ...mintOptions.claims,
      },
      { key: key.privateKey },
    );
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer || "http://127.0.0.1");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        // The local page fetches its token from here.
        "Access-Control-Allow-Origin": "*",
      });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET") return json(405, { error: "use GET" });
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        id_token_signing_alg_values_supported: ["RS256"],
      });
    }
    if (url.pathname === "/jwks") {
      fetches++;
      return json(200, {
        keys: published.map((key) => ({
          ...key.publicKey.export({ format: "jwk" }),
          kid: key.kid,
          use: "sig",
          alg: "RS256",
        })),
      });
    }
    if (url.pathname === "/token") {
      const user = url.searchParams.get("user") ?? "";
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(user)) {
        return json(400, { error: "name the user: /token?user=<letters, digits, . _ @ ->" });
      }
      return json(200, { access_token: mint(user), token_type: "Bearer", expires_in: 3600 });
    }
    return json(404, { error: "not found" });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  issuer = `http://${host}:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    audience,
    tokenUrl: `${issuer}/token`,
    mint,
    signRaw: (header, payload) => compactJws(header, payload, { key: current().privateKey }),
    publicKeyPem: () => current().publicKey.export({ format: "pem", type: "spki" }).toString(),
    rotate: () => {
      published.push(newKey());
    },
    keySetFetches: () => fetches,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
