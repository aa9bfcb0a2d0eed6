// The upload page's build and the local server that serves it: what is written, what is served, with
// which headers, and that nothing outside the page's folder can be reached.
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort, PortInUseError } from "../../local/ports";
import { startWebServer, type WebServer } from "../../local/web";
import { buildWebPage } from "../../web/build";

let folder: string;
let root: string;
let server: WebServer;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "valet-page-"));
  root = join(folder, "site");
  buildWebPage(root);
  writeFileSync(
    join(root, "config.json"),
    JSON.stringify({ apiUrl: "http://127.0.0.1:7071/api/credentials" }),
  );
  // A file beside the served folder that no URL may reach.
  writeFileSync(join(folder, "secret.txt"), "outside the site");
  server = await startWebServer({ port: await freePort(), root });
});
afterAll(async () => {
  await server?.stop();
  await rm(folder, { recursive: true, force: true });
});

/** A raw request, so that paths reach the server exactly as written (fetch would normalise `..`). */
function get(
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the page build", () => {
  test("writes the page, its styles and one script, and no config.json", async () => {
    const dir = join(folder, "build-a");
    expect(buildWebPage(dir)).toEqual(["app.js", "index.html", "styles.css"]);
    expect((await readdir(dir)).sort()).toEqual(["app.js", "index.html", "styles.css"]);
    const html = readFileSync(join(dir, "index.html"), "utf8");
    expect(html).toContain('<script defer src="app.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="styles.css" />');
  });

  test("is deterministic and bundles the storage SDK's browser build", () => {
    const a = join(folder, "build-b");
    const b = join(folder, "build-c");
    const files = buildWebPage(a);
    buildWebPage(b);
    for (const file of files) {
      expect(readFileSync(join(a, file)).equals(readFileSync(join(b, file))), file).toBe(true);
    }
    const script = readFileSync(join(a, "app.js"), "utf8");
    // The Node build would reach for Node modules; the browser build uses fetch and Blob.slice.
    expect(script).not.toMatch(/require\(["'](node:)?(fs|http|https|stream|crypto)["']\)/);
    expect(script).toContain("BlockBlob");
  });

  test("leaves the function's code out of the page's script: its extension table reaches the page in config.json", () => {
    const dir = join(folder, "build-d");
    buildWebPage(dir);
    const script = readFileSync(join(dir, "app.js"), "utf8");
    expect(script).not.toContain("image/heic");
    expect(script).not.toContain("UPLOADS_CONNECTION_STRING");
  });
});

describe("the page server", () => {
  test("serves the page at / and each file with its content type; index.html and config.json are never cached", async () => {
    const expected: Array<[string, string]> = [
      ["/", "text/html; charset=utf-8"],
      ["/index.html", "text/html; charset=utf-8"],
      ["/config.json", "application/json"],
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/styles.css", "text/css; charset=utf-8"],
    ];
    for (const [path, type] of expected) {
      const response = await get(path);
      expect(response.status, path).toBe(200);
      expect(response.headers["content-type"], path).toBe(type);
      expect(response.headers["cache-control"], path).toBe("no-cache");
      expect(response.headers["x-content-type-options"], path).toBe("nosniff");
    }
    expect((await get("/config.json?x=1")).body).toContain("/api/credentials");
    expect((await get("/", "HEAD")).body).toBe("");
  });

  test("reaches nothing outside its folder, however the path is written", async () => {
    const attempts = [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/..%5csecret.txt",
      "/%2e%2e%2f%2e%2e%2fetc/passwd",
      "/app.js%00.html",
      "/%E0%A4%A",
      "//etc/passwd",
    ];
    for (const path of attempts) {
      const response = await get(path);
      expect([400, 404], path).toContain(response.status);
      expect(response.body, path).not.toContain("outside the site");
      expect(response.body, path).not.toContain("root:");
    }
  });

  test("answers 404 for a missing file and 405 for anything but GET and HEAD", async () => {
    expect((await get("/missing.js")).status).toBe(404);
    const post = await get("/index.html", "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  test("refuses a port in use with one line naming the variable that moves it", async () => {
    const port = Number(new URL(server.url).port);
    const error = await startWebServer({ port, root, portVariable: "VALET_WEB_PORT" }).catch((e) => e);
    expect(error).toBeInstanceOf(PortInUseError);
    expect(error.message).toBe(
      `Port ${port} (upload page) is already in use: stop what uses it or set VALET_WEB_PORT to another port.`,
    );
  });
});
