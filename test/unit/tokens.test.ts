// The pure token core (function/issuing/tokens.ts): what a signed token scopes, permits and expires at, field by field.
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { issueContainerToken, issueUploadToken } from "../../function/issuing/tokens";
import { parseSettings } from "../../function/platform/settings";
import { generationPolicies, policyId, TOKEN_POLICIES } from "../../function/signing/accessPolicies";
import { signerFor } from "../../function/signing/signing";
import { connectionStrings, TEST_ACCOUNT } from "../support/accounts";

const azure = parseSettings({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
const emulator = parseSettings({ [SETTING.connectionString]: connectionStrings.developmentStorage });

function fields(sasKey: string): URLSearchParams {
  return new URLSearchParams(sasKey);
}

describe("a container token", () => {
  test("is scoped to the container with create permission only, through its generation's policy", async () => {
    const token = fields((await issueContainerToken(azure, signerFor(azure), new Date())).sasKey);
    expect(token.get("sr")).toBe("c");
    expect(token.get("si")).toBe("valet-g1-c");
    expect(generationPolicies(1).find((policy) => policy.id === token.get("si"))?.accessPolicy).toEqual({
      permissions: "c",
    });
    expect(token.get("sv")).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(token.get("sig")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  test("expires two hours after issue by default and has no start time", async () => {
    const before = Date.now();
    const body = await issueContainerToken(azure, signerFor(azure), new Date());
    const expiry = Date.parse(fields(body.sasKey).get("se") ?? "");
    const twoHours = 2 * 60 * 60 * 1000;
    expect(Math.abs(expiry - (before + twoHours))).toBeLessThan(60_000);
    expect(fields(body.sasKey).has("st")).toBe(false);
    expect(Date.parse(body.expiresOn)).toBe(expiry);
  });

  test("follows the configured lifetime", async () => {
    const now = new Date("2030-05-01T10:00:00.750Z");
    const settings = { ...azure, tokenLifetimeMinutes: 15 };
    const body = await issueContainerToken(settings, signerFor(settings), now);
    expect(fields(body.sasKey).get("se")).toBe("2030-05-01T10:15:00Z");
    expect(body.expiresOn).toBe("2030-05-01T10:15:00.000Z");
  });

  test("is HTTPS-only for an https endpoint and allows http only for an http endpoint", async () => {
    expect(fields((await issueContainerToken(azure, signerFor(azure), new Date())).sasKey).get("spr")).toBe(
      "https",
    );
    expect(
      fields((await issueContainerToken(emulator, signerFor(emulator), new Date())).sasKey).get("spr"),
    ).toBe("https,http");
  });

  test("comes with the blob service URL and container in the documented shape", async () => {
    const body = await issueContainerToken(azure, signerFor(azure), new Date());
    expect(Object.keys(body).sort()).toEqual(["container", "expiresOn", "sasKey", "url"]);
    expect(body.url).toBe(`https://${TEST_ACCOUNT}.blob.core.windows.net`);
    expect(body.container).toBe("images");
    expect(body.sasKey.startsWith("?")).toBe(false);
  });

  test("is signed differently for a different expiry", async () => {
    const a = fields(
      (await issueContainerToken(azure, signerFor(azure), new Date("2030-01-01T00:00:00Z"))).sasKey,
    ).get("sig");
    const b = fields(
      (await issueContainerToken(azure, signerFor(azure), new Date("2030-01-01T00:00:01Z"))).sasKey,
    ).get("sig");
    expect(a).not.toBe(b);
  });
});

describe("a token and its stored access policy", () => {
  const settings = parseSettings({
    [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
    [SETTING.tokenGeneration]: "7",
  });
  const tokens = Promise.all([
    issueContainerToken(settings, signerFor(settings), new Date()),
    issueUploadToken(settings, signerFor(settings), new Date(), { extension: "png" }),
  ]).then(([container, upload]) => ({ container, upload }));
  /** Where a policy's fields go in a token: Azure refuses a token that repeats a field its policy has. */
  const TOKEN_FIELD = { permissions: "sp", startsOn: "st", expiresOn: "se" } as const;

  test.each(Object.keys(TOKEN_POLICIES) as (keyof typeof TOKEN_POLICIES)[])(
    "a %s token names its generation's policy and carries none of the fields that policy has",
    async (kind) => {
      const token = fields((await tokens)[kind].sasKey);
      const policy = generationPolicies(7).find((candidate) => candidate.id === token.get("si"));
      expect(policy?.id).toBe(policyId(7, kind));
      const policyFields = Object.keys(policy?.accessPolicy ?? {}) as (keyof typeof TOKEN_FIELD)[];
      expect(policyFields).toEqual(["permissions"]);
      for (const field of policyFields) expect(token.has(TOKEN_FIELD[field])).toBe(false);
      // Between them, the token and the policy hold what Azure requires: a permission and an expiry.
      expect(token.has("se")).toBe(true);
    },
  );

  test("the upload policy permits write only and the container policy create only", async () => {
    expect(Object.fromEntries(generationPolicies(1).map((p) => [p.id, p.accessPolicy.permissions]))).toEqual({
      "valet-g1-c": "c",
      "valet-g1-w": "w",
    });
  });

  // Azurite takes the expiry from the policy and ignores the token's (test/integration/revocation.test.ts),
  // so a token's own expiry is checked here: the policy has none, so Azure applies this one.
  test("a per-upload token expires after its own lifetime, which its signature covers", async () => {
    const now = new Date("2030-05-01T10:00:00.250Z");
    const body = await issueUploadToken(
      { ...settings, policy: { ...settings.policy, uploadTokenLifetimeMinutes: 5 } },
      signerFor(settings),
      now,
      {
        extension: "png",
      },
    );
    expect(fields(body.sasKey).get("se")).toBe("2030-05-01T10:05:00Z");
    expect(body.expiresOn).toBe("2030-05-01T10:05:00.000Z");
    const later = await issueUploadToken(settings, signerFor(settings), new Date("2030-05-01T10:00:01Z"), {
      extension: "png",
    });
    expect(fields(later.sasKey).get("sig")).not.toBe(fields(body.sasKey).get("sig"));
  });

  test("an expired token is one whose own expiry has passed: issued earlier than its lifetime ago", async () => {
    const issuedAt = new Date(Date.now() - 20 * 60_000);
    for (const body of [
      await issueUploadToken(settings, signerFor(settings), issuedAt, { extension: "png" }),
      await issueContainerToken({ ...settings, tokenLifetimeMinutes: 15 }, signerFor(settings), issuedAt),
    ]) {
      expect(Date.parse(fields(body.sasKey).get("se") ?? "")).toBeLessThan(Date.now());
    }
  });
});
