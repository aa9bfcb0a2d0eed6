// The one way the function reaches the uploads account: a client kept per account for the default options.
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { parseSettings } from "../../function/platform/settings";
import { uploadsServiceClient } from "../../function/platform/uploadsAccount";
import { connectionStrings } from "../support/accounts";

describe("the uploads account's client", () => {
  const settings = () => parseSettings({ [SETTING.connectionString]: connectionStrings.azureWithSuffix });

  test("is made once per account for the default options, so requests and checks reuse it", () => {
    const { uploads } = settings();
    expect(uploadsServiceClient(uploads)).toBe(uploadsServiceClient(uploads));
    expect(uploadsServiceClient(uploads).url).toBe(`${uploads.blobServiceUrl}/`);
  });

  test("is a new one for other options, and for another account", () => {
    const { uploads } = settings();
    const retryOnce = { retryOptions: { maxTries: 1 } };
    expect(uploadsServiceClient(uploads, retryOnce)).not.toBe(uploadsServiceClient(uploads));
    expect(uploadsServiceClient(settings().uploads)).not.toBe(uploadsServiceClient(uploads));
  });
});
