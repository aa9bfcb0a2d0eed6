// Sign-in's pure parts: the owner's place in a blob name, the Authorization header, the challenge, and the
// settings (shared with infra/config.ts).
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parseAuthSettings, SETTING, SettingsError } from "../../function/contract/appSettings";
import { AuthError, bearerChallenge } from "../../function/identity/errors";
import {
  isUsableOwner,
  ownedBlobName,
  ownerLimitKey,
  ownerOfBlobName,
  ownerSegment,
} from "../../function/identity/owner";
import { bearerToken } from "../../function/identity/verifier";

describe("the owner in a blob name", () => {
  test("any usable owner is read back from the name issued for it", () => {
    const owner = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
      minLength: 1,
      maxLength: 256,
    });
    fc.assert(
      fc.property(owner, (value) => {
        expect(isUsableOwner(value)).toBe(true);
        const name = ownedBlobName(value, "0f8fad5b-d9cb-469f-a165-70867728950e.png");
        expect(name.split("/")).toHaveLength(2);
        expect(ownerOfBlobName(name)).toBe(value);
      }),
    );
  });

  test("an Entra object id stays as it is; an Auth0 subject is encoded under ~", () => {
    expect(ownerSegment("9a3b1c2d-0000-4000-8000-123456789abc")).toBe("9a3b1c2d-0000-4000-8000-123456789abc");
    expect(ownerSegment("auth0|abc")).toBe("~YXV0aDB8YWJj");
  });

  test("an anonymous name has no owner, and a name whose segment is not one valet writes has none either", () => {
    expect(ownerOfBlobName("0f8fad5b-d9cb-469f-a165-70867728950e.png")).toBeUndefined();
    expect(ownerOfBlobName("~!!/x.png")).toBeUndefined();
    // "alice" encoded: valet writes it plain, so the encoded form is nobody's.
    expect(ownerOfBlobName(`~${Buffer.from("alice").toString("base64url")}/x.png`)).toBeUndefined();
  });

  test("an owner with spaces, control characters or over 256 characters is not usable", () => {
    expect(isUsableOwner("a b")).toBe(false);
    expect(isUsableOwner("a\nb")).toBe(false);
    expect(isUsableOwner("x".repeat(257))).toBe(false);
  });

  test("the limits' key is a hash, apart from the address keys, and holds no character a table key refuses", () => {
    const key = ownerLimitKey("auth0|a/b?c#d");
    expect(key).toMatch(/^owner-[0-9a-f]{32}$/);
    expect(ownerLimitKey("alice")).not.toBe(ownerLimitKey("bob"));
  });
});

describe("the Authorization header", () => {
  test("missing or blank is invalid_request", () => {
    for (const value of [null, "", "  "]) {
      const error = (() => {
        try {
          bearerToken(value);
        } catch (caught) {
          return caught as AuthError;
        }
      })();
      expect(error?.code).toBe("invalid_request");
      expect(error?.reason).toBe("missing");
    }
  });

  test("another scheme, or two tokens, is invalid_request; the scheme's case does not matter", () => {
    expect(() => bearerToken("Basic abc")).toThrow(AuthError);
    expect(() => bearerToken("Bearer a b")).toThrow(AuthError);
    expect(bearerToken("bearer abc.def.ghi")).toBe("abc.def.ghi");
  });

  test("the challenge stays one valid header whatever the message holds", () => {
    const challenge = bearerChallenge(new AuthError("issuer", 'not from "x"\\ \u00e9'));
    expect(challenge).toBe(
      'Bearer realm="valet", error="invalid_token", error_description="not from ?x?? ?"',
    );
  });
});

describe("the sign-in settings", () => {
  const env = (values: Record<string, string>) => values;

  test("unset: anonymous", () => {
    expect(parseAuthSettings({})).toBeUndefined();
  });

  test("an issuer and an audience: on, with sub and RS256 by default", () => {
    expect(
      parseAuthSettings(
        env({ [SETTING.authIssuer]: "https://idp.example/", [SETTING.authAudience]: "api://a, b" }),
      ),
    ).toEqual({
      issuer: "https://idp.example/",
      audiences: ["api://a", "b"],
      ownerClaim: "sub",
      algorithms: ["RS256"],
    });
  });

  test.each([
    [
      { [SETTING.authIssuer]: "http://idp.example", [SETTING.authAudience]: "a" },
      SETTING.authIssuer,
      /https URL/,
    ],
    [
      { [SETTING.authIssuer]: "https://idp.example?x=1", [SETTING.authAudience]: "a" },
      SETTING.authIssuer,
      /no user name, query/,
    ],
    [{ [SETTING.authIssuer]: "https://idp.example" }, SETTING.authAudience, /is not set/],
    [{ [SETTING.authAudience]: "a" }, SETTING.authAudience, /without AUTH_ISSUER/],
    [
      {
        [SETTING.authIssuer]: "https://idp.example",
        [SETTING.authAudience]: "a",
        [SETTING.authAlgorithms]: "RS256,HS256",
      },
      SETTING.authAlgorithms,
      /HMAC ones/,
    ],
    [
      {
        [SETTING.authIssuer]: "https://idp.example",
        [SETTING.authAudience]: "a",
        [SETTING.authOwnerClaim]: "a b",
      },
      SETTING.authOwnerClaim,
      /one claim/,
    ],
  ])("%j is refused, naming %s", (values, setting, message) => {
    try {
      parseAuthSettings(values);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      expect((error as SettingsError).setting).toBe(setting);
      expect((error as SettingsError).message).toMatch(message);
    }
  });

  test("an http issuer on loopback is accepted for a stand-in, unless loopback is refused too", () => {
    const values = { [SETTING.authIssuer]: "http://127.0.0.1:7072", [SETTING.authAudience]: "a" };
    expect(parseAuthSettings(values)?.issuer).toBe("http://127.0.0.1:7072");
    expect(() => parseAuthSettings(values, undefined, { allowLoopbackHttp: false })).toThrow(/https URL/);
  });
});
