// The function's deployment package (infra/package.ts): deterministic bytes, exactly the files Flex needs,
// and a bundle that loads, registers its functions and issues a token in a fresh node process.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildFunctionPackage, type FunctionPackage, stageNativePackages } from "../../infra/package";
import { LIMITS_OFF } from "../support/function";

const REPO_ROOT = path.resolve(__dirname, "../..");
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "valet-package-"));
  tempDirs.push(dir);
  return dir;
}

let built: FunctionPackage;

beforeAll(() => {
  built = buildFunctionPackage(tempDir());
});

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs a script in a fresh `node` outside the repository, so only what the package carries resolves. */
function runNode(cwd: string, script: string, env: Record<string, string>): string {
  return execFileSync(process.execPath, ["-e", script], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("the function package", () => {
  test("two builds of the same source give the same zip bytes", () => {
    const again = buildFunctionPackage(tempDir());
    expect(again.sha256).toBe(built.sha256);
    expect(again.zip.equals(built.zip)).toBe(true);
  });

  test("the hash is the SHA-256 of the zip written to zipPath", () => {
    const onDisk = readFileSync(built.zipPath);
    expect(onDisk.equals(built.zip)).toBe(true);
    expect(createHash("sha256").update(onDisk).digest("hex")).toBe(built.sha256);
  });

  test("holds exactly the bundle, host.json, a package.json whose main is the bundle, and node_modules/", () => {
    const entries = unzipSync(built.zip);
    expect(
      Object.keys(entries)
        .filter((name) => !name.startsWith("node_modules/"))
        .sort(),
    ).toEqual(["host.json", "index.js", "package.json"]);
    const manifest = JSON.parse(Buffer.from(entries["package.json"] ?? []).toString("utf8"));
    expect(manifest.main).toBe("index.js");
    expect(manifest.dependencies).toBeUndefined();
    const hostJson = Buffer.from(entries["host.json"] ?? []).toString("utf8");
    expect(hostJson).toBe(readFileSync(path.join(REPO_ROOT, "function/host.json"), "utf8"));
    const bundle = Buffer.from(entries["index.js"] ?? []);
    expect(bundle.equals(readFileSync(path.join(built.bundleDir, "index.js")))).toBe(true);
  });

  test("is small besides libvips and carries no path of the machine that built it", () => {
    const own = Object.entries(unzipSync(built.zip)).filter(([name]) => !name.startsWith("node_modules/"));
    expect(own.reduce((sum, [, bytes]) => sum + bytes.length, 0)).toBeLessThan(2 * 1024 * 1024);
    expect(built.zip.length).toBeLessThan(16 * 1024 * 1024);
    const bundle = readFileSync(path.join(built.bundleDir, "index.js"), "utf8");
    expect(bundle).not.toContain(REPO_ROOT);
    expect(bundle).not.toContain("sourceMappingURL");
  });

  test("leaves only the worker-provided @azure/functions-core and the native sharp unbundled", () => {
    const bundle = readFileSync(path.join(built.bundleDir, "index.js"), "utf8");
    const packages = new Set(
      [...bundle.matchAll(/(?:require|import)\("([^"]+)"\)/g)]
        .map((match) => match[1] ?? "")
        .filter((name) => !name.startsWith("node:") && !isNodeBuiltin(name)),
    );
    expect([...packages].sort()).toEqual(["@azure/functions-core", "sharp"]);
  });

  test("carries sharp and its Linux x64 glibc binaries at the pinned version, and no other platform's", () => {
    const entries = unzipSync(built.zip);
    const names = Object.keys(entries);
    const pinned = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).dependencies.sharp;
    const manifest = (name: string) =>
      JSON.parse(Buffer.from(entries[`node_modules/${name}/package.json`] ?? []).toString("utf8"));
    expect(manifest("sharp").version).toBe(pinned);
    expect(manifest("@img/sharp-linux-x64")).toMatchObject({
      version: pinned,
      os: ["linux"],
      cpu: ["x64"],
      libc: ["glibc"],
    });
    expect(manifest("@img/sharp-libvips-linux-x64")).toMatchObject({
      os: ["linux"],
      cpu: ["x64"],
      libc: ["glibc"],
    });
    expect(manifest("sharp").optionalDependencies["@img/sharp-libvips-linux-x64"]).toBe(
      manifest("@img/sharp-libvips-linux-x64").version,
    );
    // sharp's own dependencies resolve inside the package.
    for (const dependency of Object.keys(manifest("sharp").dependencies)) {
      expect(names).toContain(`node_modules/${dependency}/package.json`);
    }
    const platformPackages = new Set(
      names.flatMap((name) => /^node_modules\/@img\/(sharp-[^/]+)\//.exec(name)?.[1] ?? []),
    );
    expect([...platformPackages].sort()).toEqual(["sharp-libvips-linux-x64", "sharp-linux-x64"]);
    // The binaries themselves are 64-bit little-endian ELF for x86-64 (e_machine 62): what Flex runs.
    const binaries = names.filter((name) => /\.node$|\.so(\.\d+)*$/.test(name));
    expect(binaries).toEqual(
      expect.arrayContaining([
        `node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64-${pinned}.node`,
        expect.stringMatching(/^node_modules\/@img\/sharp-libvips-linux-x64\/lib\/libvips-cpp\.so\.[\d.]+$/),
      ]),
    );
    for (const name of binaries) {
      const header = Buffer.from(entries[name] ?? []);
      expect(header.subarray(0, 4).toString("latin1"), name).toBe("\x7fELF");
      expect(header[4], name).toBe(2);
      expect(header[5], name).toBe(1);
      expect(header.readUInt16LE(18), name).toBe(62);
    }
  });

  test("the native packages are installed for Linux x64 glibc even where npm is set up for another platform", () => {
    // npm reads its configuration from npm_config_* variables: a Mac with Apple silicon, or Alpine's musl,
    // would otherwise get its own binaries. The build's --os/--cpu/--libc flags win over them.
    const saved = { ...process.env };
    Object.assign(process.env, { npm_config_os: "darwin", npm_config_cpu: "arm64", npm_config_libc: "musl" });
    let staged: string;
    try {
      staged = stageNativePackages(tempDir());
    } finally {
      for (const key of ["npm_config_os", "npm_config_cpu", "npm_config_libc"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    expect(readdirSync(path.join(staged, "node_modules", "@img")).sort()).toEqual([
      "colour",
      "sharp-libvips-linux-x64",
      "sharp-linux-x64",
    ]);
  }, 60_000);

  test("the package's own sharp loads in a fresh node process and re-encodes an image", () => {
    const output = runNode(
      built.bundleDir,
      `import("sharp").then(async ({ default: sharp }) => {
        const png = await sharp({ create: { width: 3, height: 2, channels: 3, background: "red" } }).png().toBuffer();
        const meta = await sharp(png).metadata();
        process.stdout.write(JSON.stringify({ path: require.resolve("sharp"), width: meta.width, height: meta.height }));
      });`,
      {},
    );
    const loaded = JSON.parse(output);
    expect(loaded.path.startsWith(path.join(built.bundleDir, "node_modules", "sharp"))).toBe(true);
    expect([loaded.width, loaded.height]).toEqual([3, 2]);
  });

  test("loads in a fresh node process and its credentials handler answers a GET with a token", () => {
    const script = `
      const { httpFunctions } = require("./index.js");
      const request = { method: "GET", url: "http://localhost/api/credentials", query: new URLSearchParams(), headers: new Headers() };
      const context = { log() {}, warn() {}, error(message) { console.error(message); } };
      httpFunctions.credentials.handler(request, context).then((response) => {
        process.stdout.write(JSON.stringify({ status: response.status, body: response.jsonBody }));
      });`;
    const output = runNode(built.bundleDir, script, {
      UPLOADS_CONNECTION_STRING: "UseDevelopmentStorage=true",
      ...LIMITS_OFF,
    });
    const response = JSON.parse(output);
    expect(response.status).toBe(200);
    expect(response.body.url).toBe("http://127.0.0.1:10000/devstoreaccount1");
    expect(response.body.sasKey).toMatch(/si=valet-g1-c&sr=c&sig=/);
  });

  test("registers the HTTP functions and the queue functions (the upload check, the scan results) with the worker, from one table", () => {
    // The worker provides @azure/functions-core at run time; this stand-in records what is registered.
    const dir = tempDir();
    cpSync(path.join(built.bundleDir, "index.js"), path.join(dir, "index.js"));
    const core = path.join(dir, "node_modules", "@azure", "functions-core");
    mkdirSync(core, { recursive: true });
    writeFileSync(
      path.join(core, "index.js"),
      `const registered = [];
      module.exports = { registered, setProgrammingModel() {}, registerHook() { return { dispose() {} }; }, log() {},
        registerFunction(metadata) { registered.push(metadata); return { dispose() {} }; } };`,
    );
    const output = runNode(
      dir,
      `const core = require("@azure/functions-core");
      require("./index.js");
      process.stdout.write(JSON.stringify(core.registered.map((fn) => ({
        name: fn.name,
        trigger: Object.values(fn.bindings).find((binding) => binding.direction === "in"),
      }))));`,
      {
        UPLOADS_CONNECTION_STRING: "UseDevelopmentStorage=true",
        VALIDATION_STORAGE: "UseDevelopmentStorage=true",
        ...LIMITS_OFF,
      },
    );
    expect(JSON.parse(output)).toEqual([
      {
        name: "credentials",
        trigger: expect.objectContaining({
          type: "httpTrigger",
          route: "credentials",
          methods: ["GET"],
          authLevel: "anonymous",
        }),
      },
      {
        name: "uploadStatus",
        trigger: expect.objectContaining({
          type: "httpTrigger",
          route: "uploads/{blobName}",
          methods: ["GET"],
        }),
      },
      {
        name: "ownedUploadStatus",
        trigger: expect.objectContaining({
          type: "httpTrigger",
          route: "uploads/{owner}/{blobName}",
          methods: ["GET"],
        }),
      },
      {
        name: "imageRead",
        trigger: expect.objectContaining({
          type: "httpTrigger",
          route: "images/{owner}/{blobName}",
          methods: ["GET"],
        }),
      },
      {
        name: "rendition",
        trigger: expect.objectContaining({
          type: "httpTrigger",
          route: "renditions/{name}",
          methods: ["GET"],
          authLevel: "anonymous",
        }),
      },
      {
        name: "validateUpload",
        trigger: expect.objectContaining({
          type: "queueTrigger",
          queueName: "uploads-created",
          connection: "VALIDATION_STORAGE",
        }),
      },
      {
        name: "malwareScanResult",
        trigger: expect.objectContaining({
          type: "queueTrigger",
          queueName: "malware-scan-results",
          connection: "VALIDATION_STORAGE",
        }),
      },
    ]);
  });

  test("a change to the function's source changes the hash", () => {
    const copy = path.join(tempDir(), "function");
    cpSync(path.join(REPO_ROOT, "function"), copy, { recursive: true });
    const unchanged = buildFunctionPackage(tempDir(), { functionDir: copy });
    expect(unchanged.sha256).toBe(built.sha256);

    const credentials = path.join(copy, "issuing", "credentials.ts");
    const source = readFileSync(credentials, "utf8");
    const edited = source.replace(
      "The function cannot issue tokens:",
      "The function cannot issue any tokens:",
    );
    expect(edited).not.toBe(source);
    writeFileSync(credentials, edited);
    const changed = buildFunctionPackage(tempDir(), { functionDir: copy });
    expect(changed.sha256).not.toBe(built.sha256);
  });
});

function isNodeBuiltin(name: string): boolean {
  return (require("node:module") as typeof import("node:module")).builtinModules.includes(name);
}
