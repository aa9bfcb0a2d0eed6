// The pure token core (function/tokens.ts): what a signed token scopes, permits and expires at, field by field.
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/appSettings";
import { parseSettings } from "../../function/settings";
import { issueContainerToken } from "../../function/tokens";
import { connectionStrings, TEST_ACCOUNT } from "../support/accounts";

const azure = parseSettings({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix });
const emulator = parseSettings({ [SETTING.connectionString]: connectionStrings.developmentStorage });

function fields(sasKey: string): URLSearchParams {
  return new URLSearchParams(sasKey);
}

describe("a container token", () => {
  test("is scoped to the container with create permission only", () => {
    const token = fields(issueContainerToken(azure, new Date()).sasKey);
    expect(token.get("sr")).toBe("c");
    expect(token.get("sp")).toBe("c");
    expect(token.get("sv")).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(token.get("sig")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  test("expires two hours after issue by default and has no start time", () => {
    const before = Date.now();
    const body = issueContainerToken(azure, new Date());
    const expiry = Date.parse(fields(body.sasKey).get("se") ?? "");
    const twoHours = 2 * 60 * 60 * 1000;
    expect(Math.abs(expiry - (before + twoHours))).toBeLessThan(60_000);
    expect(fields(body.sasKey).has("st")).toBe(false);
    expect(Date.parse(body.expiresOn)).toBe(expiry);
  });

  test("follows the configured lifetime", () => {
    const now = new Date("2030-05-01T10:00:00.750Z");
    const settings = { ...azure, tokenLifetimeMinutes: 15 };
    const body = issueContainerToken(settings, now);
    expect(fields(body.sasKey).get("se")).toBe("2030-05-01T10:15:00Z");
    expect(body.expiresOn).toBe("2030-05-01T10:15:00.000Z");
  });

  test("is HTTPS-only for an https endpoint and allows http only for an http endpoint", () => {
    expect(fields(issueContainerToken(azure, new Date()).sasKey).get("spr")).toBe("https");
    expect(fields(issueContainerToken(emulator, new Date()).sasKey).get("spr")).toBe("https,http");
  });

  test("comes with the blob service URL and container in the documented shape", () => {
    const body = issueContainerToken(azure, new Date());
    expect(Object.keys(body).sort()).toEqual(["container", "expiresOn", "sasKey", "url"]);
    expect(body.url).toBe(`https://${TEST_ACCOUNT}.blob.core.windows.net`);
    expect(body.container).toBe("images");
    expect(body.sasKey.startsWith("?")).toBe(false);
  });

  test("is signed differently for a different expiry", () => {
    const a = fields(issueContainerToken(azure, new Date("2030-01-01T00:00:00Z")).sasKey).get("sig");
    const b = fields(issueContainerToken(azure, new Date("2030-01-01T00:00:01Z")).sasKey).get("sig");
    expect(a).not.toBe(b);
  });
});
