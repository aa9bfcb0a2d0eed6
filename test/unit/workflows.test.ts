// The GitHub Actions workflows: each file is valid against the workflow schema (GitHub would refuse a broken
// one only after a push), and the rules the deployment relies on hold: Node 22, the preview's own identity
// outside the deploy environment, the policy pack in preview and up, forks skipping the preview.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { type ValidationError, validateWorkflow } from "@action-validator/core";
import { describe, expect, test } from "vitest";

const WORKFLOWS = path.resolve(__dirname, "../../.github/workflows");
const files = readdirSync(WORKFLOWS).filter((name) => /\.ya?ml$/.test(name));
const source = (name: string) => readFileSync(path.join(WORKFLOWS, name), "utf8");

// js-yaml ships no type declarations; the tests need only `load`.
const yaml = createRequire(__filename)("js-yaml") as { load(text: string): unknown };

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = {
  if?: string;
  environment?: string;
  container?: string;
  env?: Record<string, string>;
  steps?: Step[];
};
const jobs = (name: string) => (yaml.load(source(name)) as { jobs: Record<string, Job> }).jobs;
const job = (file: string, name: string): Job => {
  const found = jobs(file)[name];
  if (!found) throw new Error(`${file} has no job "${name}"`);
  return found;
};
const step = (found: Job, action: string): Step => {
  const match = found.steps?.find((candidate) => candidate.uses?.startsWith(`${action}@`));
  if (!match) throw new Error(`no step uses ${action}`);
  return match;
};

/** A GitHub Actions expression as written in a workflow: `${{ inner }}`. */
const expression = (inner: string) => `\${{ ${inner} }}`;

/** The validator's nested errors as one line each: where, and what is wrong. */
function problems(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => {
    const where =
      "location" in error && error.location ? `line ${error.location.line}` : "path" in error && error.path;
    const own = `${where || "/"}: ${error.detail ?? error.title}`;
    const nested = "states" in error ? (error.states ?? []).flatMap((state) => problems(state.errors)) : [];
    return [own, ...nested];
  });
}

describe("workflow files", () => {
  test("the workflows the deployment relies on are there to check", () => {
    expect(files).toEqual(expect.arrayContaining(["deploy.yml", "preview.yml", "test.yml"]));
  });

  test.each(files)("%s is valid against the GitHub Actions workflow schema", (name) => {
    expect(problems(validateWorkflow(source(name)).errors)).toEqual([]);
  });

  test("a misspelt step key is reported, naming the key", () => {
    const broken = source("deploy.yml").replace("- run: npm ci", "- runs: npm ci");
    expect(broken).not.toBe(source("deploy.yml"));
    expect(problems(validateWorkflow(broken).errors)).toContain(
      "/jobs/up/steps/2: Additional property 'runs' is not allowed",
    );
  });

  test("a file that is not YAML is reported with its line", () => {
    const errors = problems(validateWorkflow("name: broken\non: [push\n").errors);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^line 3: did not find expected/);
  });
});

describe("what the workflows promise", () => {
  test("every workflow runs Node 22, the Function App's runtime", () => {
    const versions = files.flatMap((file) =>
      Object.values(jobs(file)).flatMap((found) => [
        ...(found.container ? [found.container] : []),
        ...(found.steps ?? [])
          .filter((candidate) => candidate.uses?.startsWith("actions/setup-node@"))
          .map((candidate) => `setup-node ${String(candidate.with?.["node-version"])}`),
      ]),
    );
    // test.yml's container, and setup-node in preview and deploy.
    expect(versions.length).toBeGreaterThanOrEqual(3);
    expect(versions.filter((version) => !/^(node:22-\w+|setup-node 22)$/.test(version))).toEqual([]);
  });

  test("the preview signs in as the preview identity, outside the deploy environment", () => {
    const preview = job("preview.yml", "preview");
    expect(preview.environment).toBeUndefined();
    expect(preview.env?.ARM_CLIENT_ID).toBe(expression("vars.AZURE_PREVIEW_CLIENT_ID"));
    expect(step(preview, "azure/login").with?.["client-id"]).toBe(expression("vars.AZURE_PREVIEW_CLIENT_ID"));
    expect(source("preview.yml")).not.toContain("vars.AZURE_CLIENT_ID");
  });

  test("the deploy runs in the stack's environment as the deploy identity", () => {
    const up = job("deploy.yml", "up");
    expect(up.environment).toBe(expression("vars.PULUMI_STACK || 'dev'"));
    expect(up.env?.ARM_CLIENT_ID).toBe(expression("vars.AZURE_CLIENT_ID"));
    expect(step(up, "azure/login").with?.["client-id"]).toBe(expression("vars.AZURE_CLIENT_ID"));
  });

  test("both preview and up run the policy pack in policy/", () => {
    const commands = [job("preview.yml", "preview"), job("deploy.yml", "up")].map((found) => {
      const pulumi = step(found, "pulumi/actions");
      return [pulumi.with?.command, pulumi.with?.policyPacks];
    });
    expect(commands).toEqual([
      ["preview", "policy"],
      ["up", "policy"],
    ]);
  });

  test("a pull request from a fork or from Dependabot runs the tests and skips the preview", () => {
    const workflow = jobs("preview.yml");
    expect(workflow.test?.if).toBeUndefined();
    expect(workflow.preview?.if).toBe(
      "github.event.pull_request.head.repo.full_name == github.repository && github.actor != 'dependabot[bot]'",
    );
  });

  test("stack outputs reach the shell as environment variables, never pasted into a script", () => {
    const scripts = files.flatMap((file) =>
      Object.values(jobs(file)).flatMap((found) =>
        (found.steps ?? []).map((candidate) => candidate.run ?? ""),
      ),
    );
    expect(scripts.filter((script) => script.includes("${{"))).toEqual([]);
  });
});
