// The contract end to end: a token from the HTTP endpoint against a real Azurite.

import { BlobServiceClient, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import type { CredentialsBody } from "../../function/contract/credentialsProtocol";
import { issueContainerToken } from "../../function/issuing/tokens";
import { parseSettings } from "../../function/platform/settings";
import { signerFor } from "../../function/signing/signing";
import { ALLOWED_ORIGIN, startTestStack, type TestStack } from "../support/stack";
import { putBlob, statusOf } from "../support/storage";

let stack: TestStack;
let service: BlobServiceClient;

beforeAll(async () => {
  stack = await startTestStack();
  service = BlobServiceClient.fromConnectionString(stack.connectionString);
});
afterAll(async () => {
  await stack?.stop();
});

async function fetchCredentials(): Promise<CredentialsBody> {
  const response = await fetch(stack.credentialsUrl);
  expect(response.status).toBe(200);
  return (await response.json()) as CredentialsBody;
}

function blobWithToken(credentials: CredentialsBody, name: string, container = "images"): BlockBlobClient {
  return new BlockBlobClient(`${credentials.url}/${container}/${name}?${credentials.sasKey}`);
}

describe("a container token from /api/credentials", () => {
  test("creates a blob in images that holds the uploaded bytes", async () => {
    const credentials = await fetchCredentials();
    const bytes = Buffer.from("\x89PNG\r\n\x1a\n fake image bytes");
    const status = await fetch(`${credentials.url}/images/photo-1.png?${credentials.sasKey}`, {
      method: "PUT",
      body: bytes,
      headers: { "x-ms-blob-type": "BlockBlob", "Content-Type": "image/png" },
    }).then((r) => r.status);
    expect(status).toBe(201);
    const stored = await service.getContainerClient("images").getBlobClient("photo-1.png").downloadToBuffer();
    expect(stored.equals(bytes)).toBe(true);
  });

  test("creates a blob through the SDK's block upload too", async () => {
    const credentials = await fetchCredentials();
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    await blobWithToken(credentials, "sdk-upload.png").uploadData(data, {
      blockSize: 1024 * 1024,
      concurrency: 2,
    });
    const stored = await service
      .getContainerClient("images")
      .getBlobClient("sdk-upload.png")
      .downloadToBuffer();
    expect(stored.equals(data)).toBe(true);
  });

  test("cannot overwrite, read or delete the blob it created", async () => {
    const credentials = await fetchCredentials();
    const blob = blobWithToken(credentials, "photo-2.png");
    expect(await putBlob(blob.url, "first")).toBe(201);
    expect(await putBlob(blob.url, "second")).toBe(403);
    expect(await statusOf(blob.downloadToBuffer())).toBe(403);
    expect(await statusOf(blob.delete())).toBe(403);
    const stored = await service.getContainerClient("images").getBlobClient("photo-2.png").downloadToBuffer();
    expect(stored.toString()).toBe("first");
  });

  test("cannot stage blocks: multi-block uploads take a per-upload token", async () => {
    const credentials = await fetchCredentials();
    const blob = blobWithToken(credentials, "in-blocks.png");
    expect(await statusOf(blob.stageBlock(Buffer.from("b-0").toString("base64"), "x", 1))).toBe(403);
  });

  test("cannot list the container", async () => {
    const credentials = await fetchCredentials();
    const container = new ContainerClient(`${credentials.url}/images?${credentials.sasKey}`);
    expect(await statusOf(container.listBlobsFlat().next())).toBe(403);
  });

  test("cannot write to another container", async () => {
    await service.getContainerClient("other").createIfNotExists();
    const credentials = await fetchCredentials();
    expect(await putBlob(`${credentials.url}/other/photo.png?${credentials.sasKey}`, "x")).toBe(403);
  });

  test("is refused with an altered signature or permission", async () => {
    const credentials = await fetchCredentials();
    const fields = new URLSearchParams(credentials.sasKey);
    const sig = fields.get("sig") ?? "";
    const badSig = new URLSearchParams(fields);
    badSig.set("sig", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    expect(await putBlob(`${credentials.url}/images/tampered-sig.png?${badSig}`, "x")).toBe(403);
    const moreRights = new URLSearchParams(fields);
    moreRights.set("sp", "cw");
    expect(await putBlob(`${credentials.url}/images/tampered-sp.png?${moreRights}`, "x")).toBe(403);
    // The untouched token still works, so the 403s above come from the changes.
    expect(await putBlob(`${credentials.url}/images/untampered.png?${credentials.sasKey}`, "x")).toBe(201);
  });

  // Azurite ignores a token's own expiry when its policy is set (test/integration/revocation.test.ts), so
  // the refusal itself is checked in test/unit/tokens.test.ts; here, that nothing but the token's `se`
  // bounds it: the stored policy it names has no start or expiry.
  test("expires by its own expiry: the stored policy it names carries the permission alone", async () => {
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const threeHoursAgo = new Date(Date.now() - 3 * 60 * 60 * 1000);
    const expired = await issueContainerToken(settings, signerFor(settings), threeHoursAgo);
    const fields = new URLSearchParams(expired.sasKey);
    expect(Date.parse(fields.get("se") ?? "")).toBeLessThan(Date.now());
    const policies = (await service.getContainerClient("images").getAccessPolicy()).signedIdentifiers;
    expect(policies.find((policy) => policy.id === fields.get("si"))?.accessPolicy).toEqual({
      permissions: "c",
    });
    const fresh = await issueContainerToken(settings, signerFor(settings), new Date());
    expect(await putBlob(`${fresh.url}/images/on-time.png?${fresh.sasKey}`, "x")).toBe(201);
  });
});

describe("blob service CORS", () => {
  async function preflight(origin: string): Promise<Response> {
    return await fetch(`${stack.blobServiceUrl}/images/photo.png`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-ms-blob-type,x-ms-version,x-ms-client-request-id",
      },
    });
  }

  test("accepts a preflight from an allowed origin", async () => {
    const response = await preflight(ALLOWED_ORIGIN);
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(response.headers.get("access-control-allow-methods")).toContain("PUT");
  });

  test("refuses a preflight from another origin", async () => {
    const response = await preflight("https://evil.example.com");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});
