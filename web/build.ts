// Builds the upload page into a folder: index.html, styles.css and app.js (the page's script bundled with
// the storage SDK's browser build). The same build serves locally and in Azure; config.json is written by
// whoever serves it. Run as a script: `tsx web/build.ts [outDir]` (default dist/web).
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { buildSync } from "esbuild";

const SOURCE_DIR = __dirname;

/** Browsers the bundle is compiled for: the evergreen ones of the last few years, phones included. */
const TARGETS = ["chrome109", "edge109", "firefox115", "safari15"];

/**
 * Writes the page into outDir and returns the paths written, relative to outDir. Synchronous and
 * deterministic: the same sources give the same bytes.
 */
export function buildWebPage(outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const result = buildSync({
    entryPoints: [
      { in: join(SOURCE_DIR, "main.ts"), out: "app" },
      { in: join(SOURCE_DIR, "styles.css"), out: "styles" },
    ],
    outdir: outDir,
    bundle: true,
    // Picks @azure/storage-blob's browser build (its package.json "browser" export).
    platform: "browser",
    format: "iife",
    target: TARGETS,
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "silent",
  });
  const written: string[] = [];
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.contents);
    written.push(relativeTo(outDir, file.path));
  }
  copyFileSync(join(SOURCE_DIR, "index.html"), join(outDir, "index.html"));
  written.push("index.html");
  return written.sort();
}

function relativeTo(outDir: string, path: string): string {
  return resolve(path)
    .slice(resolve(outDir).length + 1)
    .split("\\")
    .join("/");
}

if (require.main === module) {
  const outDir = resolve(process.argv[2] ?? "dist/web");
  const files = buildWebPage(outDir);
  console.log(`Built the upload page into ${outDir}: ${files.join(", ")}`);
}
