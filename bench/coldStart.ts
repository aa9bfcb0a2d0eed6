// Row 3: from starting a fresh Node process to its first token, for the deployable package (the bundle
// the infrastructure publishes) against a process that imports the unbundled @azure/storage-blob and
// @azure/functions from node_modules and signs the same token. Also the package's zipped size. The package's
// first token waits for the instance's one check of the container's stored access policies (a Get
// Container ACL against the benchmark's Azurite, the policies being in place); the baseline makes none.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync, zipSync } from "fflate";
import { buildFunctionPackage } from "../infra/package";
import type { BaselineAccount, BaselineSigner } from "./baseline";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface ColdStartOptions {
  runs: number;
  /** The settings the package reads (its environment on a real instance). */
  env: NodeJS.ProcessEnv;
  /** What the baseline process signs with: the same account, container, protocol and lifetime. */
  account: BaselineAccount;
  /** Checks that a body is the token the baseline signer makes for the same moment. */
  signer: BaselineSigner;
}

export const COLD_START_TARGET = 3;
/**
 * The package's own code, zipped, must stay under 1 MB (10^6 bytes). The native packages it also carries
 * (sharp and libvips, about 8.5 MB zipped) are a fixed cost of their pinned version, reported beside it.
 */
export const PACKAGE_BYTES_TARGET = 1_000_000;

/**
 * Loads the bundle as the Functions worker would (`main` of its package.json) and calls the registered
 * handler once. The request and context carry what the handler reads; in Azure the worker builds them
 * with the library inside the bundle. A fetch Headers object is left out on purpose: its first use
 * loads Node's fetch implementation (about 15 ms here), which the baseline process never pays either.
 */
const PACKAGE_SCRIPT = `
const { httpFunctions } = require(process.argv[1]);
const request = { method: "GET", url: "http://localhost/api/credentials", query: new URLSearchParams(), headers: { get: () => null } };
const context = { invocationId: "cold-start", log() {}, warn() {}, error() {} };
Promise.resolve(httpFunctions.credentials.handler(request, context)).then((response) => {
  process.stdout.write(JSON.stringify(response.jsonBody));
});`;

/** The unbundled libraries from node_modules, then the same container token signed with the SDK. */
const UNBUNDLED_SCRIPT = `
require("@azure/functions");
const blob = require("@azure/storage-blob");
const a = JSON.parse(process.argv[1]);
const expiresOn = new Date(Math.floor(Date.now() / 1000) * 1000 + a.lifetimeMinutes * 60000);
const sasKey = blob.generateBlobSASQueryParameters(
  { containerName: a.container, identifier: a.identifier, expiresOn, protocol: a.protocol },
  new blob.StorageSharedKeyCredential(a.accountName, a.accountKey),
).toString();
process.stdout.write(JSON.stringify({ sasKey, url: a.blobServiceUrl, container: a.container, expiresOn: expiresOn.toISOString() }));`;

export async function benchColdStart(options: ColdStartOptions): Promise<BenchRow> {
  const outDir = await mkdtemp(join(tmpdir(), "valet-package-"));
  try {
    const pkg = buildFunctionPackage(outDir);
    const project = () => firstToken(PACKAGE_SCRIPT, join(pkg.bundleDir, "index.js"), options);
    const baseline = () => firstToken(UNBUNDLED_SCRIPT, JSON.stringify(options.account), options);
    // One start of each first, so that neither pays for reading files into the OS cache.
    await project();
    await baseline();
    const { project: projectFigure, baseline: baselineFigure } = await alternate(
      options.runs,
      project,
      baseline,
      1,
    );
    const ratio = ratioOf(projectFigure.median, baselineFigure.median, "lower");
    return {
      id: "coldStart",
      title: "3. Cold start",
      unit: "ms",
      better: "lower",
      project: projectFigure,
      baseline: baselineFigure,
      ratio: round(ratio),
      target: `>= ${COLD_START_TARGET}x faster, code zip < 1 MB`,
      targetMet: ratio >= COLD_START_TARGET && codeZipBytes(pkg.zip) < PACKAGE_BYTES_TARGET,
      details: { packageZipBytes: pkg.zip.length, codeZipBytes: codeZipBytes(pkg.zip) },
    };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/** Milliseconds from spawning `node -e script arg` to a complete, correct token on its stdout. */
function firstToken(script: string, arg: string, options: ColdStartOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, ["-e", script, arg], {
      // Resolved from the repository, so the unbundled process finds node_modules.
      cwd: join(__dirname, ".."),
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let elapsed: number | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (elapsed === undefined && stdout.endsWith("}")) elapsed = performance.now() - start;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0 || elapsed === undefined) {
        reject(new Error(`a cold-start process failed (exit ${code}): ${stderr.trim().slice(-500)}`));
        return;
      }
      try {
        checkToken(stdout, options);
      } catch (error) {
        reject(error);
        return;
      }
      resolve(elapsed);
    });
  });
}

function checkToken(body: string, options: ColdStartOptions): void {
  const { expiresOn } = JSON.parse(body) as { expiresOn: string };
  const expected = options.signer.responseBody(
    Date.parse(expiresOn) - options.account.lifetimeMinutes * 60_000,
  );
  if (body !== expected) throw new Error(`a cold-start process issued a different token: ${body}`);
}

/** The package without its node_modules/, zipped as the package is: the size of the function's own code. */
function codeZipBytes(zip: Buffer): number {
  const own = Object.fromEntries(
    Object.entries(unzipSync(zip)).filter(([name]) => !name.startsWith("node_modules/")),
  );
  return zipSync(own, { level: 9 }).length;
}
