// The upload page in headless Chromium against local stacks that check what is stored: each upload's row
// says "Checking…", then "Verified" or "Rejected: <reason>", and storage agrees with what it says.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { crc32 } from "node:zlib";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  launchChromium,
  type PageStack,
  pngImage,
  recordStorageRequests,
  settledRow,
  startPageStack,
} from "../support/browser";
import { metadataOf, phoneJpeg, samePixels, topAndBottom } from "../support/photos";
import { trustedCertificate } from "../support/tls";

const PIXEL_PNG = resolve("test/fixtures/images/pixel.png");

let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  // One browser for both stacks: trusting the keyless stack's certificate changes nothing for plain HTTP.
  const certificate = await trustedCertificate();
  browser = await launchChromium({ trustSpki: certificate.spkiSha256 });
});
afterAll(async () => {
  await browser?.close();
});
beforeEach(async () => {
  context = await browser.newContext();
});
afterEach(async () => {
  await context?.close();
});

/** The page of `stack`, ready for files. */
async function openPage(stack: PageStack): Promise<Page> {
  const page = await context.newPage();
  await page.goto(stack.pageUrl);
  await page.locator("#file-input:enabled").waitFor();
  // Every verification line any row shows, in order, so that "Checking…" is seen however short it lasts.
  await page.evaluate(() => {
    const shown: string[] = [];
    (window as unknown as { verificationLines: string[] }).verificationLines = shown;
    new MutationObserver(() => {
      for (const line of document.querySelectorAll(".upload-verification")) {
        const text = `${line.closest("li.upload")?.querySelector(".upload-name")?.textContent}: ${line.textContent}`;
        if (!shown.includes(text)) shown.push(text);
      }
    }).observe(document.getElementById("uploads") as HTMLElement, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  return page;
}

/** What one file's row says of the check once it has a verdict (or has given up asking). */
async function verifiedRow(
  page: Page,
  fileName: string,
): Promise<{ verification: string; text: string; blobName: string; linesShown: string[] }> {
  const { state, blobName } = await settledRow(page, fileName);
  expect(state).toBe("done");
  const row = page.locator("li.upload", { has: page.locator(".upload-name", { hasText: fileName }) });
  await row
    .and(
      page.locator(
        ":is([data-verification=verified], [data-verification=rejected], [data-verification=unconfirmed])",
      ),
    )
    .waitFor({ timeout: 45_000 });
  const linesShown = await page.evaluate(
    () => (window as unknown as { verificationLines: string[] }).verificationLines,
  );
  return {
    verification: (await row.getAttribute("data-verification")) ?? "",
    text: (await row.locator(".upload-verification").textContent()) ?? "",
    blobName: blobName ?? "",
    linesShown: linesShown
      .filter((line) => line.startsWith(`${fileName}: `))
      .map((line) => line.slice(fileName.length + 2)),
  };
}

function containers(stack: PageStack): { inbox: ContainerClient; verified: ContainerClient } {
  // Azurite's account-key connection string, in either signing mode: this looks, the page and function act.
  const service = BlobServiceClient.fromConnectionString(stack.connectionString);
  return { inbox: stack.images, verified: service.getContainerClient(stack.verifiedContainer) };
}

/**
 * Once the checks are done, the verified container holds the pixels of `bytes` as a PNG under the name (a
 * lossless re-encode without metadata), and the inbox nothing.
 */
async function expectOnlyVerified(stack: PageStack, blobName: string, bytes: Buffer): Promise<void> {
  await stack.checksSettled();
  const { inbox, verified } = containers(stack);
  const copy = verified.getBlobClient(blobName);
  expect(await samePixels(await copy.downloadToBuffer(), bytes)).toBe(true);
  expect((await copy.getProperties()).contentType).toBe("image/png");
  expect(await inbox.getBlobClient(blobName).exists()).toBe(false);
}

/**
 * A valid PNG of more than `extraBytes`: a small image with a private ancillary chunk of random bytes, which
 * decoders skip (PNG 5.4: a lowercase first letter marks a chunk as ancillary, lowercase second as private).
 * https://www.w3.org/TR/png-3/#5Chunk-naming-conventions
 */
function largePng(extraBytes: number): Buffer {
  const png = pngImage(32, 32);
  const afterHeader = 8 + 12 + 13; // signature, then IHDR's length, type, data and CRC
  const typeAndData = Buffer.concat([Buffer.from("vaLt", "ascii"), randomBytes(extraBytes)]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(extraBytes);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([png.subarray(0, afterHeader), length, typeAndData, crc, png.subarray(afterHeader)]);
}

describe("the upload page, with stored uploads checked", () => {
  let stack: PageStack;
  beforeAll(async () => {
    stack = await startPageStack({ checkUploads: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("shows a real PNG as Verified, and the verified container holds its pixels as image/png", async () => {
    const page = await openPage(stack);
    const png = await readFile(PIXEL_PNG);
    await page.getByLabel("Choose images").setInputFiles(PIXEL_PNG);

    const row = await verifiedRow(page, "pixel.png");
    expect(row).toMatchObject({ verification: "verified", text: "Verified" });
    expect(row.linesShown).toEqual(["Checking…", "Verified"]);
    await expectOnlyVerified(stack, row.blobName, png);
  });

  test("a phone's portrait photo is stored upright without its GPS, and the row shows its thumbnail", async () => {
    const page = await openPage(stack);
    const photo = await phoneJpeg(400, 300);
    expect((await metadataOf(photo)).exif?.GPSInfo).toBeDefined();
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "portrait.jpg", mimeType: "image/jpeg", buffer: photo });

    const row = await verifiedRow(page, "portrait.jpg");
    expect(row).toMatchObject({ verification: "verified", text: "Verified" });
    const thumbnail = page
      .locator("li.upload", { has: page.locator(".upload-name", { hasText: "portrait.jpg" }) })
      .locator(".upload-thumbnail img");
    await thumbnail.waitFor();
    // Loaded and decoded by the browser, from the WebP source: upright (taller than wide), at the thumbnail size.
    await page.waitForFunction(
      (image) => (image as HTMLImageElement).complete && (image as HTMLImageElement).naturalWidth > 0,
      await thumbnail.elementHandle(),
    );
    const shown = await thumbnail.evaluate((image: HTMLImageElement) => ({
      width: image.naturalWidth,
      height: image.naturalHeight,
      source: image.currentSrc,
      alt: image.alt,
    }));
    expect(shown).toEqual({
      width: 240,
      height: 320,
      source: expect.stringMatching(
        new RegExp(`/api/renditions/${row.blobName.replace(".", "\\.")}\\.thumb\\.webp$`),
      ),
      alt: "Thumbnail of portrait.jpg",
    });

    await stack.checksSettled();
    const stored = await containers(stack).verified.getBlobClient(row.blobName).downloadToBuffer();
    const after = await metadataOf(stored);
    expect(after.exif).toBeUndefined();
    expect([after.width, after.height]).toEqual([300, 400]);
    const { top, bottom } = await topAndBottom(stored);
    expect(top[0]).toBeGreaterThan(150);
    expect(bottom[2]).toBeGreaterThan(150);
  });

  test("shows HTML saved as a .png as Rejected, naming HTML, and keeps it in neither container", async () => {
    const page = await openPage(stack);
    await page.getByLabel("Choose images").setInputFiles({
      name: "fake.png",
      mimeType: "image/png",
      buffer: Buffer.from("<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"),
    });

    const row = await verifiedRow(page, "fake.png");
    expect(row.verification).toBe("rejected");
    expect(row.text).toMatch(/^Rejected: .*\bHTML\b/);
    expect(row.linesShown).toEqual(["Checking…", row.text]);
    await stack.checksSettled();
    const { inbox, verified } = containers(stack);
    expect(await inbox.getBlobClient(row.blobName).exists()).toBe(false);
    expect(await verified.getBlobClient(row.blobName).exists()).toBe(false);
  });

  test("shows a PNG uploaded in several blocks as Verified, its pixels published whole", async () => {
    const page = await openPage(stack);
    const png = largePng(5 * 1024 * 1024);
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "poster.png", mimeType: "image/png", buffer: png });

    const row = await verifiedRow(page, "poster.png");
    expect(row).toMatchObject({ verification: "verified", text: "Verified" });
    const puts = requests.filter((request) => request.method === "PUT");
    expect(puts.filter((request) => request.comp === "block").length).toBeGreaterThan(1);
    expect(puts.filter((request) => request.comp === "blocklist")).toHaveLength(1);
    await expectOnlyVerified(stack, row.blobName, png);
  });
});

describe("the upload page, keyless, with stored uploads checked", () => {
  let stack: PageStack;
  beforeAll(async () => {
    stack = await startPageStack({ signing: "identity", checkUploads: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("shows a real PNG as Verified, copied into the verified container with the app's own identity", async () => {
    const page = await openPage(stack);
    const png = await readFile(PIXEL_PNG);
    await page.getByLabel("Choose images").setInputFiles(PIXEL_PNG);

    const row = await verifiedRow(page, "pixel.png");
    expect(stack.blobServiceUrl.startsWith("https://")).toBe(true);
    expect(row).toMatchObject({ verification: "verified", text: "Verified" });
    await expectOnlyVerified(stack, row.blobName, png);
  });
});
