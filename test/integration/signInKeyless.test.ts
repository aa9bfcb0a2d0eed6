// Sign-in with keyless signing: the owner's read URL is a user delegation SAS, and it reads the verified blob
// from a real Azurite over HTTPS, and nothing else.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { type IssuerStandIn, startIssuerStandIn } from "../../local/issuer";
import { samePixels } from "../support/photos";
import { startTestStack, type TestStack } from "../support/stack";

let issuer: IssuerStandIn;
let stack: TestStack;

beforeAll(async () => {
  issuer = await startIssuerStandIn();
  stack = await startTestStack(
    { [SETTING.authIssuer]: issuer.issuer, [SETTING.authAudience]: issuer.audience },
    { signing: "identity", checkUploads: true },
  );
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await issuer?.stop();
});

test("keyless, the owner's read URL is a user delegation SAS that reads the verified blob and cannot write it", async () => {
  const png = new Uint8Array(await readFile(join(__dirname, "../fixtures/images/pixel.png")));
  const bearer = { Authorization: `Bearer ${issuer.mint("alice")}` };
  const issued = await fetch(
    `${stack.credentialsUrl}?filename=a.png&contentType=image/png&size=${png.length}`,
    { headers: bearer },
  );
  expect(issued.status).toBe(200);
  const { blobUrl, sasKey, blobName } = (await issued.json()) as Record<string, string>;
  const put = await fetch(`${blobUrl}?${sasKey}`, {
    method: "PUT",
    body: png,
    headers: { "x-ms-blob-type": "BlockBlob", "Content-Type": "image/png" },
  });
  expect(put.status).toBe(201);
  await stack.checksSettled();
  const answer = await fetch(`${stack.apiUrl}/images/${blobName}`, { headers: bearer });
  expect(answer.status).toBe(200);
  const { url } = (await answer.json()) as { url: string };
  const sas = new URL(url).searchParams;
  expect([sas.get("sp"), sas.get("sr"), sas.get("spr")]).toEqual(["r", "b", "https"]);
  expect(sas.get("skoid")).not.toBeNull();
  expect(sas.get("si")).toBeNull();
  const read = await fetch(url);
  expect(read.status).toBe(200);
  // The verified blob is the published photo, re-encoded without its metadata: the same pixels as the upload.
  expect(await samePixels(Buffer.from(await read.arrayBuffer()), Buffer.from(png))).toBe(true);
  const write = await fetch(url, { method: "PUT", body: png, headers: { "x-ms-blob-type": "BlockBlob" } });
  expect(write.status).toBe(403);
});
