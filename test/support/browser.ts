// Browser tests' set-up: the local stack with the upload page on free ports, Debian's Chromium driven by
// playwright-core (no tool downloads a browser), and test images.
import { randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Environment } from "../../function/contract/appSettings";
import type { SigningMode } from "../../function/contract/signingMode";
import { freePort } from "../../local/ports";
import { type LocalStack, startLocalStack } from "../../local/stack";
import { startWebServer } from "../../local/web";
import { trustedCertificate } from "./tls";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * `trustSpki`: the base64 SHA-256 of one certificate's public key that Chromium accepts though no authority
 * signed it (the keyless stack's HTTPS blob service), and no other.
 */
export async function launchChromium(options: { trustSpki?: string } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}: run apt-get install -y chromium.`);
  }
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...(options.trustSpki ? [`--ignore-certificate-errors-spki-list=${options.trustSpki}`] : []),
    ],
  });
}

export interface PageStack extends LocalStack {
  readonly pageUrl: string;
  /** The page served from a second origin that the function allows and the storage account does not. */
  readonly unlistedPageUrl?: string;
  readonly images: ContainerClient;
  readonly logs: string[];
  /** The folder the page is served from: files written here are served at pageUrl. */
  readonly webDir: string;
}

export async function startPageStack(
  options: {
    appSettings?: Environment;
    serveFromUnlistedOrigin?: boolean;
    /** The human check's site key and script, written into config.json. */
    turnstile?: { siteKey: string; scriptUrl?: string };
    signing?: SigningMode;
    /** Check stored uploads (off by default: the page's tests look at what they uploaded in the inbox). */
    checkUploads?: boolean;
    /** A front before the blob service, such as a shaped link (LocalStackOptions.blobFront). */
    blobFront?: (blobPort: number) => Promise<string>;
    /** Require sign-in, with the issuer stand-in (LocalStackOptions.signIn). */
    signIn?: boolean;
  } = {},
): Promise<PageStack> {
  const folder = await mkdtemp(join(tmpdir(), "valet-page-"));
  const webPort = await freePort();
  const unlistedPort = options.serveFromUnlistedOrigin ? await freePort() : undefined;
  const unlistedOrigin = unlistedPort ? `http://127.0.0.1:${unlistedPort}` : undefined;
  const logs: string[] = [];
  const webDir = join(folder, "web");
  const stack = await startLocalStack({
    blobPort: await freePort(),
    tablePort: await freePort(),
    queuePort: await freePort(),
    functionPort: await freePort(),
    allowedOrigins: [`http://127.0.0.1:${webPort}`],
    functionOnlyOrigins: unlistedOrigin ? [unlistedOrigin] : [],
    dataDir: join(folder, "azurite"),
    appSettings: options.appSettings,
    log: (line) => logs.push(line),
    web: { port: webPort, dir: webDir, turnstile: options.turnstile },
    signing: options.signing,
    certificate: options.signing === "identity" ? await trustedCertificate() : undefined,
    checkUploads: options.checkUploads ?? false,
    blobFront: options.blobFront,
    ...(options.signIn && { signIn: {} }),
  });
  const unlisted = unlistedPort ? await startWebServer({ port: unlistedPort, root: webDir }) : undefined;
  if (!stack.pageUrl) throw new Error("the local stack did not serve the page");
  return {
    ...stack,
    pageUrl: stack.pageUrl,
    unlistedPageUrl: unlisted?.url,
    webDir,
    images: BlobServiceClient.fromConnectionString(stack.connectionString).getContainerClient(
      stack.container,
    ),
    logs,
    stop: async () => {
      await unlisted?.stop();
      await stack.stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/**
 * A valid PNG (8-bit RGB, a colour gradient) of the given size; with `noise`, random pixels, which deflate
 * cannot shrink, for a file of about width × height × 3 bytes.
 */
export function pngImage(width: number, height: number, options: { noise?: boolean } = {}): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3); // filter byte 0 (none), then RGB
    if (options.noise) {
      randomFillSync(row, 1);
      rows.push(row);
      continue;
    }
    for (let x = 0; x < width; x++) {
      row[1 + x * 3] = (x * 255) / Math.max(1, width - 1);
      row[2 + x * 3] = (y * 255) / Math.max(1, height - 1);
      row[3 + x * 3] = 160;
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, adaptive filters, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

export interface StorageRequest {
  method: string;
  /** The blob's path, e.g. /devstoreaccount1/images/<name> */
  path: string;
  /** The operation (`comp`: block, blocklist) or "" for a plain Put Blob. */
  comp: string;
  /** The token's signature, to tell tokens apart. */
  sig: string;
}

/** Every request the page sends to the blob service (preflights included). */
export function recordStorageRequests(page: Page, blobServiceUrl: string): StorageRequest[] {
  const seen: StorageRequest[] = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(blobServiceUrl)) return;
    const url = new URL(request.url());
    seen.push({
      method: request.method(),
      path: url.pathname,
      comp: url.searchParams.get("comp") ?? "",
      sig: url.searchParams.get("sig") ?? "",
    });
  });
  return seen;
}

/** The outcome row of one file on the page, once it has settled (done or failed). */
export async function settledRow(
  page: Page,
  fileName: string,
): Promise<{ state: string; status: string; blobName?: string; failure?: string; retryVisible: boolean }> {
  const row = page.locator("li.upload", { has: page.locator(".upload-name", { hasText: fileName }) });
  await row.and(page.locator('[data-state="done"], [data-state="failed"]')).waitFor({ timeout: 45_000 });
  return {
    state: (await row.getAttribute("data-state")) ?? "",
    status: (await row.locator(".upload-status").textContent()) ?? "",
    blobName: (await row.getAttribute("data-blob-name")) ?? undefined,
    failure: (await row.getAttribute("data-failure")) ?? undefined,
    retryVisible: await row.locator("button.retry").isVisible(),
  };
}
