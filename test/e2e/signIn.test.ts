// The upload page signed in, in headless Chromium: the embedding application's token hook supplies a bearer
// token, the upload lands under its owner, and the verified photo is shown through its short-lived read URL.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { launchChromium, type PageStack, settledRow, startPageStack } from "../support/browser";

const PIXEL_PNG = resolve("test/fixtures/images/pixel.png");

let browser: Browser;
let stack: PageStack;

beforeAll(async () => {
  browser = await launchChromium();
  stack = await startPageStack({ signIn: true, checkUploads: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

test("the page uploads signed in and shows the verified photo through its read URL", async () => {
  const issuer = stack.issuer;
  if (!issuer) throw new Error("the stack runs no issuer stand-in");
  const context = await browser.newContext();
  // The embedding application's hook, as it would supply its users' tokens (MSAL's acquireTokenSilent…).
  await context.addInitScript((token) => {
    (window as unknown as { valetAccessToken: () => string }).valetAccessToken = () => token;
  }, issuer.mint("alice"));
  const authorized: string[] = [];
  const ownerMetadata: string[] = [];
  context.on("request", (request) => {
    if (request.url().includes("/api/")) authorized.push(request.headers().authorization ?? "none");
    if (request.url().startsWith(stack.blobServiceUrl) && request.method() === "PUT") {
      ownerMetadata.push(request.headers()["x-ms-meta-owner"] ?? "none");
    }
  });
  const page = await context.newPage();
  await page.goto(stack.pageUrl);
  await page.locator("#file-input:enabled").waitFor();
  await page.locator("#file-input").setInputFiles({
    name: "pixel.png",
    mimeType: "image/png",
    buffer: await readFile(PIXEL_PNG),
  });
  const { state, blobName } = await settledRow(page, "pixel.png");
  expect(state).toBe("done");
  expect(blobName).toMatch(/^alice\//);
  // The inbox blob was written with its owner's metadata, as the function named it.
  expect(ownerMetadata).toEqual(["alice"]);
  const preview = page.locator("li.upload img.upload-preview");
  await preview.waitFor({ timeout: 45_000 });
  const src = (await preview.getAttribute("src")) ?? "";
  expect(new URL(src).searchParams.get("sp")).toBe("r");
  await expect
    .poll(() => preview.evaluate((image: HTMLImageElement) => image.naturalWidth))
    .toBeGreaterThan(0);
  // Every request to the function carried the token: the token request, the status polls, the read URL.
  expect(authorized.length).toBeGreaterThanOrEqual(3);
  expect(authorized.every((header) => header.startsWith("Bearer "))).toBe(true);
  await context.close();
});
