// Resumable uploads in headless Chromium, storage behind a shaped link (bench/shaper.ts) that counts the
// bytes sent: a 50 MB upload interrupted at about half, by a reload or by the link dropping, is finished
// from where it was, and the stored blob equals the file; another file that only looks the same is not.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { Link } from "../../bench/shaper";
import { launchChromium, type PageStack, settledRow, startPageStack } from "../support/browser";

const SIZE = 50 * 1024 * 1024;
/** Fast enough for a test on a busy machine, slow enough to catch the upload at about half. */
const LINK = { name: "test", rttMs: 4, upMbps: 150 };
/** config.json's 4 MiB blocks: 13 for the file, the last one short. */
const BLOCKS = 13;
/** Interrupted once this many blocks are stored: at least 7 of 13 staged, at most 6 left to send. */
const INTERRUPT_AFTER_BLOCKS = 7;

let link: Link;
let stack: PageStack;
let browser: Browser;
let folder: string;
let filePath: string;
let digest: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  link = new Link(LINK);
  folder = await mkdtemp(join(tmpdir(), "valet-resume-"));
  filePath = join(folder, "holiday.jpg");
  const bytes = randomBytes(SIZE);
  digest = createHash("sha256").update(bytes).digest("hex");
  await writeFile(filePath, bytes);
  [stack, browser] = await Promise.all([
    startPageStack({ blobFront: async (port) => (await link.forward("storage", port)).url }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await link?.stop();
  await rm(folder, { recursive: true, force: true });
});
beforeEach(async () => {
  // One context for the whole test: a reload keeps its IndexedDB, as a browser tab does.
  context = await browser.newContext();
  page = await context.newPage();
  // The page asks before leaving while an upload runs; the person here says yes.
  page.on("dialog", (dialog) => void dialog.accept());
  await open();
});
afterEach(async () => {
  await context?.close();
});

async function open(): Promise<void> {
  await page.goto(stack.pageUrl);
  await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
}

const isPutBlock = (url: URL, method: string) =>
  url.href.startsWith(stack.blobServiceUrl) && url.searchParams.get("comp") === "block" && method === "PUT";

/**
 * From now on: the blocks the page sends (Put Block requests, whatever their outcome), those storage has
 * acknowledged, and the blob they went to.
 */
function watchBlocks(): { sent: number; stored: number; blobPaths: Set<string> } {
  const seen = { sent: 0, stored: 0, blobPaths: new Set<string>() };
  page.on("request", (request) => {
    if (isPutBlock(new URL(request.url()), request.method())) seen.sent++;
  });
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (!isPutBlock(url, response.request().method())) return;
    if (response.status() === 201) {
      seen.stored++;
      seen.blobPaths.add(url.pathname);
    }
  });
  return seen;
}

/**
 * The blocks the page has recorded as staged, read from its IndexedDB records (docs/upload-page.md names
 * the database): what a reload can resume from, which may trail what storage has acknowledged.
 */
function recordedBlocks(): Promise<number> {
  return page.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const open = indexedDB.open("valet-uploads");
        // Not there yet: leave it for the page to create rather than create it empty.
        let absent = false;
        open.onupgradeneeded = () => {
          absent = true;
          open.transaction?.abort();
        };
        open.onerror = () => (absent ? resolve(0) : reject(open.error));
        open.onsuccess = () => {
          const database = open.result;
          if (!database.objectStoreNames.contains("uploads")) return resolve(0);
          const all = database.transaction("uploads").objectStore("uploads").getAll();
          all.onsuccess = () => {
            database.close();
            resolve(
              (all.result as Array<{ staged: number[] }>).reduce(
                (sum, record) => sum + record.staged.length,
                0,
              ),
            );
          };
          all.onerror = () => reject(all.error);
        };
      }),
  );
}

async function storedDigest(blobName: string): Promise<string> {
  const bytes = await stack.images.getBlobClient(blobName).downloadToBuffer();
  return createHash("sha256").update(bytes).digest("hex");
}

describe("a 50 MB upload", () => {
  test("interrupted by a reload at about half is finished after the file is chosen again, sending what was missing", async () => {
    const before = watchBlocks();
    await page.getByLabel("Choose images").setInputFiles(filePath);
    await expect
      .poll(() => recordedBlocks(), { timeout: 30_000, interval: 50 })
      .toBeGreaterThanOrEqual(INTERRUPT_AFTER_BLOCKS);
    const [firstBlob] = before.blobPaths;

    await page.reload();
    await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
    // What the reload left recorded: the old page wrote its last record before it was gone, and the new
    // one writes nothing before the file is chosen again.
    const recordedAtReload = await recordedBlocks();
    expect(recordedAtReload).toBeGreaterThanOrEqual(INTERRUPT_AFTER_BLOCKS);
    const unfinished = page.locator("#unfinished");
    await expect.poll(() => unfinished.isVisible()).toBe(true);
    expect(await unfinished.locator("li").textContent()).toMatch(
      /^holiday\.jpg \(50(\.0)? MB, \d+% sent\)Discard$/,
    );
    const after = watchBlocks();

    await page.getByLabel("Choose images").setInputFiles(filePath);

    const row = await settledRow(page, "holiday.jpg");
    expect(row.state).toBe("done");
    expect(await storedDigest(row.blobName as string)).toBe(digest);
    expect(`/devstoreaccount1/images/${row.blobName}`).toBe(firstBlob);
    // The promise, counted in blocks so that a slow machine cannot change it: after the reload the page
    // sends only the blocks it had not recorded as staged (bytes through the link would also count what the
    // old page still had in flight).
    expect(after.sent).toBeLessThanOrEqual(BLOCKS - recordedAtReload);
    expect(await unfinished.isVisible()).toBe(false);

    // Done: nothing is left to resume on the next visit.
    await open();
    expect(await page.locator("#unfinished").isVisible()).toBe(false);
  });

  test("left unfinished and discarded is forgotten: chosen again, it starts afresh as a new blob", async () => {
    const before = watchBlocks();
    await page.getByLabel("Choose images").setInputFiles(filePath);
    await expect.poll(() => before.stored, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    const [firstBlob] = before.blobPaths;
    await page.reload();

    await page.getByRole("button", { name: "Discard the unfinished upload of holiday.jpg" }).click();

    expect(await page.locator("#unfinished").isVisible()).toBe(false);
    await open();
    expect(await page.locator("#unfinished").isVisible()).toBe(false);
    await page.getByLabel("Choose images").setInputFiles(filePath);
    const row = await settledRow(page, "holiday.jpg");
    expect(row.state).toBe("done");
    expect(`/devstoreaccount1/images/${row.blobName}`).not.toBe(firstBlob);
    expect(await storedDigest(row.blobName as string)).toBe(digest);
  });

  test("cut off at about half goes on by itself once the connection is back, sending what was missing", async () => {
    const blocks = watchBlocks();
    await page.getByLabel("Choose images").setInputFiles(filePath);
    await expect
      .poll(() => blocks.stored, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(INTERRUPT_AFTER_BLOCKS);

    link.resetStats();
    link.cut();
    const row = page.locator("li.upload");
    await expect
      .poll(() => row.locator(".upload-status").textContent(), { timeout: 30_000 })
      .toMatch(/^The connection was lost; trying again in/);
    expect(await row.getAttribute("data-state")).toBe("waiting");
    link.restore();

    const settled = await settledRow(page, "holiday.jpg");
    expect(settled).toMatchObject({ state: "done", retryVisible: false });
    expect(await storedDigest(settled.blobName as string)).toBe(digest);
    expect(link.stats.bytesUp).toBeLessThan(0.6 * SIZE);
  });

  test("left unfinished is not resumed with another file of the same name, size and modification time", async () => {
    // A copy elsewhere that kept the name and the timestamp, with other bytes.
    const otherPath = join(folder, "copy", "holiday.jpg");
    await mkdir(join(folder, "copy"), { recursive: true });
    const otherBytes = randomBytes(SIZE);
    await writeFile(otherPath, otherBytes);
    const modified = new Date("2026-05-01T12:00:00Z");
    await Promise.all([utimes(filePath, modified, modified), utimes(otherPath, modified, modified)]);
    const before = watchBlocks();
    await page.getByLabel("Choose images").setInputFiles(filePath);
    await expect.poll(() => before.stored, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    const [firstBlob] = before.blobPaths;
    await page.reload();
    await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
    const unfinished = page.locator("#unfinished");
    await expect.poll(() => unfinished.isVisible()).toBe(true);

    await page.getByLabel("Choose images").setInputFiles(otherPath);

    const row = await settledRow(page, "holiday.jpg");
    expect(row.state).toBe("done");
    expect(`/devstoreaccount1/images/${row.blobName}`).not.toBe(firstBlob);
    expect(await storedDigest(row.blobName as string)).toBe(
      createHash("sha256").update(otherBytes).digest("hex"),
    );
    // The first file's upload is still there to resume, for that file.
    expect(await unfinished.isVisible()).toBe(true);
    expect(await unfinished.locator("li").count()).toBe(1);
  });
});
