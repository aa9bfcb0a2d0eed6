// Verifies an OpenID Connect bearer token with `jose`: the issuer's discovery document is read once per
// instance, its key set (JWKS) is kept and fetched again only for a key id it does not hold (at most once per
// cooldown), and a token passes only with a good signature by an allowed algorithm, this issuer, this API as
// audience, and a current exp/nbf (within a small skew).
import type { AuthSettings } from "../contract/appSettings";
import { AuthError, IssuerUnavailableError } from "./errors";
import { isUsableOwner } from "./owner";

type Jose = typeof import("jose", { with: { "resolution-mode": "import" }});
type KeySet = ReturnType<Jose["createRemoteJWKSet"]>;

/** `jose` is an ES module: loaded once, on the first token (the bundle inlines it). */
let joseModule: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => {
  joseModule ??= import("jose");
  return joseModule;
};

/**
 * How the keys are fetched and kept. The cooldown bounds how often a token with an unknown `kid` can make the
 * instance fetch the key set again (a flood of made-up key ids costs one fetch per cooldown); the cache age
 * makes a removed key stop working within ten minutes. Read when a verifier is made (tests shorten them).
 * https://github.com/panva/jose/blob/main/docs/jwks/remote/interfaces/RemoteJWKSetOptions.md
 */
export const KEY_SET_BOUNDS = { cooldownMs: 30_000, cacheMaxAgeMs: 10 * 60_000, timeoutMs: 5_000 };
/** Clock skew allowed on exp and nbf: the issuer's clock and this one's may disagree a little. */
export const CLOCK_SKEW_SECONDS = 60;
/** A header longer than this is no access token (Entra's are 1 to 3 KB): refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** After the discovery document failed, requests fail at once for this long instead of asking again. */
const DISCOVERY_RETRY_MS = 10_000;

export interface VerifiedCaller {
  /** The owner claim's value (sub by default). */
  readonly owner: string;
}

export class BearerVerifier {
  private keys: { set: KeySet } | undefined;
  private discovering: Promise<KeySet> | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: AuthSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** The caller's owner from the Authorization header's value, or an AuthError naming what is wrong. */
  async verify(authorization: string | null): Promise<VerifiedCaller> {
    const token = bearerToken(authorization);
    const jose = await loadJose();
    const keys = await this.keySet();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: this.settings.issuer,
        audience: [...this.settings.audiences],
        algorithms: [...this.settings.algorithms],
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ["exp"],
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw this.refusal(error);
    }
    const owner = payload[this.settings.ownerClaim];
    if (typeof owner !== "string" || !isUsableOwner(owner)) {
      throw new AuthError(
        "owner",
        `The token has no usable ${this.settings.ownerClaim} claim (1 to 256 printable characters): it names nobody to own the upload.`,
      );
    }
    return { owner };
  }

  /** jose's error as a refusal; anything that is not about the token (the issuer unreachable) as a 503. */
  private refusal(error: unknown): Error {
    const code = (error as { code?: unknown } | undefined)?.code;
    const claim = (error as { claim?: unknown } | undefined)?.claim;
    const { issuer, audiences, algorithms } = this.settings;
    switch (code) {
      case "ERR_JWT_EXPIRED":
        return new AuthError("expired", "The token has expired: get a new one from the issuer.");
      case "ERR_JWT_CLAIM_VALIDATION_FAILED":
        if (claim === "iss") return new AuthError("issuer", `The token is not from the issuer ${issuer}.`);
        if (claim === "aud") {
          return new AuthError(
            "audience",
            `The token is not for this API: its audience must be ${audiences.join(" or ")}.`,
          );
        }
        if (claim === "nbf" || claim === "iat") {
          return new AuthError("notYetValid", "The token is not valid yet: its nbf is in the future.");
        }
        return new AuthError(
          "claims",
          `The token's ${typeof claim === "string" ? claim : "claims"} claim is missing or wrong.`,
        );
      case "ERR_JOSE_ALG_NOT_ALLOWED":
      case "ERR_JOSE_NOT_SUPPORTED":
        return new AuthError(
          "algorithm",
          `The token's signature algorithm is not allowed: use ${algorithms.join(" or ")}.`,
        );
      case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
        return new AuthError("signature", "The token's signature does not verify with the issuer's keys.");
      case "ERR_JWKS_NO_MATCHING_KEY":
      case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
        return new AuthError(
          "unknownKey",
          "The token is signed with a key (kid) the issuer does not publish.",
        );
      case "ERR_JWS_INVALID":
      case "ERR_JWT_INVALID":
        return new AuthError("notJwt", "The bearer token is not a signed JWT (header.payload.signature).");
      default:
        return new IssuerUnavailableError(
          `the issuer's keys could not be fetched (${code ?? (error instanceof Error ? error.name : typeof error)})`,
        );
    }
  }

  /** The issuer's key set: its jwks_uri read once from the discovery document, concurrent callers share it. */
  private async keySet(): Promise<KeySet> {
    if (this.keys) return this.keys.set;
    if (this.now() - this.failedAt < DISCOVERY_RETRY_MS) {
      throw new IssuerUnavailableError("the issuer's discovery document failed moments ago");
    }
    this.discovering ??= this.discover().then(
      (set) => {
        this.keys = { set };
        return set;
      },
      (error: unknown) => {
        this.failedAt = this.now();
        this.discovering = undefined;
        throw error;
      },
    );
    return this.discovering;
  }

  /**
   * `<issuer>/.well-known/openid-configuration`; its `issuer` must be the configured one exactly, and its
   * jwks_uri as secure as the issuer (https; http only for an issuer on loopback).
   * https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
   */
  private async discover(): Promise<KeySet> {
    const jose = await loadJose();
    const issuer = this.settings.issuer;
    const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(KEY_SET_BOUNDS.timeoutMs),
        headers: { Accept: "application/json" },
        redirect: "error",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = (await response.json()) as typeof document;
    } catch (error) {
      throw new IssuerUnavailableError(
        `the issuer's discovery document could not be read (${error instanceof Error ? error.message : typeof error})`,
      );
    }
    if (document.issuer !== issuer) {
      throw new IssuerUnavailableError(
        "the discovery document names another issuer than AUTH_ISSUER (Entra ID: use the v2.0 issuer, see docs/sign-in.md)",
      );
    }
    const jwksUri =
      typeof document.jwks_uri === "string" && URL.canParse(document.jwks_uri)
        ? new URL(document.jwks_uri)
        : undefined;
    const secure =
      jwksUri?.protocol === "https:" ||
      (jwksUri?.protocol === "http:" && new URL(issuer).protocol === "http:");
    if (!jwksUri || !secure) {
      throw new IssuerUnavailableError("the discovery document has no https jwks_uri");
    }
    return jose.createRemoteJWKSet(jwksUri, {
      cooldownDuration: KEY_SET_BOUNDS.cooldownMs,
      cacheMaxAge: KEY_SET_BOUNDS.cacheMaxAgeMs,
      timeoutDuration: KEY_SET_BOUNDS.timeoutMs,
    });
  }
}

/**
 * The token of `Authorization: Bearer <token>` (the scheme's case does not matter), or an AuthError: missing
 * or not the Bearer scheme is `invalid_request`.
 * https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export function bearerToken(authorization: string | null): string {
  if (authorization === null || authorization.trim() === "") {
    throw new AuthError("missing", "Sign-in is required: send Authorization: Bearer <access token>.");
  }
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match?.[1] || match[1].length > MAX_TOKEN_LENGTH) {
    throw new AuthError(
      "malformed",
      "The Authorization header must be Bearer followed by one access token (a JWT).",
    );
  }
  return match[1];
}
