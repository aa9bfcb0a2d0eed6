// The consumer in examples/existing-group, run against valet as another program gets it: `npm pack` (whose
// prepack builds lib/), the tarball unpacked as node_modules/valet beside the example, and the example
// loaded the way `pulumi preview` loads it (test/infra/languageHost.cjs: the project's own @pulumi/pulumi
// and its cmd/run, which compiles the example's TypeScript with ts-node and loads valet's compiled
// JavaScript), under mocks. valet's dependencies are linked from this repository's own install (the
// versions package-lock.json pins): installing that 300-package tree with npm takes minutes even offline,
// and the test is about valet's package, not npm's resolver.
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { reveal } from "./harness";

const ROOT = path.resolve(__dirname, "../..");
const EXAMPLE = path.join(ROOT, "examples", "existing-group");

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

interface ExampleRun {
  status: number | null;
  stderr: string;
  resources: Registered[];
  invokes: string[];
  outputs: string[];
}

let work: string;
let project: string;
let run: ExampleRun;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "valet-example-"));
  // --ignore-scripts would skip prepack: the package must build itself when packed.
  const packed = execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tarball = path.join(work, packed.trim().split("\n").pop() ?? "");

  project = path.join(work, "photos-site");
  cpSync(EXAMPLE, project, { recursive: true, filter: (source) => !source.includes("node_modules") });
  const modules = path.join(project, "node_modules");
  const valet = path.join(modules, "valet");
  mkdirSync(valet, { recursive: true });
  // npm packs every file under package/; installing puts that folder's contents in node_modules/valet.
  execFileSync("tar", ["-xzf", tarball, "--strip-components=1", "-C", valet]);
  for (const entry of readdirSync(path.join(ROOT, "node_modules"))) {
    if (entry === ".bin" || entry === "valet") continue;
    symlinkSync(path.join(ROOT, "node_modules", entry), path.join(modules, entry));
  }

  const child = spawnSync(
    process.execPath,
    [path.join(__dirname, "languageHost.cjs"), "dev", "resourceGroupName=photos-team"],
    { cwd: project, encoding: "utf8", timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
  );
  const lastLine = child.stdout.trim().split("\n").pop() ?? "{}";
  run = {
    status: child.status,
    stderr: child.stderr,
    ...(JSON.parse(lastLine) as Omit<ExampleRun, "status" | "stderr">),
  };
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  // Where ValetUploads builds by default (the example gives no buildDir): the OS's temp folder.
  rmSync(path.join(tmpdir(), "valet", "photos-site-dev-uploads"), { recursive: true, force: true });
});

const ofType = (type: string) => run.resources.filter((resource) => resource.type === type);

describe("examples/existing-group against the packed package", () => {
  test("the package holds the compiled component, its declarations and the prebuilt artifacts, and no sources", () => {
    const valet = path.join(project, "node_modules", "valet");
    const manifest = JSON.parse(readFileSync(path.join(valet, "package.json"), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
    };
    const entry = manifest.exports["."];
    expect(existsSync(path.join(valet, entry?.default ?? "missing"))).toBe(true);
    expect(existsSync(path.join(valet, entry?.types ?? "missing"))).toBe(true);
    expect(existsSync(path.join(valet, "lib", "artifacts", "function", "index.js"))).toBe(true);
    expect(existsSync(path.join(valet, "lib", "artifacts", "web", "index.html"))).toBe(true);
    expect(existsSync(path.join(valet, "function"))).toBe(false);
    expect(existsSync(path.join(valet, "infra"))).toBe(false);
  });

  test("previews without an error, in the group it looks up, with valet and the site of its own", () => {
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.invokes).toContain("azure-native:resources:getResourceGroup");
    expect(ofType("azure-native:resources:ResourceGroup")).toEqual([]);
    expect(ofType("valet:index:Uploads").map((resource) => resource.name)).toEqual(["uploads"]);
    const accounts = ofType("azure-native:storage:StorageAccount");
    expect(accounts.map((account) => account.name).sort()).toEqual(["credentials", "uploads", "website"]);
    for (const account of accounts) expect(account.inputs.resourceGroupName).toBe("photos-team");
    expect(run.outputs).toEqual(expect.arrayContaining(["siteUrl", "credentialsUrl", "verifiedContainer"]));
  });

  test("valet's page is left out and the site's origin is the one its CORS rule allows", () => {
    expect(ofType("azure-native:storage:StorageAccountStaticWebsite").map((site) => site.name)).toEqual([
      "website",
    ]);
    const [service] = ofType("azure-native:storage:BlobServiceProperties");
    const rules = (service?.inputs.cors as { corsRules: { allowedOrigins: string[] }[] } | undefined)
      ?.corsRules;
    expect(rules?.map((rule) => rule.allowedOrigins)).toEqual([
      [expect.stringMatching(/^https:\/\/website\w+\.z16\.web\.core\.windows\.net$/)],
    ]);
  });

  test("the function is published from the package it ships: the prebuilt bundle, zipped with its native packages", () => {
    const [publish] = ofType("pulumi-nodejs:dynamic/valet:OneDeploy");
    const zipPath = publish?.inputs.zipPath as string;
    expect(zipPath.startsWith(ROOT)).toBe(false);
    const zip = readFileSync(zipPath);
    const { unzipSync } = require("fflate") as typeof import("fflate");
    const files = unzipSync(zip);
    const bundle = readFileSync(
      path.join(project, "node_modules", "valet", "lib", "artifacts", "function", "index.js"),
    );
    expect(Buffer.from(files["index.js"] ?? []).equals(bundle)).toBe(true);
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining(["host.json", "node_modules/sharp/package.json"]),
    );
  });

  test("the app settings carry the example's options through the component", () => {
    const app = ofType("azure-native:web:WebApp")[0];
    const siteConfig = reveal(app?.inputs.siteConfig) as { appSettings: { name: string; value: unknown }[] };
    const settings = siteConfig.appSettings;
    expect(settings).toEqual(
      expect.arrayContaining([{ name: "MAX_UPLOAD_BYTES", value: String(20 * 1024 * 1024) }]),
    );
  });
});
