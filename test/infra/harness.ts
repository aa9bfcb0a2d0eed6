// Runs the Pulumi program under the shared mocks (test/support/pulumiMocks.cjs), with config set before the
// program is imported. Each run imports the program in a fresh module context so that config is read again.
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { TEST_KEY } from "../support/accounts";
import {
  azureInvokes,
  installMocks,
  type RecordedResource,
  SECOND_KEY,
  SUBSCRIPTION_ID,
} from "../support/pulumiMocks.cjs";

export const PROJECT = "valet";
export const STACK = "dev";
export { SUBSCRIPTION_ID };
/** The keys the mocked listStorageAccountKeys returns: key1, then key2. */
export const MOCK_ACCOUNT_KEY = TEST_KEY;
export const MOCK_SECOND_KEY = SECOND_KEY;

export type { RecordedResource };

export interface ProgramRun {
  resources: RecordedResource[];
  /** The program's stack outputs (its module's exports). */
  outputs: Record<string, unknown>;
  invokes: { token: string; inputs: Record<string, unknown> }[];
}

/** Pulumi's wire form of a secret value, as mocks see it in resource inputs. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretValue(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}

/** Whether `needle` appears in `value` outside every secret wrapper: what would sit in plaintext state. */
export function inPlaintext(value: unknown, needle: string): boolean {
  if (isSecretValue(value)) return false;
  if (typeof value === "string") return value.includes(needle);
  if (Array.isArray(value)) return value.some((item) => inPlaintext(item, needle));
  if (typeof value === "object" && value !== null) {
    return Object.values(value).some((item) => inPlaintext(item, needle));
  }
  return false;
}

/** The value with every secret wrapper removed. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, reveal(item)]));
  }
  return value;
}

/**
 * Runs infra/index.ts with the given config (keys without the `valet:` prefix) and returns what it
 * registered. Rejects with the program's own error when it refuses the config.
 */
export async function runProgram(
  config: Record<string, string> = {},
  options: { secretKeys?: readonly string[] } = {},
): Promise<ProgramRun> {
  const { resources, invokes } = await installMocks(pulumi, {
    project: PROJECT,
    stack: STACK,
    invokes: azureInvokes({ accountKey: MOCK_ACCOUNT_KEY, subscriptionId: SUBSCRIPTION_ID }),
  });
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(config).map(([key, value]) => [`${PROJECT}:${key}`, value])),
    // Keys set with `pulumi config set --secret`.
    (options.secretKeys ?? []).map((key) => `${PROJECT}:${key}`),
  );
  vi.resetModules();
  const program = (await import("../../infra/index.js")) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(program)) {
    outputs[name] = pulumi.Output.isInstance(value) ? await resolved(value) : value;
  }
  // Resources whose inputs wait on other resources register last; wait until nothing is in flight.
  await pulumi.runtime.disconnect();
  return { resources, outputs, invokes };
}

/** An output's value, with whether it is secret. */
export async function resolved(output: pulumi.Output<unknown>): Promise<{ value: unknown; secret: boolean }> {
  const [value, secret] = await Promise.all([
    new Promise<unknown>((resolve) => output.apply((v) => resolve(v))),
    pulumi.isSecret(output),
  ]);
  return { value, secret };
}

/** The only resource of a type (and logical name, when given); fails when there is not exactly one. */
export function only(run: ProgramRun, type: string, name?: string): RecordedResource {
  const found = run.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}`);
  }
  return found[0] as RecordedResource;
}

/** The WebApp's app settings as a name → value map (secrets revealed; see isSecretValue for the wrapper). */
export function appSettings(app: RecordedResource): Record<string, string> {
  const siteConfig = reveal(app.inputs.siteConfig) as { appSettings: { name: string; value: string }[] };
  return Object.fromEntries(siteConfig.appSettings.map((setting) => [setting.name, setting.value]));
}

/** The stack outputs users rely on (docs/deploying.md lists them). */
export const STACK_OUTPUTS = [
  "credentialsUrl",
  "blobServiceUrl",
  "container",
  "verifiedContainer",
  "functionAppName",
  "resourceGroupName",
  "uploadsConnectionString",
  "uploadPageUrl",
] as const;
