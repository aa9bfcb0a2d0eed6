// Serves the built upload page and its config.json on loopback: GET/HEAD of files inside one folder,
// with their content types, nothing outside it.
import { createReadStream, writeFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { IssuanceLimits } from "../function/contract/issuanceLimits";
import { buildWebPage } from "../web/build";
import { CONFIG_FILE, type PageConfig, pageConfig, pageConfigFile } from "../web/config";
import { pageContentType } from "../web/contentTypes";
import { closeServer } from "./lifecycle";
import { assertPortFree } from "./ports";

export interface WebServerOptions {
  host?: string;
  port: number;
  /** The folder served; nothing outside it is reachable. */
  root: string;
  portVariable?: string;
}

export interface WebServer {
  /** The page's URL, e.g. http://127.0.0.1:4280/ */
  readonly url: string;
  /** The page's origin, e.g. http://127.0.0.1:4280 */
  readonly origin: string;
  stop(): Promise<void>;
}

/**
 * Builds the page into dir with a config.json for a local function: its SAS endpoint, and the issuance
 * limits it enforces, so the page refuses what the function would refuse.
 */
export function buildLocalPage(
  dir: string,
  apiUrl: string,
  limits: IssuanceLimits,
  turnstile?: { readonly siteKey: string; readonly scriptUrl?: string },
  signInStandInTokenUrl?: string,
): PageConfig {
  buildWebPage(dir);
  const config = pageConfig(apiUrl, limits, turnstile, signInStandInTokenUrl);
  writeFileSync(join(dir, CONFIG_FILE), pageConfigFile(config));
  return config;
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const host = options.host ?? "127.0.0.1";
  await assertPortFree(host, options.port, "upload page", options.portVariable);
  const root = resolve(options.root);
  const server = createServer((req, res) => {
    serve(req, res, root).catch(() => {
      if (!res.headersSent) sendText(res, 500, "The page server failed to read the file.");
      else res.destroy();
    });
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen({ host, port: options.port }, () => resolvePromise());
  });
  const origin = `http://${host}:${options.port}`;
  return { url: `${origin}/`, origin, stop: () => closeServer(server) };
}

async function serve(req: IncomingMessage, res: ServerResponse, root: string): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    sendText(res, 405, `Method ${req.method} is not allowed: use GET.`);
    return;
  }
  const path = fileFor(req.url ?? "/", root);
  if (!path) {
    sendText(res, 400, "Bad path.");
    return;
  }
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    sendText(res, 404, "Not found.");
    return;
  }
  res.writeHead(200, {
    "Content-Type": pageContentType(path) ?? "application/octet-stream",
    "Content-Length": info.size,
    // The file names carry no content hash, so every file is revalidated; index.html and config.json
    // above all must never be served stale.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(path).pipe(res);
}

/** The file a URL path names inside root, or undefined for anything that would leave it. */
export function fileFor(url: string, root: string): string | undefined {
  const pathname = url.split(/[?#]/)[0] ?? "/";
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const path = resolve(join(root, decoded.endsWith("/") ? `${decoded}index.html` : decoded));
  const inside = relative(root, path);
  if (inside === "" || inside.split(sep)[0] === ".." || isAbsolute(inside)) return undefined;
  return path;
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(text);
}
