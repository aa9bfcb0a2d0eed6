// The upload page in headless Chromium when an upload cannot happen: files the policy refuses, a request
// the function refuses, an origin the storage account refuses, a lost network. Each one ends in words a
// person can act on, never a hang.
import { mkdir } from "node:fs/promises";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import {
  launchChromium,
  type PageStack,
  pngImage,
  recordStorageRequests,
  settledRow,
  startPageStack,
} from "../support/browser";

const LIMIT_BYTES = 1024 * 1024;

let stack: PageStack;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startPageStack({
      appSettings: { [SETTING.maxUploadBytes]: String(LIMIT_BYTES) },
      serveFromUnlistedOrigin: true,
    }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});
beforeEach(async () => {
  context = await browser.newContext();
});
afterEach(async () => {
  await context?.close();
});

async function openPage(url = stack.pageUrl): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
  return page;
}

async function blobNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of stack.images.listBlobsFlat()) names.push(blob.name);
  return names;
}

describe("the upload page refuses before any request", () => {
  test("a file of a type that is not allowed, and one over the size limit, sending nothing anywhere", async () => {
    const page = await openPage();
    const storageRequests = recordStorageRequests(page, stack.blobServiceUrl);
    const tokenRequests: string[] = [];
    page.on("request", (request) => {
      if (request.url().startsWith(stack.apiUrl)) tokenRequests.push(request.url());
    });
    const before = await blobNames();

    await page.getByLabel("Choose images").setInputFiles([
      { name: "scan.bmp", mimeType: "image/bmp", buffer: Buffer.from("BM not allowed here") },
      { name: "huge.png", mimeType: "image/png", buffer: Buffer.alloc(LIMIT_BYTES + 1, 1) },
    ]);

    const wrongType = await settledRow(page, "scan.bmp");
    expect(wrongType).toMatchObject({ state: "failed", failure: "type", retryVisible: false });
    expect(wrongType.status).toBe("Failed: BMP files are not allowed. Choose JPEG, PNG, GIF, WebP or AVIF.");
    const tooLarge = await settledRow(page, "huge.png");
    expect(tooLarge).toMatchObject({ state: "failed", failure: "size", retryVisible: false });
    expect(tooLarge.status).toBe("Failed: This file is too large (1 MB). The limit is 1 MB.");
    expect(
      await page
        .locator("li.upload progress")
        .evaluateAll((bars) => bars.map((bar) => (bar as HTMLProgressElement).value)),
    ).toEqual([0, 0]);
    expect(storageRequests).toEqual([]);
    expect(tokenRequests).toEqual([]);
    expect(await blobNames()).toEqual(before);
  });

  test("the limits come from config.json, which follows the function's policy", async () => {
    const page = await openPage();
    expect(await page.locator("#limits").textContent()).toBe(
      "JPEG, PNG, GIF, WebP or AVIF images, up to 1 MB each.",
    );
    expect(await page.locator("#file-input").getAttribute("accept")).toBe(
      "image/jpeg,image/png,image/gif,image/webp,image/avif",
    );
  });
});

describe("the upload page explains a refusal", () => {
  test("by the function, quoting its JSON error, and lets the person retry", async () => {
    const page = await openPage();
    // A PNG named .jpg: the page lets it through (the type is allowed), the function refuses the mismatch.
    await page.getByLabel("Choose images").setInputFiles({
      name: "holiday.jpg",
      mimeType: "image/png",
      buffer: pngImage(8, 8),
    });
    const row = await settledRow(page, "holiday.jpg");
    expect(row).toMatchObject({ state: "failed", failure: "server", retryVisible: true });
    expect(row.status).toBe(
      'Failed: The upload service refused the request: filename must end in .png for contentType image/png, not ".jpg".',
    );
  });

  test("by the storage account's CORS rules for this page's origin, instead of hanging", async () => {
    const unlisted = stack.unlistedPageUrl as string;
    const page = await openPage(unlisted);
    const before = await blobNames();
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "x.png", mimeType: "image/png", buffer: pngImage(8, 8) });

    const row = await settledRow(page, "x.png");
    expect(row).toMatchObject({ state: "failed", failure: "cors", retryVisible: true });
    expect(row.status).toBe(
      `Failed: The storage account refused uploads from this page's address (${new URL(unlisted).origin}): its CORS rules do not allow this origin.`,
    );
    expect(await blobNames()).toEqual(before);
  });

  test("when the network is lost: it says so, tries again with growing pauses, and finishes once it is back", async () => {
    const page = await openPage();
    let online = false;
    let refused = 0;
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl),
      (route) => {
        if (online) return route.continue();
        refused++;
        return route.abort("internetdisconnected");
      },
    );
    const png = pngImage(12, 12);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "trip.png", mimeType: "image/png", buffer: png });

    const row = page.locator("li.upload", { has: page.locator(".upload-name", { hasText: "trip.png" }) });
    await expect
      .poll(() => row.locator(".upload-status").textContent(), { timeout: 20_000 })
      .toMatch(/^The connection was lost; trying again in \d+ s…$/);
    expect(await row.getAttribute("data-state")).toBe("waiting");
    // Tried again on its own while the link stays down (after 1 s, then 2 s).
    await expect.poll(() => refused, { timeout: 20_000 }).toBeGreaterThan(1);

    await mkdir("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/upload-waiting.png", fullPage: true });

    online = true;
    await expect.poll(() => row.getAttribute("data-state"), { timeout: 30_000 }).toBe("done");
    const blobName = (await row.getAttribute("data-blob-name")) as string;
    expect((await stack.images.getBlobClient(blobName).downloadToBuffer()).equals(png)).toBe(true);
  });
});
