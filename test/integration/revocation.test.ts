// Revocation and key rotation against a real Azurite: a new key generation revokes every outstanding
// token, instances never undo a newer generation, and tokens survive switching the signing key.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BlobServiceClient,
  type ContainerClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type Environment, SETTING } from "../../function/contract/appSettings";
import type { CredentialsBody, UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { httpFunctions } from "../../function/functions";
import { issueContainerToken } from "../../function/issuing/tokens";
import { configureInstance, instance as currentInstance } from "../../function/platform/instance";
import { ensureAccessPolicies, policyId } from "../../function/signing/accessPolicies";
import { type Azurite, EMULATOR_ACCOUNT, EMULATOR_KEY, startAzurite } from "../../local/azurite";
import { freePort } from "../../local/ports";
import { invoke, LIMITS_OFF } from "../support/function";
import { putBlob } from "../support/storage";

/** The emulator account's second key: Azurite takes both from AZURITE_ACCOUNTS when it starts. */
const KEY2 = Buffer.alloc(64, 0x42).toString("base64");
const REGENERATED_KEY1 = Buffer.alloc(64, 0x24).toString("base64");

let dataDir: string;
let port: number;
let azurite: Azurite | undefined;

async function startEmulator(key1: string, key2: string): Promise<Azurite> {
  // The child process inherits this process's environment; nothing else reads this variable here.
  process.env.AZURITE_ACCOUNTS = `${EMULATOR_ACCOUNT}:${key1}:${key2}`;
  try {
    return await startAzurite({ port, location: dataDir });
  } finally {
    delete process.env.AZURITE_ACCOUNTS;
  }
}

function connectionString(key: string): string {
  return (azurite?.connectionString ?? "").replace(`AccountKey=${EMULATOR_KEY}`, `AccountKey=${key}`);
}

/** An instance of the function with these settings: a fresh settings object, as after a restart. */
function instance(settings: Environment): void {
  configureInstance({
    ...LIMITS_OFF,
    [SETTING.connectionString]: connectionString(EMULATOR_KEY),
    ...settings,
  });
}

async function containerToken(): Promise<CredentialsBody> {
  const response = await invoke(httpFunctions);
  expect(response.status).toBe(200);
  return response.body as unknown as CredentialsBody;
}

async function uploadToken(): Promise<UploadCredentialsBody> {
  const response = await invoke(httpFunctions, { query: "?filename=photo.png&contentType=image/png&size=9" });
  expect(response.status).toBe(200);
  return response.body as unknown as UploadCredentialsBody;
}

let names = 0;
async function putWith(token: CredentialsBody): Promise<number> {
  const url =
    "blobUrl" in token
      ? (token as UploadCredentialsBody).blobUrl
      : `${token.url}/${token.container}/revocation-${++names}.png`;
  return await putBlob(`${url}?${token.sasKey}`, "bytes");
}

function images(key = EMULATOR_KEY): ContainerClient {
  return BlobServiceClient.fromConnectionString(connectionString(key)).getContainerClient("images");
}

async function policyIds(): Promise<string[]> {
  return (await images().getAccessPolicy()).signedIdentifiers.map((policy) => policy.id).sort();
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "valet-revocation-"));
  port = await freePort();
  azurite = await startEmulator(EMULATOR_KEY, KEY2);
  await images().create();
});
afterAll(async () => {
  await azurite?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("moving to a new token generation", () => {
  afterEach(async () => {
    await images().setAccessPolicy(undefined, []);
  });

  test("revokes every outstanding token of both kinds, while the new generation's tokens upload", async () => {
    instance({ [SETTING.tokenGeneration]: "1" });
    const oldContainer = await containerToken();
    const oldUpload = await uploadToken();
    expect(await putWith(oldContainer)).toBe(201);

    instance({ [SETTING.tokenGeneration]: "2" });
    const newContainer = await containerToken();
    const newUpload = await uploadToken();
    expect(new URLSearchParams(newContainer.sasKey).get("si")).toBe(policyId(2, "container"));

    expect(await putWith(oldContainer)).toBe(403);
    expect(await putWith(oldUpload)).toBe(403);
    expect(await putWith(newContainer)).toBe(201);
    expect(await putWith(newUpload)).toBe(201);
  });

  test("leaves the container's other policies and its private access as they were", async () => {
    await images().setAccessPolicy(undefined, [
      { id: "operator-audit", accessPolicy: { permissions: "r", expiresOn: new Date("2031-01-01") } },
    ]);
    instance({ [SETTING.tokenGeneration]: "3" });
    await containerToken();
    instance({ [SETTING.tokenGeneration]: "4" });
    await containerToken();
    expect(await policyIds()).toEqual(["operator-audit", "valet-g4-c", "valet-g4-w"]);
    expect((await images().getAccessPolicy()).blobPublicAccess).toBeUndefined();
  });

  test("an instance still on an older generation issues nothing and leaves the newer policies in place", async () => {
    instance({ [SETTING.tokenGeneration]: "6" });
    const current = await containerToken();
    instance({ [SETTING.tokenGeneration]: "5" });
    const stale = await invoke(httpFunctions);
    expect(stale.status).toBe(500);
    expect(stale.body.error).toBe(
      "The function cannot issue tokens: TOKEN_GENERATION is older than the generation the uploads container holds.",
    );
    expect(stale.body).not.toHaveProperty("sasKey");
    expect(stale.logs.map((log) => log.message).join("\n")).toMatch(
      /TOKEN_GENERATION is 5, but the uploads container already holds generation 6's policies.*Set TOKEN_GENERATION to 6/,
    );
    expect(await policyIds()).toEqual(["valet-g6-c", "valet-g6-w"]);
    expect(await putWith(current)).toBe(201);
  });

  test("instances racing to different generations always leave the newest one alone in place", async () => {
    const container = images();
    await container.setAccessPolicy(undefined, [
      { id: "operator-audit", accessPolicy: { permissions: "r" } },
    ]);
    for (const round of [10, 20, 30]) {
      const generations = [round + 3, round + 1, round + 4, round + 2, round + 4];
      const outcomes = await Promise.allSettled(
        generations.map((generation) => ensureAccessPolicies(container, generation, SETTING.tokenGeneration)),
      );
      expect(outcomes.filter((outcome) => outcome.status === "fulfilled").length).toBeGreaterThan(0);
      expect(await policyIds()).toEqual(["operator-audit", `valet-g${round + 4}-c`, `valet-g${round + 4}-w`]);
    }
  });

  test("an instance slow to write cannot put an older generation back over a newer one", async () => {
    const container = images();
    // The older instance reads the policies, then takes a while before writing its own.
    const slow = new Proxy(container, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property !== "setAccessPolicy") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: Parameters<ContainerClient["setAccessPolicy"]>) => {
          await new Promise((resolve) => setTimeout(resolve, 600));
          return await target.setAccessPolicy(...args);
        };
      },
    });
    const older = ensureAccessPolicies(slow, 41, SETTING.tokenGeneration);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const newer = ensureAccessPolicies(container, 42, SETTING.tokenGeneration);
    await Promise.allSettled([older, newer]);
    await expect(newer).resolves.toBe("written");
    expect(await policyIds()).toEqual(["valet-g42-c", "valet-g42-w"]);
  });

  test("refuses, naming the limit, when other policies leave no room for the generation's two", async () => {
    const others = ["a", "b", "c", "d"].map((id) => ({ id, accessPolicy: { permissions: "r" } }));
    await images().setAccessPolicy(undefined, others);
    instance({ [SETTING.tokenGeneration]: "7" });
    const refused = await invoke(httpFunctions);
    expect(refused.status).toBe(500);
    expect(refused.body.error).toBe(
      "The function cannot issue tokens: the uploads container holds too many stored access policies of its own.",
    );
    expect(await policyIds()).toEqual(["a", "b", "c", "d"]);
  });
});

describe("the emulator's gap", () => {
  // Azurite takes a token's start, expiry and permission from its stored access policy and ignores the
  // token's own `se` (BlobSASAuthenticator in Azurite 3.35.0: `values.expiryTime = accessPolicy.expiry`),
  // so it cannot show that an expired token is refused; test/unit/tokens.test.ts checks each token's
  // expiry and that its policy has none, which is how Azure applies the token's own.
  // https://learn.microsoft.com/rest/api/storageservices/define-stored-access-policy
  test("Azurite, unlike Azure, lets an expired token through when its policy carries the permission", async () => {
    instance({ [SETTING.tokenGeneration]: "1" });
    await containerToken();
    const expired = await issueContainerToken(
      currentInstance().settings(),
      currentInstance().signer(),
      new Date(Date.now() - 3 * 60 * 60 * 1000),
    );
    expect(Date.parse(expired.expiresOn)).toBeLessThan(Date.now());
    expect(await putWith(expired)).toBe(201);
  });

  // The arrangement Azure also allows, every field on the token and a policy with none that serves only to
  // revoke ("you can specify all of the parameters on the URL ... use the stored access policy to revoke the
  // signature", same page), would let a reader see `sp` and let Azurite check `se`. Azurite cannot serve it:
  // it replaces the token's permission with the policy's empty one and fails the request
  // (https://github.com/Azure/Azurite/issues/1856, open; the same assignment is on Azurite's main branch), so
  // every upload of the local stack would fail. This pins that: when it fails, Azurite is fixed and tokens
  // can move to that shape (docs/contract.md).
  test("Azurite, unlike Azure, refuses a token that carries sp and se and names a policy with no fields", async () => {
    await images().setAccessPolicy(undefined, [{ id: "valet-g1", accessPolicy: {} }]);
    const settings = currentInstance().settings();
    const sasKey = generateBlobSASQueryParameters(
      {
        containerName: "images",
        identifier: "valet-g1",
        permissions: ContainerSASPermissions.parse("c"),
        expiresOn: new Date(Date.now() + 10 * 60 * 1000),
      },
      new StorageSharedKeyCredential(EMULATOR_ACCOUNT, EMULATOR_KEY),
    ).toString();
    expect(sasKey).toMatch(/^sv=[^&]+&se=[^&]+&si=valet-g1&sr=c&sp=c&sig=/);
    const status = await putBlob(
      `${settings.uploads.blobServiceUrl}/images/field-less.png?${sasKey}`,
      "bytes",
    );
    await images().setAccessPolicy(undefined, []);
    expect(status).toBeGreaterThanOrEqual(400);
  });
});

describe("switching the signing key", () => {
  // Last in this file: it regenerates the emulator's first key.
  test("tokens signed with the second key work, and keep working once the first key is regenerated", async () => {
    instance({ [SETTING.tokenGeneration]: "1" });
    const signedWithKey1 = await containerToken();
    expect(await putWith(signedWithKey1)).toBe(201);

    // valet:signingKey = key2, pulumi up: the app restarts with a connection string holding key2.
    instance({ [SETTING.connectionString]: connectionString(KEY2), [SETTING.tokenGeneration]: "1" });
    const signedWithKey2 = await containerToken();
    expect(await putWith(signedWithKey2)).toBe(201);
    expect(await putWith(signedWithKey1)).toBe(201);

    // az storage account keys renew --key primary: key1 changes, key2 stays.
    await azurite?.stop();
    azurite = await startEmulator(REGENERATED_KEY1, KEY2);
    instance({ [SETTING.connectionString]: connectionString(KEY2), [SETTING.tokenGeneration]: "1" });
    const afterRenewal = await containerToken();
    expect(await putWith(signedWithKey1)).toBe(403);
    expect(await putWith(signedWithKey2)).toBe(201);
    expect(await putWith(afterRenewal)).toBe(201);
  });
});
