// Runs the Pulumi program under mocks, the pulumi-awsx way: every registered resource is recorded with its
// inputs, any invoke that is not mocked here fails loudly, and config is set before the program is imported.
// Each run imports the program in a fresh module context so that config is read again.
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { TEST_KEY } from "../support/accounts";

export const PROJECT = "valet";
export const STACK = "dev";
export const SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001";
/** The key the mocked listStorageAccountKeys returns. */
export const MOCK_ACCOUNT_KEY = TEST_KEY;

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** The state the mock answered with (inputs plus the outputs Azure would compute). */
  state: Record<string, unknown>;
}

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

/** The value with every secret wrapper removed. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, reveal(item)]));
  }
  return value;
}

/** What Azure computes for each resource type the program creates: names, endpoints, identities. */
function computedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const suffix = "a1b2c3d4";
  switch (type) {
    case "azure-native:resources:ResourceGroup":
      return { name: inputs.resourceGroupName ?? `${name}${suffix}` };
    case "azure-native:storage:StorageAccount": {
      const account =
        (inputs.accountName as string | undefined) ?? `${name.replace(/[^a-z0-9]/g, "")}${suffix}`;
      return {
        name: account,
        primaryEndpoints: {
          blob: `https://${account}.blob.core.windows.net/`,
          web: `https://${account}.z16.web.core.windows.net/`,
        },
      };
    }
    case "azure-native:storage:BlobContainer":
      return { name: inputs.containerName };
    case "azure-native:web:WebApp": {
      const app = `${name}-${suffix}`;
      return {
        name: app,
        defaultHostName: `${app}.azurewebsites.net`,
        hostNameSslStates: [
          { name: `${app}.azurewebsites.net`, hostType: "Standard" },
          { name: `${app}.scm.azurewebsites.net`, hostType: "Repository" },
        ],
        identity: { type: "SystemAssigned", principalId: `principal-of-${app}`, tenantId: "tenant" },
      };
    }
    case "azure-native:applicationinsights:Component":
      return {
        name: `${name}-${suffix}`,
        connectionString: `InstrumentationKey=ikey-of-${name};IngestionEndpoint=https://${name}.in.applicationinsights.azure.com/`,
      };
    default:
      return { name: inputs.name ?? `${name}-${suffix}` };
  }
}

const INVOKES: Record<string, (inputs: Record<string, unknown>) => Record<string, unknown>> = {
  "azure-native:authorization:getClientConfig": () => ({
    clientId: "client",
    objectId: "deployer",
    subscriptionId: SUBSCRIPTION_ID,
    tenantId: "tenant",
  }),
  "azure-native:storage:getStorageAccount": (inputs) => ({
    name: inputs.accountName,
    primaryEndpoints: {
      blob: `https://${inputs.accountName}.blob.core.windows.net/`,
      web: `https://${inputs.accountName}.z16.web.core.windows.net/`,
    },
  }),
  "azure-native:storage:listStorageAccountKeys": () => ({
    keys: [
      { keyName: "key1", value: MOCK_ACCOUNT_KEY, permissions: "FULL" },
      { keyName: "key2", value: Buffer.alloc(64, 0x33).toString("base64"), permissions: "FULL" },
    ],
  }),
};

/**
 * Runs infra/index.ts with the given config (keys without the `valet:` prefix) and returns what it
 * registered. Rejects with the program's own error when it refuses the config.
 */
export async function runProgram(config: Record<string, string> = {}): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  const invokes: ProgramRun["invokes"] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state = { ...args.inputs, ...computedState(args.type, args.name, args.inputs) };
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, state });
        const resourceName = String(state.name);
        return { id: `/subscriptions/${SUBSCRIPTION_ID}/mock/${args.type}/${resourceName}`, state };
      },
      call(args) {
        invokes.push({ token: args.token, inputs: args.inputs });
        const answer = INVOKES[args.token];
        if (!answer) throw new Error(`The program invoked ${args.token}, which the mocks do not provide.`);
        return answer(args.inputs);
      },
    },
    PROJECT,
    STACK,
    false,
  );
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(config).map(([key, value]) => [`${PROJECT}:${key}`, value])),
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
  "functionAppName",
  "resourceGroupName",
  "uploadsConnectionString",
  "uploadPageUrl",
] as const;
