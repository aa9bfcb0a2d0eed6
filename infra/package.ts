// Builds the function app's deployment package: one minified CommonJS bundle of function/index.ts and its
// dependencies, plus host.json, a minimal package.json and the native packages a bundle cannot inline (sharp and
// its libvips, for Flex Consumption's Linux x64 glibc), zipped deterministically (same source, same bytes).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { type Zippable, zipSync } from "fflate";
import { PACKAGE_ROOT } from "./packageRoot";

export interface FunctionPackage {
  /** The zip, as published by OneDeploy. */
  zip: Buffer;
  /** Hex SHA-256 of the zip's bytes: the deployment's identity. */
  sha256: string;
  /** The unzipped package (index.js, host.json, package.json). */
  bundleDir: string;
  /** Where the zip was written. */
  zipPath: string;
}

export interface BuildOptions {
  /** The function app root holding index.ts and host.json; defaults to the repository's function/. */
  functionDir?: string;
  /**
   * A folder holding the bundle (index.js) and host.json already built by bundleFunction, as the installed
   * package carries them (it has no function/ sources): then only the native packages are added.
   */
  prebuiltDir?: string;
}

const REPO_ROOT = PACKAGE_ROOT;

/** The bundle's file name, named by package.json's `main`. */
export const BUNDLE_FILE = "index.js";

/**
 * The Functions Node.js worker injects `@azure/functions-core` at run time (the v4 library loads it
 * lazily and falls back to test mode without it), so it must stay a plain `require`.
 * https://learn.microsoft.com/azure/azure-functions/functions-reference-node?pivots=nodejs-model-v4
 */
const WORKER_PROVIDED = ["@azure/functions-core"];

/**
 * Packages with native code, which esbuild cannot inline: the package carries them in node_modules, installed
 * for the platform Flex Consumption runs (Linux x64 with glibc) whatever machine builds it. sharp ships its
 * binaries as optional packages per platform (@img/sharp-linux-x64 and @img/sharp-libvips-linux-x64), and npm
 * picks them by `--os`, `--cpu` and `--libc` rather than by the machine's own.
 * https://sharp.pixelplumbing.com/install#cross-platform
 * https://docs.npmjs.com/cli/v11/commands/npm-install#cpu
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan (Linux only)
 */
export const NATIVE_PACKAGES = ["sharp"] as const;
export const NATIVE_TARGET = { os: "linux", cpu: "x64", libc: "glibc" } as const;

/** DOS timestamps are local time; a date built from local fields encodes to the same bytes in every zone. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

/** Regular file, rw-r--r--, recorded as made on Unix so that Linux hosts extract it readable. */
const UNIX_FILE_ATTRS = (0o100644 << 16) >>> 0;

export function buildFunctionPackage(outDir: string, options: BuildOptions = {}): FunctionPackage {
  const prebuilt = options.prebuiltDir;
  const functionDir = path.resolve(options.functionDir ?? path.join(REPO_ROOT, "function"));
  const files = new Map<string, Uint8Array>([
    [BUNDLE_FILE, prebuilt ? readFileSync(path.join(prebuilt, BUNDLE_FILE)) : bundleFunction(functionDir)],
    ["host.json", readFileSync(path.join(prebuilt ?? functionDir, "host.json"))],
    ["package.json", Buffer.from(`${JSON.stringify(packageManifest(), null, 2)}\n`)],
    ...nativeFiles(),
  ]);

  const bundleDir = path.resolve(outDir, "function");
  rmSync(bundleDir, { recursive: true, force: true });
  mkdirSync(bundleDir, { recursive: true });
  const entries: Zippable = {};
  for (const name of [...files.keys()].sort()) {
    const bytes = files.get(name) as Uint8Array;
    mkdirSync(path.dirname(path.join(bundleDir, name)), { recursive: true });
    writeFileSync(path.join(bundleDir, name), bytes);
    // The native libraries (20 MB, mostly libvips) at level 6: a tenth of a percent larger, in a third of the time.
    const level = name.startsWith("node_modules/") ? 6 : 9;
    entries[name] = [bytes, { mtime: FIXED_MTIME, os: 3, attrs: UNIX_FILE_ATTRS, level }];
  }

  const zip = Buffer.from(zipSync(entries));
  const zipPath = path.resolve(outDir, "function.zip");
  writeFileSync(zipPath, zip);
  return { zip, sha256: createHash("sha256").update(zip).digest("hex"), bundleDir, zipPath };
}

/**
 * The function's code as one CommonJS file. esbuild, a build tool, is loaded here only: the installed package
 * never bundles (it carries the bundle), so it does not depend on esbuild.
 */
export function bundleFunction(functionDir: string): Uint8Array {
  const { buildSync } = require("esbuild") as typeof import("esbuild");
  const entry = path.join(functionDir, "index.ts");
  const result = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    minify: true,
    sourcemap: false,
    // Licence notices of the bundled packages stay in the shipped file.
    legalComments: "eof",
    external: [...WORKER_PROVIDED, ...NATIVE_PACKAGES],
    // Packages imported from TypeScript resolve to their ESM builds, and @azure/storage-common's ESM build
    // calls createRequire(import.meta.url), which a CommonJS bundle leaves undefined: give it this file's URL.
    define: { "import.meta.url": "__bundleUrl" },
    banner: { js: 'var __bundleUrl=require("node:url").pathToFileURL(__filename).href;' },
    // Paths inside the bundle are relative to the repository, not to this machine's checkout.
    absWorkingDir: REPO_ROOT,
    // A function tree outside the repository (a copy) still resolves the repository's packages.
    nodePaths: [path.join(REPO_ROOT, "node_modules")],
    tsconfig: path.join(REPO_ROOT, "tsconfig.json"),
    write: false,
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (result.outputFiles.length !== 1 || output === undefined) {
    throw new Error(`Bundling ${entry} produced ${result.outputFiles.length} files, expected 1.`);
  }
  return output.contents;
}

/** The v4 programming model finds the functions by loading `main`; nothing else is needed at run time. */
function packageManifest(): Record<string, unknown> {
  return { name: "valet-function", version: "1.0.0", private: true, main: BUNDLE_FILE };
}

/**
 * The native packages' files, as `node_modules/...` entries. They are installed once per version into a cache
 * folder (npm's own cache makes that offline after the first time) and read from there on every build.
 */
function nativeFiles(): [string, Uint8Array][] {
  const root = stageNativePackages();
  const files: [string, Uint8Array][] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      // npm's record of the install, not a file the packages use.
      else if (entry.isFile() && entry.name !== ".package-lock.json") {
        files.push([path.relative(root, full).split(path.sep).join("/"), readFileSync(full)]);
      }
    }
  };
  walk(path.join(root, "node_modules"));
  return files;
}

/**
 * The folder holding node_modules/ of the native packages at the versions package.json pins, installed under
 * `cacheRoot` (node_modules/.cache/valet-native by default).
 */
export function stageNativePackages(
  cacheRoot = path.join(REPO_ROOT, "node_modules", ".cache", "valet-native"),
): string {
  const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const dependencies = Object.fromEntries(
    NATIVE_PACKAGES.map((name) => {
      const version = manifest.dependencies[name];
      if (!version) throw new Error(`package.json must pin ${name}: the function package carries it.`);
      return [name, version];
    }),
  );
  const key = Object.entries(dependencies)
    .map(([name, version]) => `${name}-${version}`)
    .join("+");
  const { os, cpu, libc } = NATIVE_TARGET;
  const dir = path.join(cacheRoot, `${key}-${os}-${cpu}-${libc}`);
  const done = path.join(dir, ".installed");
  if (existsSync(done)) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ private: true, dependencies }));
  // Install scripts are not needed (the binaries are prebuilt packages) and would run for the wrong platform.
  execFileSync(
    "npm",
    [
      "install",
      "--omit=dev",
      `--os=${os}`,
      `--cpu=${cpu}`,
      `--libc=${libc}`,
      "--ignore-scripts",
      // Served from npm's cache when it holds these versions: the same bytes, without a registry round trip.
      "--prefer-offline",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
    ],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  );
  writeFileSync(done, "");
  return dir;
}
