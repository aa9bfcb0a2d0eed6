// The local stack as a whole: `npm start` stops, saying why, when Azurite dies, and checks what is uploaded; two stacks started
// from one checkout each serve their own page build, and a stack removes its build when it stops.
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { freePort } from "../../local/ports";
import { type NpmStart, runFailingNpmStart, runNpmStart, startTestStack } from "../support/stack";
import { putBlob } from "../support/storage";

const running: NpmStart[] = [];
afterAll(async () => {
  await Promise.all(running.map((stack) => stack.stop()));
});

async function npmStart(variables: NodeJS.ProcessEnv = {}): Promise<NpmStart> {
  const stack = await runNpmStart(variables);
  running.push(stack);
  return stack;
}

test.each([
  ["blob", "SIGKILL", "the stack cannot issue tokens for a store that is gone"],
  ["table", "SIGTERM", "the issuance limits have lost their counts"],
  ["queue", "SIGKILL", "stored uploads are no longer checked"],
] as const)(
  "npm start says at once that Azurite's %s service died, names the signal, and stops everything with exit code 1",
  async (service, signal, loss) => {
    const stack = await npmStart();
    expect((await fetch(stack.credentialsUrl)).status).toBe(200);
    const killedAt = Date.now();
    process.kill(await stack.azuritePid(service), signal);
    const { code } = await stack.exited;
    expect(code).toBe(1);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(stack.output()).toContain(
      `valet: Azurite (the ${service} service) was killed by ${signal}: ${loss}. Stopping everything.`,
    );
    await expect(fetch(stack.credentialsUrl)).rejects.toThrow();
  },
);

test("npm start checks what is uploaded: a PNG put with a container token is soon answered as accepted", async () => {
  const stack = await npmStart();
  const credentials = (await (await fetch(stack.credentialsUrl)).json()) as { url: string; sasKey: string };
  const png = readFileSync(join(__dirname, "../fixtures/images/pixel.png"));
  expect(await putBlob(`${credentials.url}/images/checked.png?${credentials.sasKey}`, png)).toBe(201);
  const statusUrl = stack.credentialsUrl.replace(/credentials$/, "uploads/checked.png");
  let body: { state?: string; url?: string } = {};
  for (let tries = 0; tries < 100 && body.state !== "accepted"; tries++) {
    body = (await (await fetch(statusUrl)).json()) as typeof body;
    if (body.state !== "accepted") await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(body).toEqual({
    blobName: "checked.png",
    state: "accepted",
    url: `${credentials.url}/verified/checked.png`,
    renditions: expect.arrayContaining([expect.objectContaining({ name: "checked.png.thumb.webp" })]),
  });
  expect(stack.output()).toMatch(/queue service \(Azurite\) http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1/);
});

test("two npm starts from one checkout each serve the page built for their own function", async () => {
  const first = await npmStart();
  const second = await npmStart();
  for (const stack of [first, second]) {
    const config = (await (await fetch(new URL("config.json", stack.pageUrl))).json()) as { apiUrl: string };
    expect(config.apiUrl).toBe(stack.credentialsUrl);
  }
  expect(first.credentialsUrl).not.toBe(second.credentialsUrl);
  expect(await first.stop()).toBe(0);
  // The second stack's page outlives the first stack's stop.
  expect((await fetch(new URL("app.js", second.pageUrl))).status).toBe(200);
});

test("a stack builds its page into a folder of its own and removes it when it stops", async () => {
  const stack = await startTestStack({}, { web: { port: await freePort() } });
  try {
    const pageDir = stack.pageDir ?? "";
    expect(pageDir.startsWith(tmpdir())).toBe(true);
    expect(JSON.parse(await readFile(join(pageDir, "config.json"), "utf8")).apiUrl).toBe(
      stack.credentialsUrl,
    );
    await stack.stop();
    expect(existsSync(pageDir)).toBe(false);
  } finally {
    await stack.stop();
  }
});

test("npm start with a bad app setting stops before anything listens, with one line naming it, exit code 1", async () => {
  const { code, output } = await runFailingNpmStart({ ISSUANCE_BURST: "abc" });
  expect(code).toBe(1);
  expect(output).not.toContain("valet is running");
  expect(output.trim().split("\n")).toEqual([
    "valet: ISSUANCE_BURST must be a whole number of tokens from 1 to 100000 (default 250).",
  ]);
});

test("the page npm start serves may upload from any port: its own origin is always allowed", async () => {
  const webPort = await freePort();
  // Only the usual page origin configured: the page is served elsewhere.
  const stack = await npmStart({
    VALET_WEB_PORT: String(webPort),
    VALET_ALLOWED_ORIGINS: "http://127.0.0.1:4280",
  });
  const pageOrigin = `http://127.0.0.1:${webPort}`;
  expect(stack.pageUrl).toBe(`${pageOrigin}/`);
  expect(stack.output()).not.toContain("will be refused");
  const credentials = (await (
    await fetch(stack.credentialsUrl, { headers: { Origin: pageOrigin } })
  ).json()) as {
    url: string;
  };
  // The browser's preflight for the page's PUT, as the blob service answers it.
  const preflight = await fetch(`${credentials.url}/images/from-page.png`, {
    method: "OPTIONS",
    headers: {
      Origin: pageOrigin,
      "Access-Control-Request-Method": "PUT",
      "Access-Control-Request-Headers": "x-ms-blob-type,content-type",
    },
  });
  expect(preflight.status).toBe(200);
  expect(preflight.headers.get("access-control-allow-origin")).toBe(pageOrigin);
  const asked = await fetch(stack.credentialsUrl, { headers: { Origin: pageOrigin } });
  expect(asked.headers.get("access-control-allow-origin")).toBe(pageOrigin);
});
