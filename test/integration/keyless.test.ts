// Keyless signing against a real Azurite over HTTPS with `--oauth basic`: tokens signed with a user
// delegation key the function got with its (stand-in) Entra ID identity, and what storage refuses.

import { readFile } from "node:fs/promises";
import { request } from "node:https";
import {
  BlobSASPermissions,
  BlobServiceClient,
  BlockBlobClient,
  type ContainerClient,
  generateBlobSASQueryParameters,
  SASProtocol,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import type { CredentialsBody, UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { instance } from "../../function/platform/instance";
import { USER_DELEGATION_SAS_VERSION } from "../../function/signing/signing";
import { EMULATOR_ACCOUNT, EMULATOR_KEY } from "../../local/azurite";
import { LOCAL_IDENTITY, localIdentityCredential } from "../../local/localIdentity";
import { runNpmStart, startTestStack, type TestStack } from "../support/stack";
import { putBlob, statusOf } from "../support/storage";

let stack: TestStack;
let images: ContainerClient;

beforeAll(async () => {
  stack = await startTestStack({}, { signing: "identity" });
  images = BlobServiceClient.fromConnectionString(stack.connectionString).getContainerClient("images");
});
afterAll(async () => {
  await stack?.stop();
});

async function credentials<T extends CredentialsBody>(query = ""): Promise<T> {
  const response = await fetch(`${stack.credentialsUrl}${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

const uploadQuery = (size = 1024) =>
  `?${new URLSearchParams({ filename: "photo.png", contentType: "image/png", size: String(size) })}`;

describe("keyless settings", () => {
  // The issuance limits' table is on another account (the runtime's); locally it is Azurite's table
  // service, reached with the emulator's key, so its setting is left out here.
  test("hold the uploads account's URL and no account key", () => {
    // The runtime account's connections (the limits' table, the check's queue and table) are Azurite
    // connection strings here and identity-based in Azure; what must hold no key is the uploads account's.
    const { [SETTING.limitsStorage]: _, [SETTING.validationStorage]: __, ...uploadSettings } = instance().env;
    const values = Object.values(uploadSettings).join("\n");
    expect(instance().env[SETTING.connectionString]).toBeUndefined();
    expect(instance().env[SETTING.accountUrl]).toBe(stack.blobServiceUrl);
    expect(values).not.toContain("AccountKey");
    expect(values).not.toContain(EMULATOR_KEY);
    const settings = instance().settings();
    expect(settings.uploads.mode).toBe("identity");
    expect(instance().signer().mode).toBe("identity");
    expect(stack.blobServiceUrl.startsWith("https://127.0.0.1:")).toBe(true);
  });
});

describe("a keyless token", () => {
  test("is a user delegation SAS of the pinned version, naming the function's identity and no policy", async () => {
    const token = new URLSearchParams((await credentials<UploadCredentialsBody>(uploadQuery())).sasKey);
    expect(token.get("sv")).toBe(USER_DELEGATION_SAS_VERSION);
    expect(token.get("skoid")).toBe(LOCAL_IDENTITY.objectId);
    expect(token.get("sktid")).toBe(LOCAL_IDENTITY.tenantId);
    expect(token.get("sp")).toBe("w");
    expect(token.get("spr")).toBe("https");
    expect(token.has("si")).toBe(false);
    expect(token.has("st")).toBe(false);
  });

  test("for one upload writes its blob in several blocks through the SDK", async () => {
    const upload = await credentials<UploadCredentialsBody>(uploadQuery(3 * 1024 * 1024));
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    await new BlockBlobClient(`${upload.blobUrl}?${upload.sasKey}`).uploadData(data, {
      blockSize: 1024 * 1024,
      maxSingleShotSize: 1024 * 1024,
    });
    const stored = images.getBlockBlobClient(upload.blobName);
    expect((await stored.getBlockList("committed")).committedBlocks?.length).toBe(4);
    expect((await stored.downloadToBuffer()).equals(data)).toBe(true);
  });

  test("for the container creates a blob in one PUT, and cannot read it back", async () => {
    const container = await credentials();
    expect(new URLSearchParams(container.sasKey).get("sp")).toBe("c");
    const url = `${container.url}/${container.container}/keyless.png?${container.sasKey}`;
    expect(await putBlob(url, "keyless")).toBe(201);
    expect(await statusOf(new BlockBlobClient(url).downloadToBuffer())).toBe(403);
    expect((await images.getBlobClient("keyless.png").downloadToBuffer()).toString()).toBe("keyless");
  });

  test.each([
    ["another object id (skoid)", "skoid", "00000000-0000-4000-8000-000000000bad"],
    ["another signature (sig)", "sig", Buffer.alloc(32, 1).toString("base64")],
  ])("is refused with %s", async (_, field, value) => {
    const upload = await credentials<UploadCredentialsBody>(uploadQuery());
    const changed = new URLSearchParams(upload.sasKey);
    changed.set(field, value);
    expect(await putBlob(`${upload.blobUrl}?${changed}`, "x")).toBe(403);
    expect(await putBlob(`${upload.blobUrl}?${upload.sasKey}`, "x")).toBe(201);
  });

  test("is refused by Azurite when signed with the SDK's default version instead of the pinned one", async () => {
    const service = new BlobServiceClient(stack.blobServiceUrl, localIdentityCredential());
    const key = await service.getUserDelegationKey(
      new Date(Date.now() - 60_000),
      new Date(Date.now() + 3600_000),
    );
    const sign = (name: string, version?: string) =>
      generateBlobSASQueryParameters(
        {
          containerName: "images",
          blobName: name,
          permissions: BlobSASPermissions.from({ write: true }),
          expiresOn: new Date(Date.now() + 600_000),
          version,
        },
        key,
        EMULATOR_ACCOUNT,
      ).toString();
    const base = `${stack.blobServiceUrl}/images`;
    const sdkDefault = sign("default.png");
    expect(new URLSearchParams(sdkDefault).get("sv")).not.toBe(USER_DELEGATION_SAS_VERSION);
    expect(await putBlob(`${base}/default.png?${sdkDefault}`, "x")).toBe(403);
    expect(await putBlob(`${base}/pinned.png?${sign("pinned.png", USER_DELEGATION_SAS_VERSION)}`, "x")).toBe(
      201,
    );
  });

  test("is refused once the key that signed it has expired, though the token itself has not", async () => {
    const service = new BlobServiceClient(stack.blobServiceUrl, localIdentityCredential());
    const hour = 60 * 60_000;
    const sign = async (keyStartsOn: number, keyExpiresOn: number, name: string) =>
      generateBlobSASQueryParameters(
        {
          containerName: "images",
          blobName: name,
          permissions: BlobSASPermissions.from({ write: true }),
          expiresOn: new Date(Date.now() + hour),
          protocol: SASProtocol.Https,
          version: USER_DELEGATION_SAS_VERSION,
        },
        await service.getUserDelegationKey(new Date(keyStartsOn), new Date(keyExpiresOn)),
        EMULATOR_ACCOUNT,
      ).toString();
    const base = `${stack.blobServiceUrl}/images`;
    const expiredKey = await sign(Date.now() - 3 * hour, Date.now() - hour, "late.png");
    expect(await putBlob(`${base}/late.png?${expiredKey}`, "x")).toBe(403);
    const liveKey = await sign(Date.now() - hour, Date.now() + 2 * hour, "on-time.png");
    expect(await putBlob(`${base}/on-time.png?${liveKey}`, "x")).toBe(201);
  });
});

/** A Put Blob over HTTPS trusting `ca` alone: this process does not trust npm start's own certificate. */
function putTrusting(ca: Buffer, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const put = request(
      url,
      { method: "PUT", ca, headers: { "x-ms-blob-type": "BlockBlob" } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    put.on("error", reject);
    put.end(body);
  });
}

describe("VALET_SIGNING=identity npm start", () => {
  test("runs the stack keyless, names the certificate to accept, and its tokens upload", async () => {
    const started = await runNpmStart({ VALET_SIGNING: "identity" });
    try {
      const output = started.output();
      expect(output).toContain("keyless (user delegation key)");
      const certPath = /certificate\s+(\S+cert\.pem)/.exec(output)?.[1];
      expect(output).toMatch(/--ignore-certificate-errors-spki-list=[A-Za-z0-9+/]{43}=/);
      const query = new URLSearchParams({ filename: "a.png", contentType: "image/png", size: "5" });
      const response = await fetch(`${started.credentialsUrl}?${query}`);
      const upload = (await response.json()) as UploadCredentialsBody;
      expect(new URLSearchParams(upload.sasKey).get("sv")).toBe(USER_DELEGATION_SAS_VERSION);
      expect(upload.blobUrl.startsWith("https://127.0.0.1:")).toBe(true);
      const ca = await readFile(certPath ?? "");
      expect(await putTrusting(ca, `${upload.blobUrl}?${upload.sasKey}`, "hello")).toBe(201);
    } finally {
      expect(await started.stop()).toBe(0);
    }
  });
});
