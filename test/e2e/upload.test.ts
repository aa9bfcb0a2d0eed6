// The upload page in headless Chromium against the local stack: successful uploads, from a small PNG to a
// multi-block file, a token that expires being replaced without the person noticing, Cancel, and an
// upload that waits out a lost connection.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { BlobSASPermissions, generateBlobSASQueryParameters } from "@azure/storage-blob";
import type { Browser, BrowserContext, Page, Request, Route } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { issueUploadToken } from "../../function/issuing/tokens";
import { parseSettings } from "../../function/platform/settings";
import { signerFor } from "../../function/signing/signing";
import { accountKeyOf } from "../support/accounts";
import {
  launchChromium,
  type PageStack,
  pngImage,
  recordStorageRequests,
  settledRow,
  startPageStack,
} from "../support/browser";

const SCREENSHOTS = resolve("test-results");

let stack: PageStack;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startPageStack(), launchChromium()]);
  await mkdir(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  page = await context.newPage();
  await page.goto(stack.pageUrl);
  await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
});
afterEach(async () => {
  await context?.close();
});

describe("the upload page", () => {
  test("uploads a PNG chosen with the keyboard, with its bytes and Content-Type intact", async () => {
    const png = pngImage(64, 48);
    // Listening first lets Playwright take over the file dialog before the key opens it.
    const chooserOpened = page.waitForEvent("filechooser");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("file-input");
    await page.keyboard.press("Space");
    const chooser = await chooserOpened;
    await chooser.setFiles({ name: "photo.png", mimeType: "image/png", buffer: png });

    const row = await settledRow(page, "photo.png");
    expect(row).toMatchObject({ state: "done", retryVisible: false });
    // The name the function gave: a random id, the declared size and the type's extension.
    expect(row.blobName).toMatch(new RegExp(`^[0-9a-f-]{36}-${png.length}\\.png$`));
    expect(row.status).toBe(`Done: uploaded as ${row.blobName}`);
    const blob = stack.images.getBlobClient(row.blobName as string);
    expect((await blob.downloadToBuffer()).equals(png)).toBe(true);
    expect((await blob.getProperties()).contentType).toBe("image/png");
    expect(await page.locator("li.upload progress").evaluate((p) => (p as HTMLProgressElement).value)).toBe(
      100,
    );
    await expect.poll(() => page.locator("#announcer").textContent()).toBe("photo.png: uploaded.");

    await page.screenshot({ path: `${SCREENSHOTS}/upload-desktop.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${SCREENSHOTS}/upload-phone.png`, fullPage: true });
    // Readable on a phone: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });

  test("uploads a 20 MB file dropped on the page in several blocks, the progress bar climbing to 100 %", async () => {
    const size = 20 * 1024 * 1024;
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    const digest = await page.evaluate(async (size) => {
      const bytes = new Uint8Array(size);
      let seed = 20240601;
      for (let i = 0; i < size; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        bytes[i] = seed >>> 24;
      }
      const progress: number[] = [];
      (window as unknown as { progress: number[] }).progress = progress;
      new MutationObserver((records) => {
        for (const record of records) {
          if (record.target instanceof HTMLProgressElement) progress.push(record.target.value);
        }
      }).observe(document.getElementById("uploads") as HTMLElement, {
        subtree: true,
        attributes: true,
        attributeFilter: ["value"],
      });
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], "large.jpg", { type: "image/jpeg" }));
      const zone = document.getElementById("drop-zone") as HTMLElement;
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
    }, size);

    const row = await settledRow(page, "large.jpg");
    expect(row.state).toBe("done");
    const values = await page.evaluate(() => (window as unknown as { progress: number[] }).progress);
    expect(values.some((value) => value > 0 && value < 100)).toBe(true);
    expect(values.at(-1)).toBe(100);
    expect([...values].sort((a, b) => a - b)).toEqual(values);

    const blob = stack.images.getBlockBlobClient(row.blobName as string);
    const properties = await blob.getProperties();
    expect(properties.contentType).toBe("image/jpeg");
    expect(properties.contentLength).toBe(size);
    expect((await blob.getBlockList("committed")).committedBlocks).toHaveLength(5);
    expect(
      createHash("sha256")
        .update(await blob.downloadToBuffer())
        .digest("hex"),
    ).toBe(digest);
    const puts = requests.filter((request) => request.method === "PUT");
    expect(puts.filter((request) => request.comp === "block")).toHaveLength(5);
    expect(puts.filter((request) => request.comp === "blocklist")).toHaveLength(1);
  });
});

describe("an expired token", () => {
  /** A real token for an upload, signed three hours ago, so expired for the storage account. */
  async function expiredToken() {
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    return issueUploadToken(settings, signerFor(settings), new Date(Date.now() - 3 * 3600_000), {
      extension: "png",
    });
  }

  /**
   * The same expired token carrying its own permission instead of naming a stored access policy: Azurite
   * takes an `si` token's expiry from its policy and lets it through (docs/security.md), so only this form
   * shows storage refusing an expired token to the page.
   */
  async function expiredTokenStorageRefuses() {
    const token = await expiredToken();
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const sasKey = generateBlobSASQueryParameters(
      {
        containerName: token.container,
        blobName: token.blobName,
        permissions: BlobSASPermissions.from({ write: true }),
        expiresOn: new Date(token.expiresOn),
        protocol: settings.uploads.protocol,
      },
      accountKeyOf(settings),
    ).toString();
    return { ...token, sasKey };
  }

  /** Answers the page's first credentials request with `body`; later ones reach the function. */
  async function answerFirstTokenRequestWith(body: object): Promise<{ requests: number }> {
    const seen = { requests: 0 };
    await page.route(
      (url) => url.href.startsWith(stack.credentialsUrl),
      async (route: Route) => {
        seen.requests++;
        if (seen.requests > 1) return route.continue();
        await route.fulfill({
          status: 200,
          contentType: "application/json",
          headers: { "Access-Control-Allow-Origin": new URL(stack.pageUrl).origin },
          body: JSON.stringify(body),
        });
      },
    );
    return seen;
  }

  test("that arrives expired is never sent to storage: the page asks again and the upload succeeds", async () => {
    const expired = await expiredToken();
    const tokenRequests = await answerFirstTokenRequestWith(expired);
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    const png = pngImage(16, 16);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "a.png", mimeType: "image/png", buffer: png });

    const row = await settledRow(page, "a.png");
    expect(row.state).toBe("done");
    expect(tokenRequests.requests).toBe(2);
    const expiredSig = new URLSearchParams(expired.sasKey).get("sig");
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((request) => request.sig === expiredSig)).toEqual([]);
    expect((await stack.images.getBlobClient(row.blobName as string).downloadToBuffer()).equals(png)).toBe(
      true,
    );
  });

  test("that storage refuses as expired is replaced transparently and the upload succeeds", async () => {
    // The token's own expiry has passed, but its expiresOn claims an hour more, as when this device's
    // clock runs behind the storage account's: only storage can tell, and it refuses the token.
    const expired = {
      ...(await expiredTokenStorageRefuses()),
      expiresOn: new Date(Date.now() + 3600_000).toISOString(),
    };
    const tokenRequests = await answerFirstTokenRequestWith(expired);
    const refusals: number[] = [];
    page.on("response", (response) => {
      if (response.url().startsWith(expired.blobUrl) && response.request().method() === "PUT") {
        refusals.push(response.status());
      }
    });
    const png = pngImage(20, 10);
    const statuses = await recordStatuses();
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "b.png", mimeType: "image/png", buffer: png });

    const row = await settledRow(page, "b.png");
    expect(row.state).toBe("done");
    expect(refusals).toEqual([403]);
    // Storage's clock (its Date header) was past the token's signed expiry: recognised as expiry.
    expect(await statuses()).toContain("The upload token expired; getting a new one…");
    expect(tokenRequests.requests).toBe(2);
    expect(row.blobName).not.toBe(expired.blobName);
    expect((await stack.images.getBlobClient(row.blobName as string).downloadToBuffer()).equals(png)).toBe(
      true,
    );
    expect(await stack.images.getBlobClient(expired.blobName).exists()).toBe(false);
  });
});

async function blobNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of stack.images.listBlobsFlat()) names.push(blob.name);
  return names.sort();
}

/** The state and status of one file's row, without waiting for it to settle. */
async function rowOf(fileName: string) {
  const row = page.locator("li.upload", { has: page.locator(".upload-name", { hasText: fileName }) });
  return {
    state: await row.getAttribute("data-state"),
    status: await row.locator(".upload-status").textContent(),
    cancelVisible: await row.locator("button.cancel").isVisible(),
    retryVisible: await row.locator("button.retry").isVisible(),
  };
}

/** Every status a file's row shows, in order, from now on. */
async function recordStatuses(): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const statuses: string[] = [];
    (window as unknown as { statuses: string[] }).statuses = statuses;
    new MutationObserver(() => {
      const status = document.querySelector(".upload-status")?.textContent;
      if (status && status !== statuses.at(-1)) statuses.push(status);
    }).observe(document.getElementById("uploads") as HTMLElement, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  return () => page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
}

describe("Cancel", () => {
  test("aborts a running upload's block requests: nothing is stored and the file says Cancelled", async () => {
    const before = await blobNames();
    // Storage's requests are held, so the upload is surely in flight when Cancel is pressed.
    const held: Route[] = [];
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl),
      (route) => {
        held.push(route);
      },
    );
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    const aborted: Request[] = [];
    page.on("requestfailed", (request) => {
      if (request.url().startsWith(stack.blobServiceUrl)) aborted.push(request);
    });
    await page.getByLabel("Choose images").setInputFiles({
      name: "big.jpg",
      mimeType: "image/jpeg",
      buffer: Buffer.alloc(9 * 1024 * 1024, 7),
    });
    await expect.poll(() => held.length).toBeGreaterThan(0);
    expect((await rowOf("big.jpg")).cancelVisible).toBe(true);

    await page.getByRole("button", { name: "Cancel big.jpg" }).click();

    await expect
      .poll(() => rowOf("big.jpg"))
      .toEqual({
        state: "cancelled",
        status: "Cancelled",
        cancelVisible: false,
        retryVisible: false,
      });
    await expect.poll(() => aborted.length).toBe(held.length);
    expect(requests.filter((request) => request.method === "PUT" && request.comp === "block").length).toBe(
      held.length,
    );
    expect(requests.filter((request) => request.comp === "blocklist")).toEqual([]);
    await expect.poll(() => page.locator("#announcer").textContent()).toBe("big.jpg: cancelled.");
    expect(await blobNames()).toEqual(before);
  });

  test("drops a file still waiting its turn without asking for its token", async () => {
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl),
      () => undefined,
    );
    const tokenRequests: string[] = [];
    page.on("request", (request) => {
      if (request.url().startsWith(stack.credentialsUrl)) {
        tokenRequests.push(new URL(request.url()).searchParams.get("filename") ?? "");
      }
    });
    // Two files of four blocks or more fill the requests the page keeps in flight; the third waits. It is of
    // two blocks: a file of one block waiting its turn has its token fetched ahead (the next test).
    const large = Buffer.alloc(13 * 1024 * 1024, 7);
    await page.getByLabel("Choose images").setInputFiles([
      { name: "one.png", mimeType: "image/png", buffer: large },
      { name: "two.png", mimeType: "image/png", buffer: large },
      { name: "three.png", mimeType: "image/png", buffer: Buffer.alloc(5 * 1024 * 1024, 8) },
    ]);
    await expect.poll(() => tokenRequests.sort()).toEqual(["one.png", "two.png"]);
    expect((await rowOf("three.png")).state).toBe("waiting");

    await page.getByRole("button", { name: "Cancel three.png" }).click();

    expect(await rowOf("three.png")).toMatchObject({ state: "cancelled", status: "Cancelled" });
    await page.getByRole("button", { name: "Cancel one.png" }).click();
    await expect.poll(() => rowOf("one.png")).toMatchObject({ state: "cancelled" });
    await expect.poll(() => tokenRequests.sort()).toEqual(["one.png", "two.png"]);
  });
});

describe("a file waiting its turn", () => {
  test("of one block has its token fetched while it waits, and uploads with that token when its turn comes", async () => {
    const held: Route[] = [];
    const smallBlob = { name: "" };
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl),
      (route) => {
        // The two large files' requests are held; the small file's go through.
        if (route.request().url().includes(smallBlob.name)) return route.continue();
        held.push(route);
      },
    );
    const tokens = new Map<string, string[]>();
    page.on("response", async (response) => {
      if (!response.url().startsWith(stack.credentialsUrl)) return;
      const filename = new URL(response.url()).searchParams.get("filename") ?? "";
      const body = (await response.json()) as { sasKey: string; blobName: string };
      if (filename === "small.png") smallBlob.name = body.blobName;
      tokens.set(filename, [
        ...(tokens.get(filename) ?? []),
        new URLSearchParams(body.sasKey).get("sig") ?? "",
      ]);
    });
    const requests = recordStorageRequests(page, stack.blobServiceUrl);
    const large = Buffer.alloc(13 * 1024 * 1024, 7);
    const png = pngImage(12, 12);
    await page.getByLabel("Choose images").setInputFiles([
      { name: "first.png", mimeType: "image/png", buffer: large },
      { name: "second.png", mimeType: "image/png", buffer: large },
      { name: "small.png", mimeType: "image/png", buffer: png },
    ]);

    await expect.poll(() => tokens.get("small.png")?.length ?? 0).toBe(1);
    expect((await rowOf("small.png")).state).toBe("waiting");
    expect(requests.filter((request) => request.path.endsWith(smallBlob.name))).toEqual([]);
    await page.getByRole("button", { name: "Cancel first.png" }).click();

    const row = await settledRow(page, "small.png");
    expect(row).toMatchObject({ state: "done", blobName: smallBlob.name });
    expect(tokens.get("small.png")).toHaveLength(1);
    const puts = requests.filter(
      (request) => request.method === "PUT" && request.path.endsWith(smallBlob.name),
    );
    expect(puts.map((request) => request.sig)).toEqual(tokens.get("small.png"));
    expect((await stack.images.getBlobClient(smallBlob.name).downloadToBuffer()).equals(png)).toBe(true);
    await page.getByRole("button", { name: "Cancel second.png" }).click();
  });
});

describe("a lost connection", () => {
  test("makes an upload chosen while offline wait, and it completes once the browser is back online", async () => {
    const statuses = await recordStatuses();
    await context.setOffline(true);
    const png = pngImage(24, 24);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "offline.png", mimeType: "image/png", buffer: png });
    await expect
      .poll(() => rowOf("offline.png"))
      .toEqual({
        state: "waiting",
        status: "Offline: waiting for the network to come back…",
        cancelVisible: true,
        retryVisible: false,
      });

    await context.setOffline(false);

    const row = await settledRow(page, "offline.png");
    expect(row).toMatchObject({ state: "done", retryVisible: false });
    expect((await stack.images.getBlobClient(row.blobName as string).downloadToBuffer()).equals(png)).toBe(
      true,
    );
    expect(await statuses()).not.toContainEqual(expect.stringMatching(/^Failed/));
  });

  test("mid-upload makes the upload wait, then finish without Retry once back online", async () => {
    const statuses = await recordStatuses();
    let cut = false;
    // The first request to storage finds the network gone, as when a phone loses its signal mid-upload.
    await page.route(
      (url) => url.href.startsWith(stack.blobServiceUrl),
      async (route) => {
        if (cut) return route.continue();
        cut = true;
        await context.setOffline(true);
        await route.abort("internetdisconnected").catch(() => undefined);
      },
    );
    const png = pngImage(30, 30);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "train.png", mimeType: "image/png", buffer: png });
    await expect
      .poll(() => rowOf("train.png"))
      .toMatchObject({ state: "waiting", status: "Offline: waiting for the network to come back…" });

    await context.setOffline(false);

    const row = await settledRow(page, "train.png");
    expect(row).toMatchObject({ state: "done", retryVisible: false });
    expect((await stack.images.getBlobClient(row.blobName as string).downloadToBuffer()).equals(png)).toBe(
      true,
    );
    expect(await statuses()).toEqual(
      expect.arrayContaining(["Uploading…", "Offline: waiting for the network to come back…"]),
    );
    expect(await statuses()).not.toContainEqual(expect.stringMatching(/^Failed/));
  });
});
