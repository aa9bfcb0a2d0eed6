// The two signers (function/signing/signing.ts): what each puts in a token. Azurite does not emulate revoking user
// delegation keys (an Azure Resource Manager action), so what revocation rests on is checked here.
import { RestError, SASProtocol, type UserDelegationKey } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { parseSettings } from "../../function/platform/settings";
import type { AccessPolicyCheck } from "../../function/signing/accessPolicies";
import { DelegationKeyCache } from "../../function/signing/delegationKeys";
import {
  identitySigner,
  SigningUnavailableError,
  signerFor,
  USER_DELEGATION_SAS_VERSION,
  warmUpSigner,
} from "../../function/signing/signing";
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

  // The tokens name no stored policy a generation could replace: what they rest on is their key.
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

  test("signs nothing once its key has run out and no new one can be had", async () => {
    const clock = { now: KEY.signedStartsOn.getTime() };
    let refusing = false;
    const keys = new DelegationKeyCache({
      fetch: async () => {
        if (refusing) throw new RestError("This request is not authorized", { statusCode: 403 });
        return KEY;
      },
      longestTokenMs: 2 * 60 * 60_000,
      now: () => clock.now,
    });
    const signer = identitySigner(TEST_ACCOUNT, keys);
    expect(new URLSearchParams(await signer.sign({ kind: "container", ...fields })).get("ske")).toBe(
      "2030-01-03T00:00:00Z",
    );
    refusing = true;
    clock.now = KEY.signedExpiresOn.getTime() + 1;
    await expect(signer.sign({ kind: "container", ...fields })).rejects.toThrow(
      "the user delegation key could not be fetched (storage answered 403)",
    );
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
    const signer = signerFor(settings);
    expect(signer.mode).toBe("accountKey");
    const token = new URLSearchParams(await signer.sign({ kind: "upload", blobName: "a.png", ...fields }));
    expect(token.get("si")).toBe("valet-g4-w");
    expect(token.has("sp")).toBe(false);
    expect(token.has("skoid")).toBe(false);
  });
});

describe("warming a signer up while the instance starts", () => {
  test("logs a failure as one event naming the cause, and does not throw", async () => {
    const lines: string[] = [];
    const failing = identitySigner(TEST_ACCOUNT, {
      current: async () => {
        throw new RestError("Server Busy sig=secret", { statusCode: 503 });
      },
    });
    await expect(warmUpSigner(failing, (line) => lines.push(line))).resolves.toBeUndefined();
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        event: "signing.warmUpFailed",
        mode: "identity",
        message: "the user delegation key could not be fetched (storage answered 503)",
      },
    ]);
    expect(lines.join()).not.toContain("secret");
  });

  test("logs nothing when the signer is ready", async () => {
    const lines: string[] = [];
    await warmUpSigner(identitySigner(TEST_ACCOUNT, fixedKey), (line) => lines.push(line));
    const accountKey = parseSettings({
      [SETTING.connectionString]: connectionStrings.azureWithSuffix,
      [SETTING.tokenGeneration]: "4",
    });
    await warmUpSigner(signerFor(accountKey), (line) => lines.push(line));
    expect(lines).toEqual([]);
  });
});

describe("what a signer needs of storage before its tokens work", () => {
  const checked: string[] = [];
  const recordingCheck: AccessPolicyCheck = async (target) => {
    checked.push(`${target.container}@${target.tokenGeneration}`);
    return { kind: "ready" };
  };

  test("account key: the container's stored access policies, checked once per instance and kept", async () => {
    checked.length = 0;
    const signer = signerFor(
      parseSettings({
        [SETTING.connectionString]: connectionStrings.azureWithSuffix,
        [SETTING.tokenGeneration]: "4",
        [SETTING.container]: "photos",
      }),
      { accessPolicyCheck: recordingCheck },
    );
    expect(await signer.prepare()).toEqual({ kind: "ready" });
    expect(await signer.prepare()).toEqual({ kind: "ready" });
    expect(checked).toEqual(["photos@4"]);
  });

  test("keyless: nothing, so no policy check runs (a user delegation token names no policy)", async () => {
    checked.length = 0;
    expect(await identitySigner(TEST_ACCOUNT, fixedKey).prepare()).toEqual({ kind: "ready" });
    expect(checked).toEqual([]);
  });
});
