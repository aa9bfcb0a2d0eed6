// The policy pack (policy/policies.ts) over what the program registers under mocks, where every policy must
// pass, and over one hand-made violating resource per policy, which each must report. Resources reach the
// policies as the analyzer hands them over: validations see plain values, remediations see `Secret`s.

import {
  type PolicyResource,
  type ResourceValidationPolicy,
  Secret,
  type StackValidationPolicy,
  unknownCheckingProxy,
} from "@pulumi/policy";
import { secretsPreservingProxy } from "@pulumi/policy/secret";
import { beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { resourcePolicies, stackPolicies } from "../../policy/policies";
import type { RecordedResource } from "../support/pulumiMocks.cjs";
import { isSecretValue, type ProgramRun, reveal, runProgram } from "./harness";

type Props = Record<string, unknown>;

/** How the analyzer marks an object output a preview does not know yet (@pulumi/policy's proxy.js). */
const unknownObjectValue = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff";

/** What the analyzer's deserializer makes of the engine's wire form (secrets kept only for remediations). */
function asAnalyzerSees(value: unknown, keepSecrets: boolean): unknown {
  if (isSecretValue(value)) {
    const inner = asAnalyzerSees(value.value, keepSecrets);
    return keepSecrets ? new Secret(inner) : inner;
  }
  if (Array.isArray(value)) return value.map((item) => asAnalyzerSees(item, keepSecrets));
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, asAnalyzerSees(item, keepSecrets)]),
    );
  }
  return value;
}

const policy = (name: string) => {
  const found = resourcePolicies.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no policy ${name}`);
  return found;
};

function resourceArgs(type: string, name: string, props: unknown) {
  return {
    type,
    name,
    urn: `urn:pulumi:dev::valet::${type}::${name}`,
    props: props as Props,
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: {}, additionalSecretOutputs: [] },
    stackTags: new Map<string, string>(),
    isType: () => false,
    asType: () => undefined,
    getConfig: () => ({}),
    notApplicable: (): never => {
      throw new Error("not applicable");
    },
  } as unknown as Parameters<NonNullable<ResourceValidationPolicy["remediateResource"]>>[0];
}

/** The violations a resource policy reports for one resource's inputs. */
async function violations(target: ResourceValidationPolicy, type: string, inputs: Props): Promise<string[]> {
  const reported: string[] = [];
  const validations = [target.validateResource ?? []].flat();
  for (const validate of validations) {
    const props = unknownCheckingProxy(asAnalyzerSees(inputs, false) as Props);
    await validate(resourceArgs(type, "sample", props), (message) => {
      reported.push(message);
    });
  }
  return reported;
}

/** The remediated inputs a remediation returns, or undefined when it leaves the resource alone. */
async function remediation(target: ResourceValidationPolicy, type: string, inputs: Props) {
  const props = unknownCheckingProxy(secretsPreservingProxy(asAnalyzerSees(inputs, true)));
  return target.remediateResource?.(resourceArgs(type, "sample", props));
}

/**
 * The stack as a stack policy sees it: outputs behind the SDK's unknown-checking proxy, with dependencies
 * and property dependencies linked. `unknown` names, per resource type, the outputs a preview does not know.
 */
function policyStack(
  resources: readonly RecordedResource[],
  unknown: Record<string, string[]> = {},
): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const linked = resources.map((resource) => {
    const entry = {
      type: resource.type,
      name: resource.name,
      urn: resource.urn ?? `${resource.type}::${resource.name}`,
      props: unknownCheckingProxy({
        ...(asAnalyzerSees(resource.state, false) as Props),
        ...Object.fromEntries((unknown[resource.type] ?? []).map((key) => [key, unknownObjectValue])),
      }),
      dependencies: [] as PolicyResource[],
      propertyDependencies: {} as Record<string, PolicyResource[]>,
    } as unknown as PolicyResource;
    byUrn.set(entry.urn, entry);
    return entry;
  });
  resources.forEach((resource, index) => {
    const entry = linked[index] as PolicyResource;
    const lookup = (urns: readonly string[] = []) =>
      urns.map((urn) => byUrn.get(urn)).filter((found): found is PolicyResource => found !== undefined);
    entry.dependencies = lookup(resource.dependencies);
    entry.propertyDependencies = Object.fromEntries(
      Object.entries(resource.propertyDependencies ?? {}).map(([key, urns]) => [key, lookup(urns)]),
    );
    entry.parent = resource.parent ? byUrn.get(resource.parent) : undefined;
  });
  return linked;
}

async function stackViolations(
  target: StackValidationPolicy,
  resources: readonly RecordedResource[],
  unknown?: Record<string, string[]>,
) {
  const reported: string[] = [];
  await target.validateStack?.(
    {
      resources: policyStack(resources, unknown),
      stackTags: new Map(),
      getConfig: <T extends object>() => ({}) as T,
      notApplicable: (): never => {
        throw new Error("not applicable");
      },
    },
    (message) => {
      reported.push(message);
    },
  );
  return reported;
}

const SECURE_ACCOUNT = {
  kind: "StorageV2",
  enableHttpsTrafficOnly: true,
  minimumTlsVersion: "TLS1_2",
  allowBlobPublicAccess: false,
};
const FLEX_SITE = {
  kind: "functionapp,linux",
  functionAppConfig: { runtime: { name: "node", version: "22" } },
};
const rule = (origins: string[]) => ({ allowedOrigins: origins, allowedMethods: ["PUT"] });

/** The app's role on its runtime account, which the publish must wait for. */
const RUNTIME_BLOB_OWNER = "credentials-runtime-blob-owner";

describe("the policy pack over the keyless program's resources", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      {
        signing: "identity",
        allowedOrigins: "https://photos.example.com",
        keyDerivationSecret: Buffer.alloc(32, 0x2c).toString("base64"),
      },
      { secretKeys: ["keyDerivationSecret"] },
    );
  });

  test("no policy reports any registered resource, and the publish still waits for the runtime role", async () => {
    const reported = [];
    for (const candidate of resourcePolicies.filter((entry) => entry.validateResource)) {
      for (const resource of run.resources) {
        reported.push(...(await violations(candidate, resource.type, resource.inputs)));
      }
    }
    for (const candidate of stackPolicies)
      reported.push(...(await stackViolations(candidate, run.resources)));
    expect(reported).toEqual([]);
  });

  const keylessAccountPolicy = () => {
    const found = stackPolicies.find((candidate) => candidate.name === "keyless-account-refuses-shared-key");
    if (!found) throw new Error("no policy keyless-account-refuses-shared-key");
    return found;
  };
  const UPLOADS_ACCOUNT = "azure-native:storage:StorageAccount::uploads";

  /** The keyless stack with the uploads account's state changed. */
  const withUploadsAccount = (change: (state: Props) => Props) =>
    run.resources.map((resource) =>
      resource.urn?.endsWith(UPLOADS_ACCOUNT)
        ? { ...resource, state: change({ ...resource.state }) }
        : resource,
    );

  /** As a preview of a new stack sees it: the account's name and the URL built from it are not known yet. */
  const PREVIEW_UNKNOWN = { "azure-native:storage:StorageAccount": ["name"] };
  const asInPreview = (resources: readonly RecordedResource[]) =>
    resources.map((resource) => {
      if (resource.type !== "azure-native:web:WebApp") return resource;
      // Revealed: siteConfig is a secret (it carries KEY_DERIVATION_SECRET); the change is to one setting.
      const state = reveal(resource.state) as {
        siteConfig: { appSettings: { name: string; value: unknown }[] };
      };
      const appSettings = state.siteConfig.appSettings.map((setting) =>
        setting.name === "UPLOADS_ACCOUNT_URL" ? { ...setting, value: unknownObjectValue } : setting,
      );
      return { ...resource, state: { ...state, siteConfig: { ...state.siteConfig, appSettings } } };
    });

  test("an uploads account that allows Shared Key is reported, in an update and in a preview of a new stack", async () => {
    const allowing = withUploadsAccount((state) => ({ ...state, allowSharedKeyAccess: true }));
    const message = expect.stringMatching(/signs keyless for uploads, which still allows Shared Key/);
    expect(await stackViolations(keylessAccountPolicy(), allowing)).toEqual([message]);
    expect(await stackViolations(keylessAccountPolicy(), asInPreview(allowing), PREVIEW_UNKNOWN)).toEqual([
      message,
    ]);
    expect(
      await stackViolations(keylessAccountPolicy(), asInPreview(run.resources), PREVIEW_UNKNOWN),
    ).toEqual([]);
  });

  // Unset is Azure's default, which allows Shared Key (shared-key-authorization-prevent): reported.
  test("an uploads account that leaves allowSharedKeyAccess unset is reported", async () => {
    const unset = withUploadsAccount(({ allowSharedKeyAccess: _, ...state }) => state);
    expect(await stackViolations(keylessAccountPolicy(), unset)).toHaveLength(1);
    expect(await stackViolations(keylessAccountPolicy(), asInPreview(unset), PREVIEW_UNKNOWN)).toHaveLength(
      1,
    );
  });

  // Not known in a preview (computed from another output): `pulumi up` runs the pack again with it known.
  test("an allowSharedKeyAccess a preview does not know yet is not reported", async () => {
    const unknownToo = {
      ...PREVIEW_UNKNOWN,
      "azure-native:storage:StorageAccount": ["name", "allowSharedKeyAccess"],
    };
    expect(await stackViolations(keylessAccountPolicy(), asInPreview(run.resources), unknownToo)).toEqual([]);
  });
});

describe("the policy pack over the program's own resources", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ allowedOrigins: "https://photos.example.com" });
  });

  test.each(
    resourcePolicies.filter((candidate) => candidate.validateResource).map((candidate) => [candidate.name]),
  )("%s reports nothing for any registered resource", async (name) => {
    const reported = [];
    for (const resource of run.resources) {
      reported.push(...(await violations(policy(name), resource.type, resource.inputs)));
    }
    expect(reported).toEqual([]);
  });

  test("account keys are already secret everywhere: the remediation changes no registered resource", async () => {
    const remediated = [];
    for (const resource of run.resources) {
      if (await remediation(policy("account-keys-are-secret"), resource.type, resource.inputs)) {
        remediated.push(resource.name);
      }
    }
    expect(remediated).toEqual([]);
  });

  test("the publish waits for the identity's Storage Blob Data Owner role on the runtime storage", async () => {
    const [rolesBeforePublish] = stackPolicies;
    expect(rolesBeforePublish?.name).toBe("roles-before-publish");
    expect(await stackViolations(rolesBeforePublish as StackValidationPolicy, run.resources)).toEqual([]);
  });

  test("a publish that does not wait for the role assignment is reported", async () => {
    const withoutRole = run.resources.filter(
      (resource) => resource.type !== "azure-native:authorization:RoleAssignment",
    );
    const reported = await stackViolations(stackPolicies[0] as StackValidationPolicy, withoutRole);
    expect(reported).toEqual([expect.stringMatching(/holds Storage Blob Data Owner on credentials/)]);
  });

  /** The registered resources with the first one of `type` (and `name`) changed by `change` (state and graph). */
  const altered = (type: string, change: (resource: RecordedResource) => RecordedResource, name?: string) => {
    let done = false;
    return run.resources.map((resource) => {
      if (done || resource.type !== type || (name !== undefined && resource.name !== name)) return resource;
      done = true;
      return change(resource);
    });
  };
  const accountUrn = (component: string) =>
    run.resources.find(
      (resource) => resource.type === "azure-native:storage:StorageAccount" && resource.name === component,
    )?.urn ?? "";
  const uploadsAccountName = () =>
    String(
      run.resources.find(
        (resource) => resource.type === "azure-native:storage:StorageAccount" && resource.name === "uploads",
      )?.state.name,
    );

  test("a role other than Storage Blob Data Owner on the runtime storage is reported", async () => {
    const OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    const stack = altered(
      "azure-native:authorization:RoleAssignment",
      (role) => ({
        ...role,
        state: {
          ...role.state,
          roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${OWNER}`,
        },
      }),
      RUNTIME_BLOB_OWNER,
    );
    const reported = await stackViolations(stackPolicies[0] as StackValidationPolicy, stack);
    expect(reported).toEqual([expect.stringMatching(/holds Storage Blob Data Owner on credentials/)]);
  });

  test("the role assigned on another account than the app's storage is reported", async () => {
    const stack = altered(
      "azure-native:authorization:RoleAssignment",
      (role) => ({
        ...role,
        propertyDependencies: { ...role.propertyDependencies, scope: [accountUrn("uploads")] },
      }),
      RUNTIME_BLOB_OWNER,
    );
    const reported = await stackViolations(stackPolicies[0] as StackValidationPolicy, stack);
    expect(reported).toEqual([expect.stringMatching(/holds Storage Blob Data Owner on credentials/)]);
  });

  test("host storage in a second account, where the identity holds no role, is reported", async () => {
    const stack = altered("azure-native:web:WebApp", (app) => {
      // The app settings carry the connection string, so the registered siteConfig is a secret.
      const registered = app.state.siteConfig;
      const siteConfig = (isSecretValue(registered) ? registered.value : registered) as {
        appSettings: { name: string; value: unknown }[];
      };
      return {
        ...app,
        state: {
          ...app.state,
          siteConfig: {
            ...siteConfig,
            appSettings: siteConfig.appSettings.map((setting) =>
              setting.name === "AzureWebJobsStorage__accountName"
                ? { ...setting, value: uploadsAccountName() }
                : setting,
            ),
          },
        },
      };
    });
    const reported = await stackViolations(stackPolicies[0] as StackValidationPolicy, stack);
    expect(reported).toEqual([expect.stringMatching(/holds Storage Blob Data Owner on uploads/)]);
  });

  const eventDeliveryRolesFirst = () => {
    const found = stackPolicies.find((candidate) => candidate.name === "event-delivery-roles-first");
    if (!found) throw new Error("no policy event-delivery-roles-first");
    return found;
  };
  const QUEUE_SENDER = "uploads-created-queue-sender";

  test("the event subscription waits for its topic's right to send to the queue", async () => {
    expect(await stackViolations(eventDeliveryRolesFirst(), run.resources)).toEqual([]);
  });

  test("a subscription created without waiting for the topic's sender role is reported", async () => {
    // Neither on the role nor on the wait for its roles to take effect, which depends on the role.
    const waitsFor = run.resources
      .filter(
        (resource) =>
          resource.name === QUEUE_SENDER || resource.type === "pulumi-nodejs:dynamic/valet:RoleSettle",
      )
      .map((resource) => resource.urn);
    expect(waitsFor).toHaveLength(2);
    const stack = altered("azure-native:eventgrid:SystemTopicEventSubscription", (subscription) => ({
      ...subscription,
      dependencies: (subscription.dependencies ?? []).filter((urn) => !waitsFor.includes(urn)),
    }));
    expect(await stackViolations(eventDeliveryRolesFirst(), stack)).toEqual([
      expect.stringMatching(/is created before its topic's identity may send to its queue/),
    ]);
  });

  test("a sender role granted to another identity, or on another queue, is reported", async () => {
    const appUrn = run.resources.find((resource) => resource.type === "azure-native:web:WebApp")?.urn ?? "";
    const poisonUrn =
      run.resources.find(
        (resource) =>
          resource.type === "azure-native:storage:Queue" &&
          resource.inputs.queueName === "uploads-created-poison",
      )?.urn ?? "";
    const regranted = (key: "principalId" | "scope", urn: string) =>
      altered(
        "azure-native:authorization:RoleAssignment",
        (role) => ({ ...role, propertyDependencies: { ...role.propertyDependencies, [key]: [urn] } }),
        QUEUE_SENDER,
      );
    expect(await stackViolations(eventDeliveryRolesFirst(), regranted("principalId", appUrn))).toHaveLength(
      1,
    );
    expect(await stackViolations(eventDeliveryRolesFirst(), regranted("scope", poisonUrn))).toHaveLength(1);
  });

  test("in a preview that does not know the app settings or the role id yet, the deployment storage is still checked", async () => {
    const unknown = {
      "azure-native:web:WebApp": ["siteConfig"],
      "azure-native:authorization:RoleAssignment": ["roleDefinitionId"],
    };
    const rolesBeforePublish = stackPolicies[0] as StackValidationPolicy;
    expect(await stackViolations(rolesBeforePublish, run.resources, unknown)).toEqual([]);
    const withoutRole = run.resources.filter(
      (resource) => resource.type !== "azure-native:authorization:RoleAssignment",
    );
    expect(await stackViolations(rolesBeforePublish, withoutRole, unknown)).toHaveLength(1);
  });
});

describe("each policy reports a resource that breaks it", () => {
  test("flex-site-properties names each refused site and siteConfig property", async () => {
    const reported = await violations(policy("flex-site-properties"), "azure-native:web:WebApp", {
      ...FLEX_SITE,
      isXenon: false,
      siteConfig: { ftpsState: "Disabled", netFrameworkVersion: "v4.6", minTlsVersion: "1.2" },
    });
    expect(reported).toEqual([
      expect.stringContaining("site property isXenon"),
      expect.stringContaining("siteConfig.ftpsState"),
      expect.stringContaining("siteConfig.netFrameworkVersion"),
    ]);
    const notFlex = await violations(policy("flex-site-properties"), "azure-native:web:WebApp", {
      siteConfig: { ftpsState: "Disabled" },
    });
    expect(notFlex).toEqual([]);
  });

  test("flex-app-settings names a deprecated app setting", async () => {
    const reported = await violations(policy("flex-app-settings"), "azure-native:web:WebApp", {
      ...FLEX_SITE,
      siteConfig: { appSettings: [{ name: "FUNCTIONS_WORKER_RUNTIME", value: "node" }] },
    });
    expect(reported).toEqual([expect.stringContaining("FUNCTIONS_WORKER_RUNTIME")]);
  });

  test("auth-issuer-https reports an http issuer and passes an https one", async () => {
    const site = (issuer: string) => ({
      ...FLEX_SITE,
      siteConfig: { appSettings: [{ name: SETTING.authIssuer, value: issuer }] },
    });
    expect(
      await violations(policy("auth-issuer-https"), "azure-native:web:WebApp", site("http://idp.example")),
    ).toEqual([expect.stringContaining("AUTH_ISSUER must be an https URL")]);
    expect(
      await violations(policy("auth-issuer-https"), "azure-native:web:WebApp", site("https://idp.example")),
    ).toEqual([]);
  });

  test("host-diagnostic-events-off names the feature flag a site with identity-based host storage lacks", async () => {
    const site = (settings: { name: string; value: string }[]) => ({
      ...FLEX_SITE,
      siteConfig: {
        appSettings: [{ name: "AzureWebJobsStorage__accountName", value: "valetrt" }, ...settings],
      },
    });
    const lacking = await violations(
      policy("host-diagnostic-events-off"),
      "azure-native:web:WebApp",
      site([]),
    );
    expect(lacking).toEqual([
      expect.stringContaining("AzureWebJobsFeatureFlags must include DisableDiagnosticEventLogging"),
    ]);
    const other = await violations(
      policy("host-diagnostic-events-off"),
      "azure-native:web:WebApp",
      site([{ name: "AzureWebJobsFeatureFlags", value: "EnableWorkerIndexing" }]),
    );
    expect(other).toHaveLength(1);
    const set = await violations(
      policy("host-diagnostic-events-off"),
      "azure-native:web:WebApp",
      site([
        { name: "AzureWebJobsFeatureFlags", value: "EnableWorkerIndexing, DisableDiagnosticEventLogging" },
      ]),
    );
    expect(set).toEqual([]);
  });

  test.each([
    ["storage-https-only", { ...SECURE_ACCOUNT, enableHttpsTrafficOnly: false }, /enableHttpsTrafficOnly/],
    [
      "storage-minimum-tls-1-2",
      { ...SECURE_ACCOUNT, minimumTlsVersion: "TLS1_0" },
      /TLS1_2 or later \(it is TLS1_0\)/,
    ],
    [
      "storage-no-public-blob-access",
      { ...SECURE_ACCOUNT, allowBlobPublicAccess: true },
      /allowBlobPublicAccess/,
    ],
  ])("%s reports a storage account that breaks it", async (name, inputs, message) => {
    expect(await violations(policy(name), "azure-native:storage:StorageAccount", inputs)).toEqual([
      expect.stringMatching(message),
    ]);
  });

  test("storage-private-containers reports a container readable anonymously", async () => {
    const reported = await violations(
      policy("storage-private-containers"),
      "azure-native:storage:BlobContainer",
      {
        containerName: "images",
        publicAccess: "Blob",
      },
    );
    expect(reported).toEqual(["Container images allows public access Blob."]);
  });

  test('cors-no-wildcard-origin reports "*" on the blob service and on the Function App', async () => {
    const blob = await violations(
      policy("cors-no-wildcard-origin"),
      "azure-native:storage:BlobServiceProperties",
      {
        cors: { corsRules: [rule(["https://a.example.com", "*"])] },
      },
    );
    const app = await violations(policy("cors-no-wildcard-origin"), "azure-native:web:WebApp", {
      ...FLEX_SITE,
      siteConfig: { cors: { allowedOrigins: ["*"] } },
    });
    expect([...blob, ...app]).toEqual([
      expect.stringContaining('allows "*"'),
      expect.stringContaining('allows "*"'),
    ]);
  });

  test("storage-cors-limits reports a sixth rule and a 65th origin", async () => {
    const origins = (count: number) =>
      Array.from({ length: count }, (_, index) => `https://s${index}.example.com`);
    const reported = await violations(
      policy("storage-cors-limits"),
      "azure-native:storage:BlobServiceProperties",
      {
        cors: { corsRules: [rule(origins(65)), ...Array.from({ length: 5 }, () => rule(origins(1)))] },
      },
    );
    expect(reported).toEqual([
      expect.stringMatching(/^6 CORS rules; Azure allows 5 per service/),
      expect.stringMatching(/^CORS rule 1 lists 65 origins; Azure allows 64/),
    ]);
  });

  test("roles-from-the-list reports a role the deploy identity may not assign, and passes the ones it may", async () => {
    const assignment = (role: string) => ({
      principalId: "principal",
      scope: "/subscriptions/s/resourceGroups/rg",
      roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    });
    const OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    const check = (role: string) =>
      violations(
        policy("roles-from-the-list"),
        "azure-native:authorization:RoleAssignment",
        assignment(role),
      );
    expect(await check(OWNER)).toEqual([expect.stringMatching(new RegExp(`^Role ${OWNER} is not in`))]);
    expect(await check("b7e6dc6d-f1e8-4753-8033-0f276bb0955b")).toEqual([]);
    expect(await check("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3")).toEqual([]);
  });

  test("account-keys-are-secret makes a plaintext account key secret and leaves the rest as it was", async () => {
    const key = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;";
    const remediated = (await remediation(policy("account-keys-are-secret"), "azure-native:web:WebApp", {
      ...FLEX_SITE,
      siteConfig: {
        appSettings: [
          { name: "UPLOADS_CONNECTION_STRING", value: key },
          { name: "UPLOADS_CONTAINER", value: "images" },
        ],
      },
    })) as { siteConfig: { appSettings: { name: string; value: unknown }[] } } | undefined;
    expect(remediated?.siteConfig.appSettings).toEqual([
      { name: "UPLOADS_CONNECTION_STRING", value: new Secret(key) },
      { name: "UPLOADS_CONTAINER", value: "images" },
    ]);
    expect(remediated?.siteConfig.appSettings[0]?.value).toBeInstanceOf(Secret);
  });
});
