// The photo processing core (function/photos/): refusals, bombs, renditions' names and their metadata form,
// settings, and the memory bound that ties sharp, the queue's batch and the instance size together.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../../function/contract/check";
import { DEFAULT_MAX_UPLOAD_BYTES } from "../../function/contract/issuanceLimits";
import {
  CHECK_BATCH_SIZE,
  CHECK_NEW_BATCH_THRESHOLD,
  fitsInstanceMemory,
  largestFittingPixels,
} from "../../function/contract/photoMemory";
import { parsePhotoSettings } from "../../function/contract/photoSettings";
import { parseQueueTriggerSettings } from "../../function/contract/queueTrigger";
import {
  isRenditionName,
  parseRenditionsMetadata,
  type Rendition,
  renditionName,
  renditionsMetadata,
} from "../../function/photos/names";
import { expectedInflatedBytes, inflatesBeyondHeader } from "../../function/photos/pngInflation";
import { type PhotoRules, processPhoto } from "../../function/photos/process";
import { HOST_QUEUE_BEHAVIOUR } from "../../local/queueRunner";
import { inflatingPng, phoneJpeg } from "../support/photos";

const HOST_JSON = path.join(__dirname, "../../function/host.json");
const rules: PhotoRules = { maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS, photos: parsePhotoSettings({}) };

describe("processing", () => {
  test("HEIC and BMP are refused with a reason naming what is accepted", async () => {
    for (const type of ["image/heic", "image/bmp"] as const) {
      const result = await processPhoto(Buffer.from("not read"), type, "a", rules);
      expect(result).toEqual({
        accepted: false,
        code: "notProcessable",
        reason: `${type} images cannot be cleaned of their metadata here: upload a JPEG, PNG, WebP, GIF or AVIF`,
      });
    }
  });

  test("an image over the pixel cap is refused before it is decoded", async () => {
    const result = await processPhoto(await phoneJpeg(400, 300), "image/jpeg", "a.jpg", {
      ...rules,
      maxImagePixels: 400 * 300 - 1,
    });
    expect(result).toMatchObject({ accepted: false, code: "tooManyPixels" });
  });

  test("a JPEG cut short is refused as undecodable, with the decoder's reason", async () => {
    const jpeg = await phoneJpeg(400, 300);
    const result = await processPhoto(jpeg.subarray(0, jpeg.length - 200), "image/jpeg", "a.jpg", rules);
    expect(result).toMatchObject({ accepted: false, code: "undecodable" });
    expect(result.accepted ? "" : result.reason).toMatch(/^the JPEG image cannot be decoded: \S/);
  });

  test("an image with transparency gets PNG fallbacks beside WebP, and is never enlarged", async () => {
    const png = await sharp({ create: { width: 40, height: 20, channels: 4, background: "#ff000080" } })
      .png()
      .toBuffer();
    const result = await processPhoto(png, "image/png", "t.png", rules);
    if (!result.accepted) throw new Error(result.reason);
    expect(result.renditions.map((r) => [r.name, r.width, r.height, r.contentType])).toEqual([
      ["t.png.feed.webp", 40, 20, "image/webp"],
      ["t.png.feed.png", 40, 20, "image/png"],
      ["t.png.thumb.webp", 40, 20, "image/webp"],
      ["t.png.thumb.png", 40, 20, "image/png"],
    ]);
    expect((await sharp(result.image.bytes).metadata()).hasAlpha).toBe(true);
  });

  test("an animated GIF keeps its frames", async () => {
    // Two frames of 10 × 10 (grey, then black: identical frames would be merged), stacked in one 10 × 20 image.
    const pixels = Buffer.alloc(10 * 20 * 3);
    pixels.fill(200, 0, 10 * 10 * 3);
    const input = await sharp(pixels, { raw: { width: 10, height: 20, channels: 3, pageHeight: 10 } })
      .gif({ delay: [100, 100], loop: 0 })
      .toBuffer();
    expect((await sharp(input, { animated: true }).metadata()).pages).toBe(2);
    const result = await processPhoto(input, "image/gif", "a.gif", rules);
    if (!result.accepted) throw new Error(result.reason);
    expect((await sharp(result.image.bytes, { animated: true }).metadata()).pages).toBe(2);
    expect([result.image.width, result.image.height]).toEqual([10, 10]);
  });
});

describe("PNG bombs", () => {
  test("image data that inflates far past the header's rows is found, and ordinary PNGs are not", async () => {
    expect(await inflatesBeyondHeader(inflatingPng())).toBe(true);
    const plain = await sharp({ create: { width: 33, height: 17, channels: 3, background: "red" } })
      .png()
      .toBuffer();
    const interlaced = await sharp(plain).png({ progressive: true }).toBuffer();
    const deep = await sharp(plain).toColourspace("rgb16").png().toBuffer();
    for (const png of [plain, interlaced, deep]) expect(await inflatesBeyondHeader(png)).toBe(false);
    // 33 × 17 RGB: 17 rows of a filter byte and 99 bytes.
    expect(expectedInflatedBytes(plain)).toBe(17 * 100);
  });

  test("the bomb is refused by processing, whatever the pixel cap", async () => {
    const result = await processPhoto(inflatingPng(), "image/png", "b.png", rules);
    expect(result).toMatchObject({ accepted: false, code: "undecodable" });
  });
});

describe("rendition names", () => {
  test("keep the whole upload name, and are reserved", () => {
    expect(renditionName("abc.png", "thumb", "webp")).toBe("abc.png.thumb.webp");
    for (const name of ["abc.png.thumb.webp", "x.feed.JPG", "a.thumb.png"])
      expect(isRenditionName(name)).toBe(true);
    for (const name of ["abc.png", "thumb.webp", "a.feed.gif", "feed.webp.jpg"])
      expect(isRenditionName(name)).toBe(false);
  });

  test("round-trip through the ASCII metadata form, whatever the upload's name", () => {
    const blobName = "été/photo 1.jpg";
    const renditions: Rendition[] = [
      {
        name: `${blobName}.feed.webp`,
        kind: "feed",
        width: 1600,
        height: 1200,
        contentType: "image/webp",
        bytes: 52_341,
      },
      {
        name: `${blobName}.thumb.jpg`,
        kind: "thumb",
        width: 320,
        height: 240,
        contentType: "image/jpeg",
        bytes: 9_120,
      },
    ];
    const text = renditionsMetadata(renditions, blobName);
    expect(text).toBe("feed.webp:1600x1200:52341,thumb.jpg:320x240:9120");
    expect(parseRenditionsMetadata(text, blobName)).toEqual(renditions);
    expect(parseRenditionsMetadata("../x:1x1:1,thumb.svg:1x1:1", blobName)).toEqual([]);
  });
});

describe("settings", () => {
  test("default to 1600 and 320 pixels, quality 90 and 80", () => {
    expect(parsePhotoSettings({})).toEqual({
      quality: 90,
      renditionQuality: 80,
      feedSize: 1600,
      thumbnailSize: 320,
    });
  });

  test("a bad value names the setting and its range", () => {
    expect(() => parsePhotoSettings({ [SETTING.thumbnailSize]: "8" })).toThrow(
      "PHOTO_THUMBNAIL_SIZE must be a whole number of pixels from 16 to 8192 (default 320).",
    );
  });
});

describe("memory", () => {
  test("host.json's queue batch is the one the memory bound assumes, and the local runner takes it", () => {
    const queues = JSON.parse(readFileSync(HOST_JSON, "utf8")).extensions.queues;
    expect(queues.batchSize).toBe(CHECK_BATCH_SIZE);
    expect(queues.newBatchThreshold).toBe(CHECK_NEW_BATCH_THRESHOLD);
    expect(HOST_QUEUE_BEHAVIOUR.batchSize).toBe(CHECK_BATCH_SIZE);
    expect(parseQueueTriggerSettings({ extensions: { queues: { batchSize: 7 } } }).batchSize).toBe(7);
    expect(() => parseQueueTriggerSettings({ extensions: { queues: { batchSize: 64 } } })).toThrow(
      "batchSize must be a whole number from 1 to 32",
    );
  });

  test("the default caps fit the default 2048 MB instance, not a 512 MB one", () => {
    expect(fitsInstanceMemory(2048, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_UPLOAD_BYTES)).toBe(true);
    expect(fitsInstanceMemory(4096, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_UPLOAD_BYTES)).toBe(true);
    expect(fitsInstanceMemory(512, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_UPLOAD_BYTES)).toBe(false);
    const largest = largestFittingPixels(512, DEFAULT_MAX_UPLOAD_BYTES);
    expect(fitsInstanceMemory(512, largest, DEFAULT_MAX_UPLOAD_BYTES)).toBe(true);
    expect(fitsInstanceMemory(512, largest + 1, DEFAULT_MAX_UPLOAD_BYTES)).toBe(false);
  });
});
