// Row 6: the upload page in headless Chromium on a shaped network (bench/shaper.ts), the function and the
// blob service both behind it, timed from choosing the files to the last upload stored, against the time
// the link itself needs for those bytes. The shaper counts each request, CORS preflights included.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerClient } from "@azure/storage-blob";
import type { Browser } from "playwright-core";
import { type Environment, SETTING } from "../function/contract/appSettings";
import { CREDENTIALS_ROUTE, UPLOAD_STATUS_ROUTE } from "../function/contract/routes";
import { configureInstance, instance } from "../function/platform/instance";
import { type FunctionHost, startFunctionHost } from "../local/functionHost";
import { freePort } from "../local/ports";
import { behindFront } from "../local/stack";
import { prepareUploadsStorage } from "../local/storage";
import { buildLocalPage, startWebServer, type WebServer } from "../local/web";
import { launchChromium } from "../test/support/browser";
import { type BenchRow, figure, round } from "./results";
import { Link, type LinkStats, type NetworkProfile } from "./shaper";

export interface Workload {
  /** e.g. "50 × 3 MB photos" */
  readonly title: string;
  readonly files: number;
  readonly fileBytes: number;
  /** The least share of the link's limit the page should reach. */
  readonly target: number;
}

export interface ShapedUploadOptions {
  readonly profiles: readonly NetworkProfile[];
  readonly workloads: readonly Workload[];
  /** The function's settings; the connection string's blob endpoint is moved behind the shaper. */
  readonly appSettings: Environment;
  /** Account-key connection string of the blob service itself, to check and clear what was stored. */
  readonly connectionString: string;
  readonly blobServiceUrl: string;
  readonly container: string;
  readonly log?: (line: string) => void;
}

const HOST = "127.0.0.1";
/** The page takes a file's type from its name, as a browser does: these are JPEG photos to it. */
const PHOTO_EXTENSION = ".jpg";

export async function benchShapedUploads(options: ShapedUploadOptions): Promise<BenchRow[]> {
  const [firstProfile] = options.profiles;
  if (!firstProfile) throw new Error("the shaped upload rows need at least one network profile");
  const folder = await mkdtemp(join(tmpdir(), "valet-shaped-"));
  const link = new Link(firstProfile);
  let host: FunctionHost | undefined;
  let web: WebServer | undefined;
  let browser: Browser | undefined;
  try {
    // The function hands out URLs on the connection string's blob endpoint: pointing it at the proxy puts
    // every PUT the page sends behind the shaper, as the token request is.
    const blobProxy = await link.forward("storage", Number(new URL(options.blobServiceUrl).port));
    const shapedConnectionString = behindFront(
      options.connectionString,
      options.blobServiceUrl,
      blobProxy.url,
    );
    const webPort = await freePort(HOST);
    const origin = `http://${HOST}:${webPort}`;
    const largest = Math.max(...options.workloads.map((workload) => workload.fileBytes));
    configureInstance({
      ...options.appSettings,
      [SETTING.connectionString]: shapedConnectionString,
      [SETTING.maxUploadBytes]: String(
        Math.max(largest, Number(options.appSettings[SETTING.maxUploadBytes])),
      ),
    });
    const { policy } = instance().settings();
    await prepareUploadsStorage(options.connectionString, options.container, [origin]);
    host = await startFunctionHost({ host: HOST, port: await freePort(HOST), allowedOrigins: [origin] });
    const api = new URL(host.apiUrl);
    const functionProxy = await link.forward("function", Number(api.port));
    const pageDir = join(folder, "page");
    buildLocalPage(pageDir, `${functionProxy.url}${api.pathname}/${CREDENTIALS_ROUTE}`, policy);
    web = await startWebServer({ host: HOST, port: webPort, root: pageDir });
    browser = await launchChromium();
    const stored = new ContainerClient(options.connectionString, options.container);
    const rows: BenchRow[] = [];
    for (const workload of options.workloads) {
      const paths = await writeFiles(join(folder, "files"), workload);
      for (const profile of options.profiles) {
        options.log?.(`  ${workload.title}, ${profile.name}…`);
        link.use(profile);
        link.resetStats();
        const linkSeconds = (workload.files * workload.fileBytes * 8) / (profile.upMbps * 1e6);
        const seconds = await uploadOnPage(browser, web.url, paths, 60 + 4 * linkSeconds);
        const stats = link.resetStats();
        await checkAndClear(stored, workload);
        rows.push(shapedRow(workload, profile, seconds, stats));
      }
      await rm(join(folder, "files"), { recursive: true, force: true });
    }
    return rows;
  } finally {
    await browser?.close();
    await web?.stop();
    await host?.stop();
    await link.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

async function writeFiles(dir: string, workload: Workload): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  // Incompressible bytes, as photos are; the page checks only the type (from the name) and the size.
  const bytes = randomBytes(workload.fileBytes);
  const paths: string[] = [];
  for (let index = 0; index < workload.files; index++) {
    const path = join(dir, `photo-${index}${PHOTO_EXTENSION}`);
    await writeFile(path, bytes);
    paths.push(path);
  }
  return paths;
}

/** Chooses the files on a fresh page (no cached preflights) and returns the seconds until the last is stored. */
async function uploadOnPage(
  browser: Browser,
  pageUrl: string,
  paths: string[],
  timeoutSeconds: number,
): Promise<number> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(pageUrl);
    const input = page.locator("#file-input:not([disabled])");
    await input.waitFor({ state: "attached" });
    // Both instants are taken in the page: the change event, and each row's switch to done.
    await page.evaluate(() => {
      const times = { chosenAt: 0, doneAt: 0 };
      Object.assign(window, { benchTimes: times });
      document.addEventListener(
        "change",
        () => {
          times.chosenAt = performance.now();
        },
        true,
      );
      new MutationObserver((changes) => {
        for (const change of changes) {
          if ((change.target as Element).getAttribute("data-state") === "done")
            times.doneAt = performance.now();
        }
      }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ["data-state"] });
    });
    await input.setInputFiles(paths);
    const outcome = await page.waitForFunction(
      (count) => {
        const rows = [...document.querySelectorAll("li.upload")];
        const failed = rows.find((row) => row.getAttribute("data-state") === "failed");
        if (failed) return `failed: ${failed.querySelector(".upload-status")?.textContent ?? ""}`;
        return rows.filter((row) => row.getAttribute("data-state") === "done").length === count && "done";
      },
      paths.length,
      { polling: 100, timeout: timeoutSeconds * 1000 },
    );
    const state = await outcome.jsonValue();
    if (state !== "done") throw new Error(`the page's upload ${state}`);
    const times = await page.evaluate(
      () => (window as unknown as { benchTimes: { chosenAt: number; doneAt: number } }).benchTimes,
    );
    return (times.doneAt - times.chosenAt) / 1000;
  } finally {
    await context.close();
  }
}

/** Every file stored whole; then removed, so that the next row starts from an empty container. */
async function checkAndClear(container: ContainerClient, workload: Workload): Promise<void> {
  const sizes: number[] = [];
  for await (const blob of container.listBlobsFlat()) {
    sizes.push(blob.properties.contentLength ?? 0);
    await container.deleteBlob(blob.name);
  }
  if (sizes.length !== workload.files || sizes.some((size) => size !== workload.fileBytes)) {
    throw new Error(
      `storage holds ${sizes.length} blobs of ${[...new Set(sizes)].join(", ")} bytes, not ${workload.files} of ${workload.fileBytes}`,
    );
  }
}

function shapedRow(workload: Workload, profile: NetworkProfile, seconds: number, stats: LinkStats): BenchRow {
  const bytes = workload.files * workload.fileBytes;
  const achievedMbps = (bytes * 8) / 1e6 / seconds;
  const ratio = achievedMbps / profile.upMbps;
  // The function's own account-key calls to storage (its check of the container's access policies) share
  // the proxy but not the person's link: only requests carrying a token, or asking to, are the page's.
  const pages = stats.requests.filter(
    (request) => request.service === "function" || request.path.includes("sig="),
  );
  const perFile = (service: string, preflight: boolean, route?: string) =>
    round(
      pages.filter(
        (request) =>
          request.service === service &&
          (!preflight || request.method === "OPTIONS") &&
          (route === undefined || request.path.includes(`/${route}`)),
      ).length / workload.files,
      2,
    );
  const linkSeconds = (bytes * 8) / (profile.upMbps * 1e6);
  return {
    id: "shapedUpload",
    title: `6. Page on ${profile.name}: ${workload.title}`,
    unit: "Mbit/s",
    better: "higher",
    project: figure([round(achievedMbps, 2)]),
    baseline: figure([profile.upMbps]),
    ratio: round(ratio),
    target: `>= ${workload.target} of the link`,
    targetMet: ratio >= workload.target,
    details: {
      profile: profile.name,
      rttMs: profile.rttMs,
      upMbps: profile.upMbps,
      files: workload.files,
      fileBytes: workload.fileBytes,
      seconds: round(seconds, 2),
      linkSeconds: round(linkSeconds, 3),
      beyondLinkSeconds: round(seconds - linkSeconds, 2),
      functionRequestsPerFile: perFile("function", false),
      // Of which token requests, and the page's polls of the upload's status: this stack leaves uploads
      // unchecked (they are counted in the inbox after the run), so every poll answers pending until the
      // run ends; with the check, the verdict ends a file's polling.
      tokenRequestsPerFile: perFile("function", false, CREDENTIALS_ROUTE),
      statusRequestsPerFile: perFile("function", false, UPLOAD_STATUS_ROUTE.split("/")[0] ?? ""),
      functionPreflightsPerFile: perFile("function", true),
      storageRequestsPerFile: perFile("storage", false),
      storagePreflightsPerFile: perFile("storage", true),
      connections: stats.connections,
      bytesUp: stats.bytesUp,
    },
  };
}
