// `npm run build:client`: builds the browser client and its Uppy plugin into dist/client/ (or the folder given)
// for the package's `./client` and `./uppy` entries: ES modules by esbuild, their types by tsc. The storage SDK
// and @uppy/core stay imports, for the application's bundler to resolve once (the SDK's "browser" build).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { buildSync } from "esbuild";

const ROOT = resolve(__dirname, "..");

/** What the entries' bundles leave to the application: the dependency and the plugin's peer. */
export const CLIENT_EXTERNALS = ["@azure/storage-blob", "@uppy/core"];

/** The client's entry points, by the file each becomes in the output folder. */
export const CLIENT_ENTRIES = {
  index: join(ROOT, "client/index.ts"),
  uppy: join(ROOT, "client/uppy/index.mts"),
} as const;

/** Browsers the client is compiled for: those the demo page is built for (web/build.ts). */
export const CLIENT_TARGETS = ["chrome109", "edge109", "firefox115", "safari15"];

/**
 * Writes index.js and uppy.js (sharing one chunk, so an application using both carries the client once), a
 * package.json marking them ES modules, and types/ (declarations of client/ and the contract files it
 * imports). Returns the files written, relative to outDir.
 */
export function buildClient(outDir: string): string[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  buildSync({
    entryPoints: CLIENT_ENTRIES,
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: CLIENT_TARGETS,
    external: CLIENT_EXTERNALS,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
  });
  // Node and TypeScript read .js and .d.ts below this folder as ES modules; the rest of dist/ is untouched.
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify({ type: "module" }, null, 2)}\n`);
  execFileSync(
    process.execPath,
    [
      join(ROOT, "node_modules/typescript/bin/tsc"),
      "-p",
      join(ROOT, "tsconfig.client.json"),
      "--declarationDir",
      join(outDir, "types"),
    ],
    { stdio: "inherit" },
  );
  return files(outDir).map((file) => relative(outDir, file).split("\\").join("/"));
}

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : [path];
    })
    .sort();
}

if (require.main === module) {
  const outDir = resolve(process.argv[2] ?? "dist/client");
  const written = buildClient(outDir);
  console.log(`Built the browser client into ${outDir}: ${written.length} files`);
  for (const file of written.filter((name) => !name.startsWith("types/"))) {
    console.log(
      `  ${file.padEnd(28)} ${(statSync(join(outDir, file)).size / 1024).toFixed(1).padStart(8)} KiB`,
    );
  }
}
