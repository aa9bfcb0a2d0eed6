// The upload page in headless Chromium against the keyless local stack: the same page, its uploads signed
// with a user delegation key and sent to the blob service over HTTPS, whose self-signed certificate the
// browser accepts by its public key alone.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { USER_DELEGATION_SAS_VERSION } from "../../function/signing/signing";
import { launchChromium, type PageStack, pngImage, settledRow, startPageStack } from "../support/browser";
import { trustedCertificate } from "../support/tls";

let stack: PageStack;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  const certificate = await trustedCertificate();
  [stack, browser] = await Promise.all([
    startPageStack({ signing: "identity" }),
    launchChromium({ trustSpki: certificate.spkiSha256 }),
  ]);
  context = await browser.newContext();
  page = await context.newPage();
  await page.goto(stack.pageUrl);
  await page.locator("#file-input:enabled").waitFor();
});
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await stack?.stop();
});

describe("the upload page, keyless", () => {
  test("uploads a PNG over HTTPS with a user delegation token, its bytes intact", async () => {
    const tokens: URLSearchParams[] = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (request.method() === "PUT" && url.origin === new URL(stack.blobServiceUrl).origin) {
        tokens.push(url.searchParams);
      }
    });
    const png = pngImage(40, 30);
    await page
      .getByLabel("Choose images")
      .setInputFiles({ name: "keyless.png", mimeType: "image/png", buffer: png });

    const row = await settledRow(page, "keyless.png");
    expect(row.state).toBe("done");
    expect(stack.blobServiceUrl.startsWith("https://")).toBe(true);
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) {
      expect(token.get("sv")).toBe(USER_DELEGATION_SAS_VERSION);
      expect(token.has("skoid")).toBe(true);
      expect(token.has("si")).toBe(false);
    }
    const blob = stack.images.getBlobClient(row.blobName as string);
    expect((await blob.downloadToBuffer()).equals(png)).toBe(true);
    expect((await blob.getProperties()).contentType).toBe("image/png");
  });
});
