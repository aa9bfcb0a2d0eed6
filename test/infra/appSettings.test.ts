// What infra/appSettings.ts and the signing plan give the Function App, read back from the inputs the
// program registers under mocks and parsed by the function's own start-up parser: every value the stack
// sets arrives as the function reads it, in both signing modes.
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { parseDailyUploadBytesPerOwner, parseLimitSettings } from "../../function/contract/limits";
import { createInstance } from "../../function/platform/instance";
import { parseSettings } from "../../function/platform/settings";
import { appSettings, MOCK_SECOND_KEY, only, runProgram } from "./harness";

const WEB_APP = "azure-native:web:WebApp";
const ROOT_SECRET = Buffer.alloc(32, 0x5a).toString("base64");

/** A value other than the default for every key that becomes an app setting. */
const EVERY_SETTING = {
  container: "photos",
  tokenLifetimeMinutes: "45",
  uploadTokenLifetimeMinutes: "20",
  allowedContentTypes: "image/png,image/webp",
  maxUploadBytes: "4000000",
  containerTokensEnabled: "true",
  bindTokenToClientIp: "true",
  tokenGeneration: "3",
  issuanceRatePerMinute: "12",
  issuanceBurst: "6",
  dailyUploadBytesPerClient: "90000000",
  dailyUploadBytesPerOwner: "80000000",
  maxImagePixels: "20000000",
  photoQuality: "77",
  renditionQuality: "66",
  feedSize: "1000",
  thumbnailSize: "200",
  turnstileSiteKey: "0x4AAAAAAAsiteKeyValue",
  turnstileSecretKey: "0x4AAAAAAAsecretKeyValue",
  authIssuer: "https://login.example.com/tenant/v2.0",
  authAudience: "api://valet,api://valet-two",
  authOwnerClaim: "oid",
  authAlgorithms: "RS256,ES256",
};

async function registeredSettings(config: Record<string, string>, secretKeys: string[] = []) {
  const run = await runProgram(config, { secretKeys });
  return appSettings(only(run, WEB_APP));
}

describe("the app settings infra registers, parsed by the function", () => {
  test("with the account key: the function signs with the configured key, and reads every value the stack set", async () => {
    const env = await registeredSettings({ ...EVERY_SETTING, signingKey: "key2" }, ["turnstileSecretKey"]);
    const settings = parseSettings(env);
    expect(createInstance(env).signer().mode).toBe("accountKey");
    expect(env[SETTING.connectionString]).toContain(`AccountKey=${MOCK_SECOND_KEY};`);
    expect(env[SETTING.accountUrl]).toBeUndefined();
    expect(settings).toMatchObject({
      container: "photos",
      tokenLifetimeMinutes: 45,
      tokenGeneration: 3,
      issuanceLimits: {
        allowedContentTypes: ["image/png", "image/webp"],
        maxUploadBytes: 4_000_000,
        uploadTokenLifetimeMinutes: 20,
        containerTokensEnabled: true,
        bindTokenToClientIp: true,
      },
      humanCheck: { secretKey: "0x4AAAAAAAsecretKeyValue" },
      check: { verifiedContainer: "verified", maxImagePixels: 20_000_000 },
      auth: {
        issuer: "https://login.example.com/tenant/v2.0",
        audiences: ["api://valet", "api://valet-two"],
        ownerClaim: "oid",
        algorithms: ["RS256", "ES256"],
      },
      photos: { quality: 77, renditionQuality: 66, feedSize: 1000, thumbnailSize: 200 },
    });
    expect(settings.uploads.blobServiceUrl).toMatch(/^https:\/\/uploads\w+\.blob\.core\.windows\.net$/);
    expect(parseLimitSettings(env).limits).toMatchObject({
      ratePerMinute: 12,
      burst: 6,
      dailyUploadBytes: 90_000_000,
    });
    // Read as function/identity/ownerLimits.ts reads it.
    const perOwner = SETTING.dailyUploadBytesPerOwner;
    expect(parseDailyUploadBytesPerOwner(perOwner, env[perOwner])).toBe(80_000_000);
  });

  test("keyless: the function signs with its identity at the account's URL, its keys derived from the secret", async () => {
    const env = await registeredSettings(
      { ...EVERY_SETTING, signing: "identity", keyDerivationSecret: ROOT_SECRET },
      ["turnstileSecretKey", "keyDerivationSecret"],
    );
    const settings = parseSettings(env);
    expect(createInstance(env).signer().mode).toBe("identity");
    expect(env[SETTING.connectionString]).toBeUndefined();
    expect(env[SETTING.keyDerivationSecret]).toBe(ROOT_SECRET);
    expect(settings.uploads.blobServiceUrl).toBe(env[SETTING.accountUrl]);
    expect(settings).toMatchObject({ container: "photos", tokenLifetimeMinutes: 45, tokenGeneration: 3 });
  });

  test("with the defaults, the function starts with the stack's documented defaults", async () => {
    const settings = parseSettings(await registeredSettings({}));
    expect(settings).toMatchObject({
      container: "images",
      tokenLifetimeMinutes: 120,
      humanCheck: undefined,
      auth: undefined,
    });
  });
});
