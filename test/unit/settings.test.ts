// Reading the function's settings (function/platform/settings.ts): every accepted and refused connection string,
// the container and lifetime rules, and errors that never quote a secret.

import { createHmac } from "node:crypto";
import { SASProtocol } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import {
  DEFAULT_CONTAINER,
  DEFAULT_TOKEN_LIFETIME_MINUTES,
  fitUploadTokenLifetime,
} from "../../function/contract/container";
import { secretKeyRoot } from "../../function/contract/rootSecret";
import { parseSettings } from "../../function/platform/settings";
import { deriveKey, KEY_LABELS } from "../../function/signing/keyDerivation";
import { signerFor } from "../../function/signing/signing";
import { connectionStrings, TEST_ACCOUNT, TEST_KEY } from "../support/accounts";

const withConnection = (value: string | undefined, extra: Record<string, string> = {}) =>
  parseSettings({ [SETTING.connectionString]: value, ...extra });

function settingsError(run: () => unknown): SettingsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error("expected a SettingsError");
}

describe("accepted connection strings", () => {
  test.each([
    [
      "an Azure account key string without EndpointSuffix",
      connectionStrings.azureWithoutSuffix,
      `https://${TEST_ACCOUNT}.blob.core.windows.net`,
      SASProtocol.Https,
    ],
    [
      "an Azure account key string with EndpointSuffix",
      connectionStrings.azureWithSuffix,
      `https://${TEST_ACCOUNT}.blob.core.windows.net`,
      SASProtocol.Https,
    ],
    [
      "an account key string with a custom BlobEndpoint",
      connectionStrings.azureBlobEndpoint,
      "https://uploads.example.com",
      SASProtocol.Https,
    ],
    [
      "the emulator's account key string",
      connectionStrings.emulatorBlobEndpoint,
      "http://127.0.0.1:10000/devstoreaccount1",
      SASProtocol.HttpsAndHttp,
    ],
    [
      "UseDevelopmentStorage=true",
      connectionStrings.developmentStorage,
      "http://127.0.0.1:10000/devstoreaccount1",
      SASProtocol.HttpsAndHttp,
    ],
    [
      "a string with a trailing semicolon and spaces",
      ` ${connectionStrings.azureWithSuffix}; `,
      `https://${TEST_ACCOUNT}.blob.core.windows.net`,
      SASProtocol.Https,
    ],
    [
      "a string without DefaultEndpointsProtocol but with an http BlobEndpoint",
      `AccountName=devstoreaccount1;AccountKey=${TEST_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1`,
      "http://127.0.0.1:10000/devstoreaccount1",
      SASProtocol.HttpsAndHttp,
    ],
  ])("%s is accepted", (_name, value, url, protocol) => {
    const settings = withConnection(value);
    expect(settings.uploads.blobServiceUrl).toBe(url);
    expect(settings.uploads.protocol).toBe(protocol);
    expect(settings.uploads.blobServiceUrl.endsWith("/")).toBe(false);
  });

  test("defaults apply when only the connection string is set", () => {
    const settings = withConnection(connectionStrings.azureWithoutSuffix);
    expect(settings.container).toBe(DEFAULT_CONTAINER);
    expect(settings.container).toBe("images");
    expect(settings.tokenLifetimeMinutes).toBe(DEFAULT_TOKEN_LIFETIME_MINUTES);
    expect(settings.tokenLifetimeMinutes).toBe(120);
    expect(settings.uploads.accountName).toBe(TEST_ACCOUNT);
  });
});

describe("rejected connection strings", () => {
  test.each([
    ["a missing setting", undefined, /UPLOADS_CONNECTION_STRING is not set/],
    ["an empty setting", "   ", /UPLOADS_CONNECTION_STRING is not set/],
    ["a SAS-only string", connectionStrings.sasOnly, /shared access signature, not an account key/],
    [
      "text that is not a connection string",
      "not a connection string",
      /not a valid storage connection string/,
    ],
    [
      "a string without AccountName",
      `DefaultEndpointsProtocol=https;AccountKey=${TEST_KEY}`,
      /not a valid storage connection string/,
    ],
    [
      "an AccountKey that is not base64",
      `DefaultEndpointsProtocol=https;AccountName=a1;AccountKey=not*base64!;EndpointSuffix=core.windows.net`,
      /AccountKey that is not a base64/,
    ],
    [
      "an empty AccountKey",
      "DefaultEndpointsProtocol=https;AccountName=a1;AccountKey=;EndpointSuffix=core.windows.net",
      /not|AccountKey/,
    ],
  ])("%s is a configuration error naming the setting", (_name, value, message) => {
    const error = settingsError(() => withConnection(value));
    expect(error.setting).toBe(SETTING.connectionString);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(SETTING.connectionString);
  });

  test("no error message quotes the connection string or its key", () => {
    for (const value of [
      connectionStrings.sasOnly,
      `DefaultEndpointsProtocol=https;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY.slice(1)}`,
    ]) {
      const error = settingsError(() => withConnection(value));
      expect(error.message).not.toContain(TEST_KEY.slice(1, 20));
      expect(error.message).not.toContain("sig=");
      expect(error.message).not.toContain(TEST_ACCOUNT);
    }
  });
});

describe("the connection string's blob endpoint", () => {
  const withEndpoint = (endpoint: string, protocol = "https") =>
    `DefaultEndpointsProtocol=${protocol};AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY};BlobEndpoint=${endpoint}`;

  test.each([
    ["an https endpoint", withEndpoint("https://uploads.example.com/"), "https://uploads.example.com"],
    [
      "an emulator on 127.0.0.1",
      withEndpoint("http://127.0.0.1:10000/a1", "http"),
      "http://127.0.0.1:10000/a1",
    ],
    [
      "an emulator on localhost",
      withEndpoint("http://localhost:10000/a1", "http"),
      "http://localhost:10000/a1",
    ],
    ["an emulator on ::1", withEndpoint("http://[::1]:10000/a1", "http"), "http://[::1]:10000/a1"],
  ])("%s is accepted as the tokens' url", (_name, value, url) => {
    expect(withConnection(value).uploads.blobServiceUrl).toBe(url);
  });

  test.each([
    [
      "a javascript: URL",
      withEndpoint("javascript:alert(document.domain)"),
      "javascript:alert",
      /not an https: URL/,
    ],
    ["an ftp: URL", withEndpoint("ftp://files.example.com/"), "files.example.com", /not an https: URL/],
    [
      "plain http to a host that is not loopback",
      withEndpoint("http://uploads.example.com/", "http"),
      "uploads.example.com",
      /http: is accepted only for an emulator on 127.0.0.1, localhost or ::1/,
    ],
    [
      "plain http from DefaultEndpointsProtocol to Azure",
      `DefaultEndpointsProtocol=http;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY};EndpointSuffix=core.windows.net`,
      "blob.core.windows.net",
      /not an https: URL/,
    ],
    [
      "user info",
      withEndpoint("https://admin:hunter2@uploads.example.com/"),
      "hunter2",
      /with a user name or password in it/,
    ],
    [
      "a user name alone",
      withEndpoint("https://admin@uploads.example.com/"),
      "admin@",
      /user name or password/,
    ],
    [
      "a query",
      withEndpoint("https://uploads.example.com/?redirect=evil"),
      "redirect=evil",
      /query or fragment/,
    ],
    ["an empty query", withEndpoint("https://uploads.example.com/?"), "example.com/?", /query or fragment/],
    ["a fragment", withEndpoint("https://uploads.example.com/#frag"), "#frag", /query or fragment/],
  ])(
    "%s is refused with an error that names the setting and quotes nothing",
    (_name, value, fragment, message) => {
      const error = settingsError(() => withConnection(value));
      expect(error.setting).toBe(SETTING.connectionString);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(`${SETTING.connectionString} has a blob endpoint`);
      expect(error.message).not.toContain(fragment);
      expect(error.detail).not.toContain(fragment);
      expect(error.detail).not.toContain(TEST_KEY.slice(0, 20));
    },
  );
});

describe("container and lifetime settings", () => {
  test.each(["uploads", "abc", "a-b-c", "x".repeat(63), "2024-photos"])(
    "container %s is accepted",
    (name) => {
      expect(
        withConnection(connectionStrings.developmentStorage, { [SETTING.container]: name }).container,
      ).toBe(name);
    },
  );

  test.each([
    "ab",
    "Images",
    "my_images",
    "-images",
    "images-",
    "im--ages",
    "x".repeat(64),
    "images/sub",
    "$root",
  ])("container %s is rejected", (name) => {
    const error = settingsError(() =>
      withConnection(connectionStrings.developmentStorage, { [SETTING.container]: name }),
    );
    expect(error.setting).toBe(SETTING.container);
    expect(error.message).toMatch(/3-63 lowercase letters/);
  });

  test.each([
    ["5", 5],
    ["1440", 1440],
    [" 30 ", 30],
    ["", 120],
  ])("lifetime %j gives %d minutes", (raw, minutes) => {
    const settings = withConnection(connectionStrings.developmentStorage, {
      [SETTING.tokenLifetimeMinutes]: raw,
    });
    expect(settings.tokenLifetimeMinutes).toBe(minutes);
  });

  test.each(["4", "1441", "0", "-10", "1.5", "2h", "abc", "1e3"])(
    "lifetime %j is rejected with its bounds",
    (raw) => {
      const error = settingsError(() =>
        withConnection(connectionStrings.developmentStorage, { [SETTING.tokenLifetimeMinutes]: raw }),
      );
      expect(error.setting).toBe(SETTING.tokenLifetimeMinutes);
      expect(error.message).toContain("from 5 to 1440");
    },
  );

  test("a per-upload token may not outlive a container token", () => {
    const error = settingsError(() =>
      withConnection(connectionStrings.developmentStorage, {
        [SETTING.tokenLifetimeMinutes]: "10",
        [SETTING.uploadTokenLifetimeMinutes]: "30",
      }),
    );
    expect(error.setting).toBe(SETTING.uploadTokenLifetimeMinutes);
    expect(error.detail).toMatch(
      /UPLOAD_TOKEN_LIFETIME_MINUTES \(30\) must not exceed SAS_TOKEN_LIFETIME_MINUTES \(10\)/,
    );
    expect(error.message).toBe("UPLOAD_TOKEN_LIFETIME_MINUTES must not exceed SAS_TOKEN_LIFETIME_MINUTES.");
    const equal = withConnection(connectionStrings.developmentStorage, {
      [SETTING.tokenLifetimeMinutes]: "30",
      [SETTING.uploadTokenLifetimeMinutes]: "30",
    });
    expect(equal.policy.uploadTokenLifetimeMinutes).toBe(30);
    const unset = withConnection(connectionStrings.developmentStorage, {
      [SETTING.tokenLifetimeMinutes]: "5",
    });
    expect(unset.policy.uploadTokenLifetimeMinutes).toBe(5);
  });
});

describe("the lifetime rule, shared with the stack config", () => {
  const names = { container: "valet:tokenLifetimeMinutes", upload: "valet:uploadTokenLifetimeMinutes" };

  test("an unset per-upload lifetime yields to a shorter container lifetime; a set one is kept", () => {
    expect(fitUploadTokenLifetime(names, { container: 10, upload: 15 }, undefined)).toBe(10);
    expect(fitUploadTokenLifetime(names, { container: 10, upload: 15 }, "  ")).toBe(10);
    expect(fitUploadTokenLifetime(names, { container: 120, upload: 15 }, undefined)).toBe(15);
    expect(fitUploadTokenLifetime(names, { container: 30, upload: 30 }, "30")).toBe(30);
  });

  test("a set per-upload lifetime longer than the container's is refused under the names given", () => {
    const error = settingsError(() => fitUploadTokenLifetime(names, { container: 10, upload: 30 }, "30"));
    expect(error.setting).toBe(names.upload);
    expect(error.detail).toBe(
      "valet:uploadTokenLifetimeMinutes (30) must not exceed valet:tokenLifetimeMinutes (10).",
    );
    expect(error.message).toBe(
      "valet:uploadTokenLifetimeMinutes must not exceed valet:tokenLifetimeMinutes.",
    );
  });
});

describe("keyless settings", () => {
  const url = `https://${TEST_ACCOUNT}.blob.core.windows.net`;
  const credential = { getToken: async () => null };
  const secret = Buffer.alloc(32, 7).toString("base64");
  const keyless = (extra: Record<string, string> = {}) =>
    parseSettings(
      { [SETTING.accountUrl]: url, [SETTING.keyDerivationSecret]: secret, ...extra },
      { uploadsCredential: credential },
    );
  const turnstile = { [SETTING.turnstileSecretKey]: "0x4AAAAAAAtest-secret" };

  test("take the account's URL, sign with the identity and hold no account key", () => {
    const settings = keyless();
    expect(settings.uploads.blobServiceUrl).toBe(url);
    expect(settings.uploads.accountName).toBe(TEST_ACCOUNT);
    expect(settings.uploads.protocol).toBe(SASProtocol.Https);
    expect(settings.uploads.mode).toBe("identity");
    expect(settings.uploads.credential).toBe(credential);
    expect(signerFor(settings).mode).toBe("identity");
    expect(settings.humanPassKey).toEqual(
      deriveKey(secretKeyRoot(Buffer.from(secret, "base64")), KEY_LABELS.humanPass),
    );
  });

  test("refuse both a connection string and an account URL, naming both", () => {
    const error = settingsError(() =>
      keyless({ [SETTING.connectionString]: connectionStrings.azureWithSuffix }),
    );
    expect(error.message).toMatch(/UPLOADS_CONNECTION_STRING and UPLOADS_ACCOUNT_URL are both set/);
    expect(error.message).not.toContain(TEST_KEY);
  });

  test("name both settings when neither is set", () => {
    expect(settingsError(() => parseSettings({})).message).toMatch(
      /UPLOADS_CONNECTION_STRING is not set.*or set UPLOADS_ACCOUNT_URL instead/,
    );
  });

  test.each([
    ["a plain http URL, even on loopback", "http://127.0.0.1:10000/devstoreaccount1"],
    ["no URL at all", "valetuploads"],
    ["a URL with a query", `${url}/?sv=2025-11-05`],
  ])("refuse %s as the account URL", (_, value) => {
    expect(settingsError(() => keyless({ [SETTING.accountUrl]: value })).setting).toBe(SETTING.accountUrl);
  });

  test("need KEY_DERIVATION_SECRET, for resume secrets and human passes, and say how to make one", () => {
    const error = settingsError(() =>
      parseSettings({ [SETTING.accountUrl]: url }, { uploadsCredential: credential }),
    );
    expect(error.setting).toBe(SETTING.keyDerivationSecret);
    expect(error.message).toMatch(/resume secrets and the human check's passes.*openssl rand -base64 32/);
    const settings = keyless(turnstile);
    expect(settings.humanPassKey).toHaveLength(32);
    expect(settings.resumeKey).toHaveLength(32);
    expect(settings.resumeKey.equals(settings.humanPassKey)).toBe(false);
  });

  test("refuse a KEY_DERIVATION_SECRET that is short or not base64, without quoting it", () => {
    for (const value of [Buffer.alloc(16, 7).toString("base64"), "not base64 at all!!"]) {
      const error = settingsError(() => keyless({ [SETTING.keyDerivationSecret]: value }));
      expect(error.setting).toBe(SETTING.keyDerivationSecret);
      expect(error.message).not.toContain(value);
    }
  });

  test("with an account key, refuse KEY_DERIVATION_SECRET and derive the pass key from the key as before", () => {
    const error = settingsError(() =>
      withConnection(connectionStrings.azureWithSuffix, { [SETTING.keyDerivationSecret]: secret }),
    );
    expect(error.message).toMatch(/only for keyless signing/);
    const settings = withConnection(connectionStrings.azureWithSuffix, turnstile);
    const expected = createHmac("sha256", Buffer.from(TEST_KEY, "base64"))
      .update("valet human pass key v1")
      .digest();
    expect(settings.humanPassKey?.equals(expected)).toBe(true);
  });
});

describe("the check of stored uploads", () => {
  const withSettings = (extra: Record<string, string>) =>
    withConnection(connectionStrings.developmentStorage, extra);

  test("by default accepted images go to the container verified and images over 100 megapixels are refused", () => {
    expect(withSettings({}).verification).toEqual({
      verifiedContainer: "verified",
      maxImagePixels: 100_000_000,
    });
  });

  test("the verified container and the pixel cap can be set", () => {
    expect(
      withSettings({ [SETTING.verifiedContainer]: "checked", [SETTING.maxImagePixels]: " 24000000 " })
        .verification,
    ).toEqual({ verifiedContainer: "checked", maxImagePixels: 24_000_000 });
  });

  test.each(["Verified", "ab", "my_images"])(
    "verified container %s is refused with the container rule",
    (name) => {
      const error = settingsError(() => withSettings({ [SETTING.verifiedContainer]: name }));
      expect(error.setting).toBe(SETTING.verifiedContainer);
      expect(error.message).toMatch(/VERIFIED_CONTAINER must be a container name.*\(default verified\)/);
    },
  );

  test("the verified container cannot be the uploads container", () => {
    const error = settingsError(() =>
      withSettings({ [SETTING.container]: "photos", [SETTING.verifiedContainer]: "photos" }),
    );
    expect(error.setting).toBe(SETTING.verifiedContainer);
    expect(error.message).toContain("another container than UPLOADS_CONTAINER");
  });

  test.each(["0", "-1", "1.5", "ten", "10000000001"])("pixel cap %j is refused with its bounds", (raw) => {
    const error = settingsError(() => withSettings({ [SETTING.maxImagePixels]: raw }));
    expect(error.setting).toBe(SETTING.maxImagePixels);
    expect(error.message).toContain(
      "MAX_IMAGE_PIXELS must be a whole number of pixels from 1 to 10000000000",
    );
  });
});
