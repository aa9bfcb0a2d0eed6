// A page of one's own, as the README shows it: the README's snippets (test/fixtures/readme/) bundled by
// esbuild the way an application's bundler would take them, importing `valet/client` and `valet/uppy`
// through the package's `exports` from the client as `npm run build:client` builds it, with the snippet's
// example endpoint replaced by the local stack's. Served to Chromium by the local page server, under /own/.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { buildClient } from "../../local/buildClient";

const ROOT = resolve(__dirname, "../..");

/** The endpoint the README's snippets name, which a reader replaces with their own. */
export const EXAMPLE_API_URL = "https://valet-example.azurewebsites.net/api/credentials";

export const README_SNIPPETS = {
  client: join(ROOT, "test/fixtures/readme/client.mts"),
  uppy: join(ROOT, "test/fixtures/readme/uppy.mts"),
} as const;

/**
 * The package as an application installs it: node_modules/valet/ with the repository's package.json and the
 * built client. Returns that node_modules folder.
 */
export async function installedPackage(): Promise<{ nodeModules: string; remove: () => Promise<void> }> {
  const folder = await mkdtemp(join(tmpdir(), "valet-own-page-"));
  const packageDir = join(folder, "node_modules", "valet");
  await mkdir(packageDir, { recursive: true });
  await cp(join(ROOT, "package.json"), join(packageDir, "package.json"));
  buildClient(join(packageDir, "dist", "client"));
  return {
    nodeModules: join(folder, "node_modules"),
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}

/** A README snippet bundled for the browser against `apiUrl`: its script and its stylesheet (if any). */
export async function bundleSnippet(
  file: string,
  apiUrl: string,
  nodeModules: string,
): Promise<{ js: string; css: string }> {
  const source = await readFile(file, "utf8");
  if (!source.includes(EXAMPLE_API_URL)) throw new Error(`${file} names no ${EXAMPLE_API_URL}`);
  const result = await build({
    stdin: {
      contents: source.replace(EXAMPLE_API_URL, apiUrl),
      // In the application's folder, beside its node_modules: from inside this repository, whose package is
      // named valet, `valet/client` would be a self-reference to the repository's own dist/.
      resolveDir: dirname(nodeModules),
      sourcefile: file,
      loader: "ts",
    },
    outdir: join(nodeModules, "..", "out"),
    entryNames: "app",
    bundle: true,
    format: "iife",
    platform: "browser",
    // The package first, as an application's node_modules holds it; then this repository's for its
    // dependencies (the storage SDK, Uppy). No tsconfig: its paths map valet/* to the sources.
    nodePaths: [nodeModules, join(ROOT, "node_modules")],
    tsconfigRaw: {},
    write: false,
    logLevel: "silent",
  });
  const text = (extension: string) =>
    result.outputFiles
      .filter((output) => output.path.endsWith(extension))
      .map((output) => output.text)
      .join("\n");
  return { js: text(".js"), css: text(".css") };
}

/**
 * Writes the bundled snippet to `<webDir>/own/`, with a file input and a #uploader element, and returns its
 * URL under `pageUrl`: served by the local page server, from the origin the storage account's CORS rules allow
 * (and from loopback, so that Chromium lets it reach the loopback services).
 */
export async function serveOwnPage(
  webDir: string,
  pageUrl: string,
  bundle: { js: string; css: string },
): Promise<string> {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Own page</title><link rel="stylesheet" href="app.css"></head>
<body><input type="file" multiple aria-label="Images"><div id="uploader"></div><script src="app.js"></script></body></html>
`;
  const dir = join(webDir, "own");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.html"), html);
  await writeFile(join(dir, "app.js"), bundle.js);
  await writeFile(join(dir, "app.css"), bundle.css);
  return new URL("own/index.html", pageUrl).toString();
}
