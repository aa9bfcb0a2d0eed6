// The bearer verifier against the issuer stand-in over loopback HTTP: the discovery document's checks, the
// owner claim, and what happens when the issuer cannot be reached.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type AuthSettings, DEFAULT_AUTH_ALGORITHMS } from "../../function/contract/appSettings";
import { AuthError, IssuerUnavailableError } from "../../function/identity/errors";
import { BearerVerifier } from "../../function/identity/verifier";
import { type IssuerStandIn, startIssuerStandIn } from "../../local/issuer";
import { freePort } from "../../local/ports";

let issuer: IssuerStandIn;
beforeAll(async () => {
  issuer = await startIssuerStandIn();
});
afterAll(async () => {
  await issuer?.stop();
});

const settings = (overrides: Partial<AuthSettings> = {}): AuthSettings => ({
  issuer: issuer.issuer,
  audiences: [issuer.audience],
  ownerClaim: "sub",
  algorithms: DEFAULT_AUTH_ALGORITHMS,
  ...overrides,
});

async function refusal(verifier: BearerVerifier, token: string): Promise<unknown> {
  return verifier.verify(`Bearer ${token}`).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("the bearer verifier", () => {
  test("a valid token names its owner by sub, or by the configured claim", async () => {
    expect(await new BearerVerifier(settings()).verify(`Bearer ${issuer.mint("alice")}`)).toEqual({
      owner: "alice",
    });
    const byOid = new BearerVerifier(settings({ ownerClaim: "oid" }));
    const token = issuer.mint("pairwise-sub", { claims: { oid: "9a3b1c2d-0000-4000-8000-123456789abc" } });
    expect(await byOid.verify(`Bearer ${token}`)).toEqual({ owner: "9a3b1c2d-0000-4000-8000-123456789abc" });
  });

  test("a token without a usable owner claim is refused", async () => {
    const error = await refusal(new BearerVerifier(settings({ ownerClaim: "oid" })), issuer.mint("alice"));
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).reason).toBe("owner");
    const spaced = await refusal(
      new BearerVerifier(settings()),
      issuer.mint("alice", { claims: { sub: "a b" } }),
    );
    expect((spaced as AuthError).reason).toBe("owner");
  });

  test("a token within the skew of its expiry still passes; one without exp is refused", async () => {
    const verifier = new BearerVerifier(settings());
    expect(await verifier.verify(`Bearer ${issuer.mint("alice", { expiresIn: -30 })}`)).toEqual({
      owner: "alice",
    });
    const error = await refusal(verifier, issuer.mint("alice", { claims: { exp: undefined } }));
    expect((error as AuthError).reason).toBe("claims");
  });

  test("a discovery document naming another issuer is refused as unavailable, not trusted", async () => {
    // The configured issuer differs from the one the document names by a trailing slash only.
    const verifier = new BearerVerifier(settings({ issuer: `${issuer.issuer}/` }));
    const error = await refusal(verifier, issuer.mint("alice", { issuer: `${issuer.issuer}/` }));
    expect(error).toBeInstanceOf(IssuerUnavailableError);
    expect((error as Error).message).toContain("names another issuer");
  });

  test("an issuer out of reach is a 503's error, asked again only after a pause", async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    let now = 1_000_000;
    const verifier = new BearerVerifier(settings({ issuer: nowhere }), () => now);
    expect(await refusal(verifier, issuer.mint("alice"))).toBeInstanceOf(IssuerUnavailableError);
    now += 1000;
    const again = await refusal(verifier, issuer.mint("alice"));
    expect((again as Error).message).toContain("failed moments ago");
  });
});
