// The human check's settings, and the pass: signed for one address, until its expiry, refused when altered.

import { StorageSharedKeyCredential } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import {
  checkTurnstileKeysPaired,
  DEFAULT_SITEVERIFY_URL,
  parseHumanCheckSettings,
} from "../../function/contract/humanCheckSettings";
import { humanPassKey, signHumanPass, siteverify, verifyHumanPass } from "../../function/issuing/humanCheck";
import { TEST_ACCOUNT, TEST_KEY } from "../support/accounts";

const key = humanPassKey(new StorageSharedKeyCredential(TEST_ACCOUNT, TEST_KEY));
const CLIENT = "ipv4-198.51.100.7";
const NOW = new Date("2026-05-01T12:00:00Z");
const IN_30_MINUTES = new Date(NOW.getTime() + 30 * 60_000);

function settingError(env: Record<string, string>): SettingsError {
  try {
    parseHumanCheckSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error("expected a SettingsError");
}

describe("the human check's settings", () => {
  test("the check is off without TURNSTILE_SECRET_KEY, and a blank one counts as unset", () => {
    expect(parseHumanCheckSettings({})).toBeUndefined();
    expect(parseHumanCheckSettings({ [SETTING.turnstileSecretKey]: "  " })).toBeUndefined();
  });

  test("with the secret key set, siteverify defaults to Cloudflare's URL", () => {
    expect(parseHumanCheckSettings({ [SETTING.turnstileSecretKey]: "0x4AAAsecret" })).toEqual({
      secretKey: "0x4AAAsecret",
      siteverifyUrl: DEFAULT_SITEVERIFY_URL,
    });
  });

  test("a secret key with a space is refused without quoting it", () => {
    const error = settingError({ [SETTING.turnstileSecretKey]: "hunter two" });
    expect(error.setting).toBe("TURNSTILE_SECRET_KEY");
    expect(error.message).toMatch(/^TURNSTILE_SECRET_KEY must be a Turnstile secret key/);
    expect(error.message).not.toContain("hunter");
    expect(error.detail).not.toContain("hunter");
  });

  test.each([
    "http://siteverify.example.com/turnstile/v0/siteverify",
    "ftp://127.0.0.1/x",
    "https://user:pw@example.com/",
    "not a url",
  ])("TURNSTILE_SITEVERIFY_URL %s is refused: https, or http on loopback only", (url) => {
    const error = settingError({ [SETTING.turnstileSecretKey]: "s", [SETTING.turnstileSiteverifyUrl]: url });
    expect(error.message).toMatch(/^TURNSTILE_SITEVERIFY_URL must be an https URL/);
  });

  test("a stand-in on loopback is accepted as the siteverify URL", () => {
    const url = "http://127.0.0.1:9999/turnstile/v0/siteverify";
    const settings = parseHumanCheckSettings({
      [SETTING.turnstileSecretKey]: "s",
      [SETTING.turnstileSiteverifyUrl]: url,
    });
    expect(settings?.siteverifyUrl).toBe(url);
  });

  test("a site key without a secret key, or the reverse, is refused naming the missing one", () => {
    const names = { siteKey: "valet:turnstileSiteKey", secretKey: "valet:turnstileSecretKey" };
    expect(() => checkTurnstileKeysPaired(names, { siteKey: true, secretKey: false })).toThrow(
      /^valet:turnstileSiteKey is set but valet:turnstileSecretKey is not/,
    );
    expect(() => checkTurnstileKeysPaired(names, { siteKey: false, secretKey: true })).toThrow(
      /^valet:turnstileSecretKey is set but valet:turnstileSiteKey is not/,
    );
    expect(() => checkTurnstileKeysPaired(names, { siteKey: true, secretKey: true })).not.toThrow();
    expect(() => checkTurnstileKeysPaired(names, { siteKey: false, secretKey: false })).not.toThrow();
  });
});

describe("the human pass", () => {
  test("a pass is valid for its address until its expiry, and expired from then on", () => {
    const pass = signHumanPass(key, CLIENT, IN_30_MINUTES);
    expect(verifyHumanPass(key, CLIENT, pass, NOW)).toBe("valid");
    expect(verifyHumanPass(key, CLIENT, pass, new Date(IN_30_MINUTES.getTime() - 1000))).toBe("valid");
    expect(verifyHumanPass(key, CLIENT, pass, IN_30_MINUTES)).toBe("expired");
  });

  test("a pass signed for one address is not valid for another", () => {
    const pass = signHumanPass(key, CLIENT, IN_30_MINUTES);
    expect(verifyHumanPass(key, "ipv4-198.51.100.8", pass, NOW)).toBe("invalid");
  });

  test("a pass whose expiry or signature was changed is invalid", () => {
    const pass = signHumanPass(key, CLIENT, IN_30_MINUTES);
    const [expiry = "", signature = ""] = pass.split(".");
    expect(verifyHumanPass(key, CLIENT, `${Number(expiry) + 3600}.${signature}`, NOW)).toBe("invalid");
    const flipped = `${signature[0] === "A" ? "B" : "A"}${signature.slice(1)}`;
    expect(verifyHumanPass(key, CLIENT, `${expiry}.${flipped}`, NOW)).toBe("invalid");
    expect(verifyHumanPass(key, CLIENT, "garbage", NOW)).toBe("invalid");
  });

  test("a pass signed with another account key is invalid", () => {
    const otherKey = humanPassKey(
      new StorageSharedKeyCredential(TEST_ACCOUNT, Buffer.alloc(64, 0x33).toString("base64")),
    );
    expect(verifyHumanPass(key, CLIENT, signHumanPass(otherKey, CLIENT, IN_30_MINUTES), NOW)).toBe("invalid");
  });

  test("the pass key is not the account key, nor is it in the pass", () => {
    const pass = signHumanPass(key, CLIENT, IN_30_MINUTES);
    expect(key.equals(Buffer.from(TEST_KEY, "base64"))).toBe(false);
    expect(pass).not.toContain(TEST_KEY.slice(0, 16));
    expect(pass).not.toContain(key.toString("base64url").slice(0, 16));
  });
});

describe("reading siteverify's answer", () => {
  const settings = { secretKey: "s", siteverifyUrl: "https://siteverify.test/" };
  const answering = (status: number, body: unknown): typeof fetch =>
    (async () => new Response(JSON.stringify(body), { status })) as typeof fetch;

  test.each([
    [{ success: true, "error-codes": [], hostname: "page.example" }, { kind: "passed" }],
    [
      { success: true, "error-codes": [], hostname: "other.example" },
      { kind: "refused", reason: "wrong-hostname" },
    ],
    [
      { success: false, "error-codes": ["timeout-or-duplicate"] },
      { kind: "refused", reason: "expired" },
    ],
    [
      { success: false, "error-codes": ["invalid-input-response"] },
      { kind: "refused", reason: "failed" },
    ],
    [{ success: false, "error-codes": ["invalid-input-secret"] }, { kind: "misconfigured" }],
    [{ success: false, "error-codes": ["internal-error"] }, { kind: "unavailable" }],
    [
      { success: false, "error-codes": ["bad-request"] },
      { kind: "unavailable", cause: "bad-request" },
    ],
    [{ unexpected: true }, { kind: "unavailable" }],
  ])("the answer %j is read as %j", async (answer, expected) => {
    const outcome = await siteverify(settings, "token", undefined, "page.example", answering(200, answer));
    expect(outcome).toMatchObject(expected);
  });

  test("an error status from siteverify counts as unavailable", async () => {
    const outcome = await siteverify(settings, "token", undefined, "page.example", answering(502, {}));
    expect(outcome).toEqual({ kind: "unavailable", cause: "status 502" });
  });

  test("a request without an Origin cannot pass: the hostname cannot be matched", async () => {
    const answer = { success: true, "error-codes": [], hostname: "page.example" };
    const outcome = await siteverify(settings, "token", undefined, undefined, answering(200, answer));
    expect(outcome).toMatchObject({ kind: "refused", reason: "wrong-hostname" });
  });
});
