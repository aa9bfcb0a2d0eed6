// Per-upload tokens against a real Azurite: what one token can and cannot do.

import {
  BlobSASPermissions,
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
  generateBlobSASQueryParameters,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import type { UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { issueUploadToken } from "../../function/issuing/tokens";
import { parseSettings } from "../../function/platform/settings";
import { signerFor } from "../../function/signing/signing";
import { accountKeyOf } from "../support/accounts";
import { startTestStack, type TestStack } from "../support/stack";
import { putBlob, statusOf } from "../support/storage";

let stack: TestStack;
let images: ContainerClient;

beforeAll(async () => {
  stack = await startTestStack();
  images = BlobServiceClient.fromConnectionString(stack.connectionString).getContainerClient("images");
});
afterAll(async () => {
  await stack?.stop();
});

async function uploadCredentials(
  filename = "photo.png",
  contentType = "image/png",
): Promise<UploadCredentialsBody> {
  const query = new URLSearchParams({ filename, contentType, size: "1024" });
  const response = await fetch(`${stack.credentialsUrl}?${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as UploadCredentialsBody;
}

/** The stored access policy a token names, as the container holds it. */
async function policyOf(credentials: UploadCredentialsBody): Promise<unknown> {
  const id = new URLSearchParams(credentials.sasKey).get("si");
  const policies = (await images.getAccessPolicy()).signedIdentifiers;
  return policies.find((policy) => policy.id === id)?.accessPolicy;
}

describe("a per-upload token", () => {
  test("uploads its blob in a single PUT", async () => {
    const credentials = await uploadCredentials();
    const bytes = Buffer.from("\x89PNG single put");
    expect(await putBlob(`${credentials.blobUrl}?${credentials.sasKey}`, bytes)).toBe(201);
    const blob = images.getBlobClient(credentials.blobName);
    expect((await blob.downloadToBuffer()).equals(bytes)).toBe(true);
    expect((await blob.getProperties()).contentType).toBe("image/png");
  });

  test("uploads its blob in several blocks", async () => {
    const credentials = await uploadCredentials("big.jpg", "image/jpeg");
    expect(await policyOf(credentials)).toEqual({ permissions: "w" });
    const data = Buffer.alloc(5 * 1024 * 1024 + 17, 3);
    const blob = new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`);
    await blob.uploadData(data, {
      blockSize: 1024 * 1024,
      maxSingleShotSize: 1024 * 1024,
      concurrency: 3,
      blobHTTPHeaders: { blobContentType: "image/jpeg" },
    });
    const stored = images.getBlockBlobClient(credentials.blobName);
    expect((await stored.getBlockList("committed")).committedBlocks?.length).toBe(6);
    expect((await stored.downloadToBuffer()).equals(data)).toBe(true);
  });

  test("cannot write any other blob name", async () => {
    const credentials = await uploadCredentials();
    const other = `${credentials.url}/${credentials.container}/someone-else.png?${credentials.sasKey}`;
    expect(await putBlob(other, "x")).toBe(403);
    await expect(images.getBlobClient("someone-else.png").exists()).resolves.toBe(false);
  });

  test("cannot read or delete its blob, or list the container", async () => {
    const credentials = await uploadCredentials();
    const url = `${credentials.blobUrl}?${credentials.sasKey}`;
    expect(await putBlob(url, "first")).toBe(201);
    const blob = new BlockBlobClient(url);
    expect(await statusOf(blob.downloadToBuffer())).toBe(403);
    expect(await statusOf(blob.getProperties())).toBe(403);
    expect(await statusOf(blob.delete())).toBe(403);
    const container = new ContainerClient(
      `${credentials.url}/${credentials.container}?${credentials.sasKey}`,
    );
    expect(await statusOf(container.listBlobsFlat().next())).toBe(403);
    expect((await images.getBlobClient(credentials.blobName).downloadToBuffer()).toString()).toBe("first");
  });

  test("needs write for blocks: the same token with create alone cannot stage a block", async () => {
    const credentials = await uploadCredentials();
    const fields = new URLSearchParams(credentials.sasKey);
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const createOnly = generateBlobSASQueryParameters(
      {
        containerName: credentials.container,
        blobName: credentials.blobName,
        permissions: BlobSASPermissions.parse("c"),
        expiresOn: new Date(credentials.expiresOn),
        protocol: settings.uploads.protocol,
        version: fields.get("sv") ?? undefined,
      },
      accountKeyOf(settings),
    ).toString();
    const blockId = Buffer.from("block-0").toString("base64");
    const withCreate = new BlockBlobClient(`${credentials.blobUrl}?${createOnly}`);
    expect(await statusOf(withCreate.stageBlock(blockId, "x", 1))).toBe(403);
    const withWrite = new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`);
    expect(await statusOf(withWrite.stageBlock(blockId, "x", 1))).toBe(200);
  });

  // Azurite ignores a token's own expiry when its policy is set (test/integration/revocation.test.ts), so
  // the refusal itself is checked in test/unit/tokens.test.ts; here, that nothing but the token's `se`
  // bounds it: the stored policy it names has no start or expiry.
  test("expires by its own expiry: the stored policy it names carries the permission alone", async () => {
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const expired = await issueUploadToken(
      settings,
      signerFor(settings),
      new Date(Date.now() - 20 * 60_000),
      {
        extension: "png",
      },
    );
    expect(Date.parse(new URLSearchParams(expired.sasKey).get("se") ?? "")).toBeLessThan(Date.now());
    expect(await policyOf(expired)).toEqual({ permissions: "w" });
    const fresh = await issueUploadToken(settings, signerFor(settings), new Date(), { extension: "png" });
    expect(await putBlob(`${fresh.blobUrl}?${fresh.sasKey}`, "on time")).toBe(201);
  });

  // Azurite accepts `sip` but does not enforce it, so only the accepted side can be checked here.
  test("bound to the caller's address still uploads", async () => {
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const here = await issueUploadToken(
      settings,
      signerFor(settings),
      new Date(),
      { extension: "png" },
      { clientIp: "127.0.0.1" },
    );
    expect(await putBlob(`${here.blobUrl}?${here.sasKey}`, "x")).toBe(201);
  });

  test("two requests never get the same blob name", async () => {
    const names = await Promise.all(
      Array.from({ length: 20 }, () => uploadCredentials().then((c) => c.blobName)),
    );
    expect(new Set(names).size).toBe(20);
  });
});

describe("refused requests over HTTP", () => {
  test("a disallowed type is a 400 with a JSON error and no token", async () => {
    const response = await fetch(`${stack.credentialsUrl}?filename=page.html&contentType=text/html`);
    expect(response.status).toBe(400);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({
      error:
        'contentType "text/html" is not allowed: upload one of image/jpeg, image/png, image/gif, image/webp, image/avif.',
    });
  });
});
