// Photos through the local stack: uploaded with a token, checked by the queue function, and read back from
// the verified container. What a phone writes into a photo (GPS, serial, owner, XMP, text chunks) must be gone,
// parsed rather than grepped; the pixels upright; the colour profile kept; the renditions at the sizes asked.

import { BlobServiceClient, BlockBlobClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import type { UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import {
  commentedGif,
  gifExtensionLabels,
  inflatingPng,
  metadataOf,
  phoneJpeg,
  phoneWebp,
  pngChunkTypes,
  taggedPng,
  topAndBottom,
} from "../support/photos";
import { startTestStack, type TestStack } from "../support/stack";

let stack: TestStack;
let service: BlobServiceClient;
const verified = () => service.getContainerClient(stack.verifiedContainer);

beforeAll(async () => {
  stack = await startTestStack(
    { [SETTING.feedSize]: "200", [SETTING.thumbnailSize]: "64" },
    { checkUploads: true, queueBehaviour: { maxPollingIntervalMs: 200 } },
  );
  service = BlobServiceClient.fromConnectionString(stack.connectionString);
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

async function upload(bytes: Buffer, contentType: string, extension: string): Promise<string> {
  const query = new URLSearchParams({
    filename: `photo.${extension}`,
    contentType,
    size: String(bytes.length),
  });
  const response = await fetch(`${stack.credentialsUrl}?${query}`);
  expect(response.status).toBe(200);
  const credentials = (await response.json()) as UploadCredentialsBody;
  await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(bytes, bytes.length, {
    blobHTTPHeaders: { blobContentType: contentType },
  });
  await stack.checksSettled();
  return credentials.blobName;
}

async function statusBody(blobName: string): Promise<Record<string, unknown>> {
  return (await (await fetch(stack.statusUrl(blobName))).json()) as Record<string, unknown>;
}

const RED = [220, 0, 0];
const BLUE = [0, 0, 220];
/** Red on top, blue below, each channel within `tolerance` (lossy formats move colours a little). */
async function expectUpright(image: Buffer, tolerance = 24): Promise<void> {
  const { top, bottom } = await topAndBottom(image);
  for (let channel = 0; channel < 3; channel++) {
    expect(Math.abs((top[channel] ?? 0) - (RED[channel] ?? 0))).toBeLessThan(tolerance);
    expect(Math.abs((bottom[channel] ?? 0) - (BLUE[channel] ?? 0))).toBeLessThan(tolerance);
  }
}

describe("a phone's portrait JPEG", () => {
  let blobName: string;
  beforeAll(async () => {
    const original = await phoneJpeg(400, 300);
    // The fixture really carries what must go: GPS, the serial, the owner, XMP, Orientation 6.
    const before = await metadataOf(original);
    expect(before.exif?.GPSInfo?.GPSLatitude).toBeDefined();
    expect(before.exif?.Photo?.BodySerialNumber).toBe("SN-4242-SECRET");
    expect(before.xmp).toBeDefined();
    expect(before.orientation).toBe(6);
    blobName = await upload(original, "image/jpeg", "jpg");
  }, 60_000);

  test("reaches the verified container without EXIF, XMP or IPTC, upright, with its Display P3 profile", async () => {
    const stored = await verified().getBlobClient(blobName).downloadToBuffer();
    const after = await metadataOf(stored);
    expect(after.format).toBe("jpeg");
    expect(after.exif?.GPSInfo).toBeUndefined();
    expect(after.exif?.Photo?.BodySerialNumber).toBeUndefined();
    expect(after.exif?.Image?.Artist).toBeUndefined();
    expect(after.exif).toBeUndefined();
    expect(after.xmp).toBeUndefined();
    expect(after.iptc).toBeUndefined();
    // No Orientation tag to contradict the pixels: they are turned, 300 wide and 400 tall, red on top.
    expect(after.orientation).toBeUndefined();
    expect([after.width, after.height]).toEqual([300, 400]);
    await expectUpright(stored);
    expect(after.iccDescription).toContain("P3");
  });

  test("has its renditions at the sizes asked, never enlarged, listed by the status endpoint", async () => {
    const body = await statusBody(blobName);
    expect(body.state).toBe("accepted");
    const renditions = body.renditions as {
      name: string;
      width: number;
      height: number;
      contentType: string;
      bytes: number;
    }[];
    expect(renditions.map((r) => [r.name, r.width, r.height, r.contentType])).toEqual([
      [`${blobName}.feed.webp`, 150, 200, "image/webp"],
      [`${blobName}.feed.jpg`, 150, 200, "image/jpeg"],
      [`${blobName}.thumb.webp`, 48, 64, "image/webp"],
      [`${blobName}.thumb.jpg`, 48, 64, "image/jpeg"],
    ]);
    for (const rendition of renditions) {
      const blob = verified().getBlobClient(rendition.name);
      const properties = await blob.getProperties();
      expect(properties.contentType).toBe(rendition.contentType);
      expect(properties.contentLength).toBe(rendition.bytes);
      const bytes = await blob.downloadToBuffer();
      const meta = await metadataOf(bytes);
      expect([meta.width, meta.height]).toEqual([rendition.width, rendition.height]);
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      await expectUpright(bytes, 40);
    }
  });

  test("its renditions, and only they, are served by the function while the verified container stays private", async () => {
    const api = stack.credentialsUrl.replace(/\/credentials$/, "");
    const thumbnail = `${blobName}.thumb.webp`;
    const served = await fetch(`${api}/renditions/${thumbnail}`);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/webp");
    expect(served.headers.get("x-content-type-options")).toBe("nosniff");
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(bytes.equals(await verified().getBlobClient(thumbnail).downloadToBuffer())).toBe(true);
    // The verified image itself is not a rendition: refused by its name, whatever exists.
    const primary = await fetch(`${api}/renditions/${blobName}`);
    expect(primary.status).toBe(400);
    expect((await primary.json()).error).toMatch(/must be a rendition's/);
    expect((await fetch(`${api}/renditions/never.jpg.thumb.webp`)).status).toBe(404);
    // Anonymous reads of the verified container are refused: it has no public access.
    expect((await fetch(verified().getBlobClient(thumbnail).url)).status).not.toBe(200);
  });
});

test("a PNG loses its eXIf and text chunks, keeps its iCCP, and is turned upright", async () => {
  const original = await taggedPng();
  expect(pngChunkTypes(original)).toEqual(expect.arrayContaining(["eXIf", "tEXt", "iTXt", "iCCP"]));
  const blobName = await upload(original, "image/png", "png");
  const stored = await verified().getBlobClient(blobName).downloadToBuffer();
  const chunks = pngChunkTypes(stored);
  expect(chunks).toContain("iCCP");
  for (const personal of ["eXIf", "tEXt", "iTXt", "zTXt", "tIME"]) expect(chunks).not.toContain(personal);
  const after = await metadataOf(stored);
  expect(after.exif).toBeUndefined();
  expect([after.width, after.height]).toEqual([80, 120]);
  // Lossless: the colours are the very ones uploaded.
  await expectUpright(stored, 3);
});

test("a WebP loses its EXIF and XMP and is turned upright", async () => {
  const original = await phoneWebp();
  expect((await metadataOf(original)).exif?.GPSInfo).toBeDefined();
  const blobName = await upload(original, "image/webp", "webp");
  const stored = await verified().getBlobClient(blobName).downloadToBuffer();
  const after = await metadataOf(stored);
  expect(after.format).toBe("webp");
  expect(after.exif).toBeUndefined();
  expect(after.xmp).toBeUndefined();
  expect([after.width, after.height]).toEqual([100, 200]);
  await expectUpright(stored);
});

test("a GIF loses its comment and keeps its pixels", async () => {
  const original = await commentedGif();
  expect(gifExtensionLabels(original)).toContain(0xfe);
  const blobName = await upload(original, "image/gif", "gif");
  const stored = await verified().getBlobClient(blobName).downloadToBuffer();
  expect(stored.subarray(0, 6).toString("latin1")).toMatch(/^GIF8[79]a$/);
  expect(gifExtensionLabels(stored)).not.toContain(0xfe);
  expect((await metadataOf(stored)).width).toBe(60);
});

test("a PNG whose image data inflates far beyond its header is rejected and never reaches the verified container", async () => {
  const bomb = inflatingPng();
  expect(bomb.length).toBeLessThan(128 * 1024);
  const blobName = await upload(bomb, "image/png", "png");
  expect(await verified().getBlobClient(blobName).exists()).toBe(false);
  expect(await verified().getBlobClient(`${blobName}.thumb.webp`).exists()).toBe(false);
  expect(await statusBody(blobName)).toEqual({
    blobName,
    state: "rejected",
    reason:
      "the PNG's compressed data inflates to far more than its dimensions need: it is a decompression bomb",
  });
});

test("an upload named like another upload's rendition is refused unread", async () => {
  const name = "someone.jpg.thumb.webp";
  const bytes = await phoneWebp();
  const inbox = service.getContainerClient(stack.container).getBlockBlobClient(name);
  await inbox.upload(bytes, bytes.length);
  await stack.checksSettled();
  expect(await verified().getBlobClient(name).exists()).toBe(false);
  expect(await statusBody(name)).toMatchObject({
    state: "rejected",
    reason: expect.stringContaining("rendition"),
  });
});
