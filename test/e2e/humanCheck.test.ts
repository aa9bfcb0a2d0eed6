// The upload page in headless Chromium against a function that requires the human check: the page loads
// the widget (a stand-in speaking Turnstile's client API) when first refused, solves one check for a whole
// batch, and every file is uploaded with the pass.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { launchChromium, type PageStack, pngImage, settledRow, startPageStack } from "../support/browser";
import { type SiteverifyStandIn, startSiteverifyStandIn, widgetStandInScript } from "../support/turnstile";

const WIDGET_SCRIPT = "turnstile-stand-in.js";

let siteverify: SiteverifyStandIn;
let stack: PageStack;
let browser: Browser;

beforeAll(async () => {
  siteverify = await startSiteverifyStandIn();
  [stack, browser] = await Promise.all([
    startPageStack({
      appSettings: {
        [SETTING.turnstileSecretKey]: siteverify.secretKey,
        [SETTING.turnstileSiteverifyUrl]: siteverify.url,
      },
      // Served by the page's own server, so the page's CSP (script-src 'self') lets it run.
      turnstile: { siteKey: "stand-in-site-key", scriptUrl: WIDGET_SCRIPT },
    }),
    launchChromium(),
  ]);
  if (!stack.pageDir) throw new Error("the stack has no page folder");
  writeFileSync(join(stack.pageDir, WIDGET_SCRIPT), widgetStandInScript(siteverify.solveUrl));
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await siteverify?.stop();
});

test("a batch of files solves one human check and is uploaded with the pass it earns", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const answers: number[] = [];
    page.on("response", (response) => {
      if (response.url().startsWith(stack.apiUrl) && response.request().method() === "GET") {
        answers.push(response.status());
      }
    });
    await page.goto(stack.pageUrl);
    await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
    const names = ["a.png", "b.png", "c.png", "d.png"];
    await page
      .getByLabel("Choose images")
      .setInputFiles(names.map((name) => ({ name, mimeType: "image/png", buffer: pngImage(4, 4) })));
    const rows = await Promise.all(names.map((name) => settledRow(page, name)));
    expect(rows.map((row) => row.state)).toEqual(["done", "done", "done", "done"]);
    expect(await page.evaluate(() => (window as unknown as { standInRenders: number }).standInRenders)).toBe(
      1,
    );
    // One refusal asked for the check; one request carried the widget's token; the rest the pass.
    expect(answers.filter((status) => status === 403)).toHaveLength(1);
    expect(answers.filter((status) => status === 200)).toHaveLength(4);
    expect(siteverify.requests).toHaveLength(1);
    expect(await page.locator("#human-check").isHidden()).toBe(true);
    const stored: string[] = [];
    for await (const blob of stack.images.listBlobsFlat()) stored.push(blob.name);
    expect(stored.sort()).toEqual(rows.map((row) => row.blobName).sort());
  } finally {
    await context.close();
  }
});
