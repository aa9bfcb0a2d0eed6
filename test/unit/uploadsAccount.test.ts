// The one way the function reaches the uploads account: a client kept per instance for the default options.
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { createInstance } from "../../function/platform/instance";
import { uploadsServiceClient } from "../../function/platform/uploadsAccount";
import { connectionStrings } from "../support/accounts";

describe("the uploads account's client", () => {
  const instance = () => createInstance({ [SETTING.connectionString]: connectionStrings.azureWithSuffix });

  test("is made once per instance for the default options, so requests and checks reuse it", () => {
    const parts = instance();
    expect(parts.uploadsClient()).toBe(parts.uploadsClient());
    expect(parts.uploadsClient().url).toBe(`${parts.settings().uploads.blobServiceUrl}/`);
  });

  test("is a new one for other options, and for another instance", () => {
    const parts = instance();
    const retryOnce = { retryOptions: { maxTries: 1 } };
    expect(uploadsServiceClient(parts.settings().uploads, retryOnce)).not.toBe(parts.uploadsClient());
    expect(instance().uploadsClient()).not.toBe(parts.uploadsClient());
  });
});
