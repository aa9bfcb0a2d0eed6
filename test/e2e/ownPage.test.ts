// The README's snippets on a page of one's own, in headless Chromium against a local stack that checks what
// is stored: the browser client alone, and Uppy's Dashboard with the valet plugin. Each page is the snippet
// bundled against the package as `npm run build:client` builds it (test/support/ownPage.ts).
import { BlobServiceClient } from "@azure/storage-blob";
import type { Browser, BrowserContext, Page, Route } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  launchChromium,
  type PageStack,
  pngImage,
  recordStorageRequests,
  startPageStack,
} from "../support/browser";
import { bundleSnippet, installedPackage, README_SNIPPETS, serveOwnPage } from "../support/ownPage";

/** Bytes of a web page saved with a .png name: stored, then rejected by the check. */
const HTML_AS_PNG = Buffer.from("<!doctype html><html><body><script>alert(1)</script></body></html>\n");
/** A rendition's name: the upload's name, its kind and its format. */
const RENDITION = /\.(feed|thumb)\.(webp|jpg|png)$/;

let browser: Browser;
let context: BrowserContext;
let stack: PageStack;
let installed: Awaited<ReturnType<typeof installedPackage>>;

beforeAll(async () => {
  [browser, stack, installed] = await Promise.all([
    launchChromium(),
    startPageStack({ checkUploads: true }),
    installedPackage(),
  ]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await installed?.remove();
});
beforeEach(async () => {
  context = await browser.newContext();
});
afterEach(async () => {
  await context?.close();
});

async function openSnippet(file: string): Promise<Page> {
  const page = await context.newPage();
  const bundle = await bundleSnippet(file, stack.credentialsUrl, installed.nodeModules);
  await page.goto(await serveOwnPage(stack.webDir, stack.pageUrl, bundle));
  return page;
}

/** The blobs of a container, renditions left out. */
async function uploadsIn(container: "inbox" | "verified"): Promise<string[]> {
  const client =
    container === "inbox"
      ? stack.images
      : BlobServiceClient.fromConnectionString(stack.connectionString).getContainerClient(
          stack.verifiedContainer,
        );
  const names: string[] = [];
  for await (const blob of client.listBlobsFlat()) if (!RENDITION.test(blob.name)) names.push(blob.name);
  return names.sort();
}

describe("the README's browser client snippet", () => {
  test("uploads what is chosen, reporting progress, the accepted blob and its renditions, and the check's reason for a rejection", async () => {
    const page = await openSnippet(README_SNIPPETS.client);
    const lines: string[] = [];
    page.on("console", (message) => lines.push(message.text()));
    await page.getByLabel("Images").setInputFiles([
      { name: "photo.png", mimeType: "image/png", buffer: pngImage(640, 480) },
      { name: "page.png", mimeType: "image/png", buffer: HTML_AS_PNG },
    ]);
    await expect
      .poll(() => lines.filter((line) => /^(photo|page)\.png: /.test(line) && !line.endsWith(" %")).length, {
        timeout: 60_000,
      })
      .toBe(2);
    const accepted = lines.find((line) => line.startsWith("photo.png: accepted as "));
    const [, blobName, renditions] =
      /^photo\.png: accepted as (\S+), (\d+) renditions$/.exec(accepted ?? "") ?? [];
    expect(blobName).toMatch(/\.png$/);
    expect(Number(renditions)).toBeGreaterThan(0);
    expect(lines.filter((line) => /^photo\.png: \d+ %$/.test(line)).length).toBeGreaterThan(0);
    expect(lines.find((line) => line.startsWith("page.png: rejected: "))).toMatch(
      /^page\.png: rejected: .*\bHTML\b/,
    );
    expect(await uploadsIn("verified")).toContain(blobName);
  });
});

describe("the README's Uppy snippet: Uppy's Dashboard with the valet plugin", () => {
  test("uploads several files: one cancelled stores nothing, one rejected shows the check's reason, the rest are verified", async () => {
    const verifiedBefore = await uploadsIn("verified");
    const page = await openSnippet(README_SNIPPETS.uppy);
    // The large file's blocks are held, so that it is surely in flight when its upload is cancelled.
    const held: Route[] = [];
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl) && url.searchParams.get("comp") === "block",
      (route) => {
        held.push(route);
      },
    );
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    await page
      .locator(".uppy-Dashboard-input")
      .first()
      .setInputFiles([
        { name: "first.png", mimeType: "image/png", buffer: pngImage(320, 240) },
        { name: "second.png", mimeType: "image/png", buffer: pngImage(200, 300) },
        { name: "page.png", mimeType: "image/png", buffer: HTML_AS_PNG },
        { name: "large.png", mimeType: "image/png", buffer: Buffer.alloc(9 * 1024 * 1024, 7) },
      ]);
    const item = (name: string) => page.locator(".uppy-Dashboard-Item", { hasText: name });
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();

    await expect.poll(() => held.length, { timeout: 30_000 }).toBeGreaterThan(0);
    await item("large.png").getByRole("button", { name: "Cancel upload" }).click();
    await expect.poll(() => item("large.png").count()).toBe(0);

    for (const name of ["first.png", "second.png"]) {
      await item(name).and(page.locator(".is-complete")).waitFor({ timeout: 60_000 });
    }
    await item("page.png").and(page.locator(".is-error")).waitFor({ timeout: 60_000 });
    const error = await item("page.png")
      .locator(".uppy-Dashboard-Item-errorDetails")
      .getAttribute("aria-label");
    expect(error).toMatch(/^Rejected: .*\bHTML\b/);

    // Storage agrees: two uploads verified, nothing left in the inbox, and the large file never committed.
    const verified = (await uploadsIn("verified")).filter((name) => !verifiedBefore.includes(name));
    expect(verified).toHaveLength(2);
    expect(await uploadsIn("inbox")).toEqual([]);
    expect(requests.filter((request) => request.comp === "blocklist")).toEqual([]);
    expect(requests.filter((request) => request.method === "PUT" && request.comp === "").length).toBe(3);
  });

  test("shows the endpoint's refusal as the file's error, and Retry uploads it", async () => {
    const page = await openSnippet(README_SNIPPETS.uppy);
    // The first token request is refused, as an endpoint that cannot serve it would; the rest go through.
    let refused = 0;
    await page.route(
      (url) => url.href.startsWith(stack.credentialsUrl),
      (route) =>
        refused++ === 0
          ? route.fulfill({
              status: 503,
              contentType: "application/json",
              headers: { "Access-Control-Allow-Origin": "*" },
              body: JSON.stringify({ error: "The upload service is busy; try again." }),
            })
          : route.continue(),
    );
    await page
      .locator(".uppy-Dashboard-input")
      .first()
      .setInputFiles({
        name: "again.png",
        mimeType: "image/png",
        buffer: pngImage(300, 200),
      });
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    const item = page.locator(".uppy-Dashboard-Item", { hasText: "again.png" });
    await item.and(page.locator(".is-error")).waitFor({ timeout: 30_000 });
    expect(await item.locator(".uppy-Dashboard-Item-errorDetails").getAttribute("aria-label")).toBe(
      "The upload service refused the request: The upload service is busy; try again.",
    );

    await item.getByRole("button", { name: "Retry upload" }).click();
    await item.and(page.locator(".is-complete")).waitFor({ timeout: 60_000 });
    expect(refused).toBe(2);
  });

  test("with Golden Retriever, a large file cut short by a reload is finished in the same blob, sending only the blocks storage lacks", async () => {
    const page = await openSnippet(README_SNIPPETS.uppy);
    // Random pixels: 1800 × 1800 × 3 bytes, three blocks of 4 MiB, a PNG the check accepts, and under the
    // 10 MiB Golden Retriever keeps in IndexedDB by default.
    const large = pngImage(1800, 1800, { noise: true });
    const blocks = Math.ceil(large.length / (4 * 1024 * 1024));
    expect(blocks).toBe(3);
    // One block reaches storage; every other block sent before the reload fails, as on a link that went down.
    let passed = 0;
    let reloaded = false;
    const stored: string[] = [];
    page.on("requestfinished", async (request) => {
      const url = new URL(request.url());
      if (url.searchParams.get("comp") === "block" && (await request.response())?.status() === 201) {
        stored.push(url.pathname);
      }
    });
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl) && url.searchParams.get("comp") === "block",
      (route) =>
        route.request().method() !== "PUT" || reloaded || passed++ < 1 ? route.continue() : route.abort(),
    );
    await page.locator(".uppy-Dashboard-input").first().setInputFiles({
      name: "large.png",
      mimeType: "image/png",
      buffer: large,
    });
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    await expect.poll(() => stored.length, { timeout: 30_000 }).toBe(1);
    const [blobPath] = stored;
    // The client records each block as storage acknowledges it; give that write a moment to land.
    await page.waitForTimeout(1000);

    await page.reload();
    reloaded = true;
    const afterReload = recordStorageRequests(page, stack.blobServiceUrl);
    // Golden Retriever brings the file back from IndexedDB; the Dashboard's upload button resumes it.
    await page.locator(".uppy-Dashboard-Item", { hasText: "large.png" }).waitFor();
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    await page
      .locator(".uppy-Dashboard-Item.is-complete", { hasText: "large.png" })
      .waitFor({ timeout: 60_000 });

    const puts = afterReload.filter((request) => request.method === "PUT");
    expect(puts.filter((request) => request.comp === "block")).toHaveLength(blocks - 1);
    expect(puts.filter((request) => request.comp === "blocklist").map((request) => request.path)).toEqual([
      blobPath,
    ]);
    expect(puts.every((request) => request.path === blobPath)).toBe(true);
    const blobName = decodeURIComponent(blobPath?.split("/").at(-1) ?? "");
    expect(await uploadsIn("verified")).toContain(blobName);
  }, 150_000);
});
