// The two signers (function/signing.ts): what each puts in a token. Azurite does not emulate revoking user
// delegation keys (an Azure Resource Manager action), so what revocation rests on is checked here.
import { SASProtocol, type UserDelegationKey } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/appSettings";
import { parseSettings } from "../../function/settings";
import { identitySigner, SigningUnavailableError, USER_DELEGATION_SAS_VERSION } from "../../function/signing";
import { connectionStrings, TEST_ACCOUNT } from "../support/accounts";

const KEY: UserDelegationKey = {
  signedObjectId: "11111111-1111-4111-8111-111111111111",
  signedTenantId: "22222222-2222-4222-8222-222222222222",
  signedStartsOn: new Date("2030-01-01T00:00:00Z"),
  signedExpiresOn: new Date("2030-01-03T00:00:00Z"),
  signedService: "b",
  signedVersion: "2025-11-05",
  value: Buffer.alloc(32, 9).toString("base64"),
};

const fixedKey = { current: async () => KEY };
const fields = {
  containerName: "images",
  expiresOn: new Date("2030-01-01T02:00:00Z"),
  protocol: SASProtocol.Https,
};

describe("a keyless signer", () => {
  test("signs a container token with create alone, the pinned version, its key's fields and no policy", async () => {
    const token = new URLSearchParams(
      await identitySigner(TEST_ACCOUNT, fixedKey).sign({ kind: "container", ...fields }),
    );
    expect(token.get("sr")).toBe("c");
    expect(token.get("sp")).toBe("c");
    expect(token.get("sv")).toBe(USER_DELEGATION_SAS_VERSION);
    expect(token.get("skoid")).toBe(KEY.signedObjectId);
    expect(token.get("sktid")).toBe(KEY.signedTenantId);
    expect(token.get("ske")).toBe("2030-01-03T00:00:00Z");
    expect(token.has("si")).toBe(false);
    expect(token.has("st")).toBe(false);
  });

  test("signs a per-upload token for its one blob with write alone", async () => {
    const token = new URLSearchParams(
      await identitySigner(TEST_ACCOUNT, fixedKey).sign({ kind: "upload", blobName: "a.png", ...fields }),
    );
    expect(token.get("sr")).toBe("b");
    expect(token.get("sp")).toBe("w");
    expect(token.has("si")).toBe(false);
  });

  // Revocation keyless is revoking the account's user delegation keys (or removing the role), which ends
  // every token their signature depends on: the tokens name no stored policy a generation could replace.
  test("makes a token that rests on its key alone: no policy to replace, another key another signature", async () => {
    const signer = identitySigner(TEST_ACCOUNT, fixedKey);
    const a = await signer.sign({ kind: "upload", blobName: "a.png", ...fields });
    const b = await signer.sign({ kind: "upload", blobName: "a.png", ...fields });
    expect(a).toBe(b);
    const keyed = new URLSearchParams(a);
    const other = new URLSearchParams(
      await identitySigner(TEST_ACCOUNT, {
        current: async () => ({ ...KEY, value: Buffer.alloc(32, 8).toString("base64") }),
      }).sign({ kind: "upload", blobName: "a.png", ...fields }),
    );
    expect(other.get("sig")).not.toBe(keyed.get("sig"));
  });

  test("reports a key it cannot get as signing being unavailable, naming the service's answer only", async () => {
    const failing = identitySigner(TEST_ACCOUNT, {
      current: async () => {
        throw Object.assign(new Error("secret detail"), { name: "AuthenticationError" });
      },
    });
    const refused = failing.sign({ kind: "container", ...fields });
    await expect(refused).rejects.toBeInstanceOf(SigningUnavailableError);
    await expect(refused).rejects.toThrow(
      "the user delegation key could not be fetched (AuthenticationError)",
    );
  });
});

describe("an account-key signer", () => {
  test("is chosen by a connection string and names its generation's policy", async () => {
    const settings = parseSettings({
      [SETTING.connectionString]: connectionStrings.azureWithSuffix,
      [SETTING.tokenGeneration]: "4",
    });
    expect(settings.signer.mode).toBe("accountKey");
    const token = new URLSearchParams(
      await settings.signer.sign({ kind: "upload", blobName: "a.png", ...fields }),
    );
    expect(token.get("si")).toBe("valet-g4-w");
    expect(token.has("sp")).toBe(false);
    expect(token.has("skoid")).toBe(false);
  });
});
