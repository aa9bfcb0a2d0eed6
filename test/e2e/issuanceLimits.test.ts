// The upload page in headless Chromium against a function whose issuance limit is tiny: told to slow down
// (429), the page says it is waiting, waits as told and uploads every file, failing none.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { launchChromium, type PageStack, pngImage, settledRow, startPageStack } from "../support/browser";

let stack: PageStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startPageStack({
      // One token at once, then one a second: the third file in a row has to wait.
      appSettings: { [SETTING.issuanceBurst]: "1", [SETTING.issuanceRatePerMinute]: "60" },
    }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

test("files refused with 429 wait as told, say so, and are all uploaded", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const answers: number[] = [];
    page.on("response", (response) => {
      // Token requests only: the page also follows each stored upload's check on the status endpoint.
      if (response.url().startsWith(stack.credentialsUrl)) answers.push(response.status());
    });
    await page.goto(stack.pageUrl);
    await expect.poll(() => page.locator("#file-input").isEnabled()).toBe(true);
    const waitingTexts: string[] = [];
    await page.exposeFunction("reportStatus", (text: string) => waitingTexts.push(text));
    await page.evaluate(() => {
      new MutationObserver((records) => {
        for (const record of records) {
          const text = record.target.textContent ?? "";
          if (text.includes("asked to wait"))
            (window as unknown as { reportStatus(t: string): void }).reportStatus(text);
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });

    const names = ["a.png", "b.png", "c.png"];
    await page
      .getByLabel("Choose images")
      .setInputFiles(names.map((name) => ({ name, mimeType: "image/png", buffer: pngImage(4, 4) })));
    const rows = await Promise.all(names.map((name) => settledRow(page, name)));
    expect(rows.map((row) => row.state)).toEqual(["done", "done", "done"]);
    expect(answers).toContain(429);
    expect(answers.filter((status) => status === 200)).toHaveLength(3);
    expect(waitingTexts[0]).toMatch(/^The upload service asked to wait; trying again in \d+ s…$/);
    const stored: string[] = [];
    for await (const blob of stack.images.listBlobsFlat()) stored.push(blob.name);
    expect(stored.sort()).toEqual(rows.map((row) => row.blobName).sort());
  } finally {
    await context.close();
  }
});
