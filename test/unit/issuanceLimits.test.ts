// The issuance limits' settings (function/contract/issuanceLimits.ts): defaults, every accepted and refused value, and the
// parsers the stack config shares, reporting the name they are given.
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import {
  DEFAULT_ALLOWED_CONTENT_TYPES,
  parseContentTypes,
  parseIssuanceLimits,
  parseMaxUploadBytes,
} from "../../function/contract/issuanceLimits";

function policyError(env: Record<string, string>): SettingsError {
  try {
    parseIssuanceLimits(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error("expected a SettingsError");
}

describe("the issuance limits", () => {
  test("defaults to JPEG, PNG, GIF, WebP and AVIF, 50 MiB, 15-minute upload tokens, container tokens on, no IP binding", () => {
    expect(parseIssuanceLimits({})).toEqual({
      allowedContentTypes: ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"],
      maxUploadBytes: 50 * 1024 * 1024,
      uploadTokenLifetimeMinutes: 15,
      containerTokensEnabled: true,
      bindTokenToClientIp: false,
    });
    expect(DEFAULT_ALLOWED_CONTENT_TYPES).toHaveLength(5);
  });

  test("reads every setting", () => {
    const limits = parseIssuanceLimits({
      [SETTING.allowedContentTypes]: " image/PNG , image/heic,image/png",
      [SETTING.maxUploadBytes]: "2048",
      [SETTING.uploadTokenLifetimeMinutes]: "60",
      [SETTING.containerTokensEnabled]: "FALSE",
      [SETTING.bindTokenToClientIp]: "true",
    });
    expect(limits).toEqual({
      allowedContentTypes: ["image/png", "image/heic"],
      maxUploadBytes: 2048,
      uploadTokenLifetimeMinutes: 60,
      containerTokensEnabled: false,
      bindTokenToClientIp: true,
    });
  });

  test.each([
    [SETTING.allowedContentTypes, "image/png,image/svg+xml", /not one of them/],
    [SETTING.allowedContentTypes, "text/html", /comma-separated list of image\/jpeg/],
    [SETTING.maxUploadBytes, "1023", /from 1024 to 5368709120/],
    [SETTING.maxUploadBytes, "5368709121", /from 1024 to 5368709120/],
    [SETTING.maxUploadBytes, "10MB", /whole number of bytes/],
    [SETTING.uploadTokenLifetimeMinutes, "0", /from 1 to 60/],
    [SETTING.uploadTokenLifetimeMinutes, "61", /from 1 to 60/],
    [SETTING.containerTokensEnabled, "yes", /must be true or false/],
    [SETTING.bindTokenToClientIp, "1", /must be true or false/],
  ])("%s=%j is refused with a message naming the setting", (name, value, message) => {
    const error = policyError({ [name]: value });
    expect(error.setting).toBe(name);
    expect(error.message).toContain(name);
    expect(error.message).toMatch(message);
  });
});

describe("the issuance limits' parsers, shared with the stack config", () => {
  test("report the name they are given, so a stack key gets the same rule and wording", () => {
    expect(() => parseMaxUploadBytes("valet:maxUploadBytes", "10MB")).toThrow(
      new SettingsError(
        "valet:maxUploadBytes",
        "valet:maxUploadBytes must be a whole number of bytes from 1024 to 5368709120 (default 52428800).",
      ),
    );
  });

  test("drop blank list items and refuse a list left empty", () => {
    expect(
      parseIssuanceLimits({ [SETTING.allowedContentTypes]: "image/png, ,image/gif," }).allowedContentTypes,
    ).toEqual(["image/png", "image/gif"]);
    expect(() => parseContentTypes("types", [], "a list of")).toThrow(
      /types must list at least one of image\/jpeg/,
    );
  });
});
