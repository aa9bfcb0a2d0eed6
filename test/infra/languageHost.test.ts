// Loads the program as `pulumi preview` does (Pulumi.yaml's entry point, @pulumi/pulumi's cmd/run, its
// vendored ts-node with the project's typescript and tsconfig.json), under mocks, in a child process:
// if this passes, a real preview cannot fail on loading or compiling the program.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { STACK_OUTPUTS } from "./harness";

const ROOT = path.resolve(__dirname, "../..");

function loadLikePulumi(stack: string, ...overrides: string[]) {
  const child = spawnSync(process.execPath, [path.join(__dirname, "languageHost.cjs"), stack, ...overrides], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  const lastLine = child.stdout.trim().split("\n").pop() ?? "{}";
  const result = JSON.parse(lastLine) as { registered: string[]; outputs: string[] };
  return { status: child.status, stderr: child.stderr, ...result };
}

describe("the program as the Pulumi language host loads it", () => {
  test("the dev stack compiles, registers the whole environment and exports its outputs", () => {
    const run = loadLikePulumi("dev");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.registered).toEqual(
      expect.arrayContaining([
        "pulumi:pulumi:Stack",
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:BlobContainer",
        "azure-native:web:AppServicePlan",
        "azure-native:web:WebApp",
        "azure-native:authorization:RoleAssignment",
        "azure-native:applicationinsights:Component",
        "azure-native:storage:StorageAccountStaticWebsite",
        "pulumi-nodejs:dynamic/valet:OneDeploy",
      ]),
    );
    expect(run.outputs).toEqual(expect.arrayContaining([...STACK_OUTPUTS]));
  });

  test("a bad config value fails the run with the key and accepted values, without a stack trace", () => {
    const run = loadLikePulumi("dev", "tokenLifetimeMinutes=1");
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      "valet:tokenLifetimeMinutes must be a whole number of minutes from 5 to 1440 (default 120).",
    );
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.registered).toEqual(["pulumi:pulumi:Stack"]);
  });
});
