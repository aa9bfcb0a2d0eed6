// The check of stored uploads when the Event Grid stand-in writes events as plain JSON, the other form
// reported for Event Grid's queue delivery (check.test.ts runs the base64 form): the queue trigger's
// messageEncoding in function/host.json must let both reach the function. One stack per file: the
// function's settings are per process.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, BlockBlobClient } from "@azure/storage-blob";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { CredentialsBody } from "../../function/contract/credentialsProtocol";
import { samePixels } from "../support/photos";
import { startTestStack, type TestStack } from "../support/stack";

const png = readFileSync(join(__dirname, "../fixtures/images/pixel.png"));

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({}, { checkUploads: true, eventMessageForm: "json" });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

test("an upload whose event is plain JSON on the queue is checked and accepted, as a base64 one is", async () => {
  const response = await fetch(stack.credentialsUrl);
  expect(response.status).toBe(200);
  const credentials = (await response.json()) as CredentialsBody;
  await new BlockBlobClient(
    `${credentials.url}/${credentials.container}/plain.png?${credentials.sasKey}`,
  ).upload(png, png.length);
  await stack.checksSettled();
  const blobs = BlobServiceClient.fromConnectionString(stack.connectionString);
  const copy = blobs.getContainerClient(stack.verifiedContainer).getBlobClient("plain.png");
  expect(await samePixels(await copy.downloadToBuffer(), png)).toBe(true);
  expect(stack.logs.filter((line) => line.includes('"event":"function.failed"'))).toEqual([]);
  expect(stack.logs.filter((line) => line.includes('"event":"upload.accepted"'))).toHaveLength(1);
});
