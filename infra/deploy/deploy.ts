// Publishes the function package to the Flex Consumption app from `pulumi up`: a dynamic resource whose
// inputs carry the package's SHA-256, so a code change redeploys, an unchanged package does not, and
// `pulumi preview` shows the pending deploy (only create/update publish; check and diff never act). A
// publish ends once the app lists every function (oneDeploy.ts, syncTriggers), so whatever depends on it,
// the Event Grid subscription first, starts with the queue trigger known to the platform.
import * as pulumi from "@pulumi/pulumi";
import { FUNCTION_NAMES } from "../../function/contract/routes";
import type { FunctionApp } from "../functionApp";
import type { FunctionPackage } from "../package";
import { deployCredential } from "./deployCredential";
import { publishPackage } from "./oneDeploy";

/** What the dynamic provider receives and records in the stack's state. */
export interface DeploymentInputs {
  /** The app's SCM host, where OneDeploy listens. */
  scmHost: string;
  /** SHA-256 of the zip: the deployment's identity, compared by diff. */
  packageSha256: string;
  /**
   * Where the zip is on the machine running `pulumi up`. The provider runs in its own process from a
   * serialized copy of its functions, so it reads the zip from this path at create/update time instead of
   * carrying ~200 KB of base64 in every input and in the state. The path is not compared by diff (it differs
   * between machines); the provider checks that the file still has the hash it was registered with.
   */
  zipPath: string;
  /** Recorded for people reading the state. */
  appName: string;
  resourceGroupName: string;
  /** The app's ARM resource id: after the publish, its triggers are synced there. */
  siteId?: string;
  /** Every function the package registers: the publish is done once the app lists them all. */
  functionNames?: string[];
}

export interface DeploymentOutputs extends DeploymentInputs {
  /** The platform's id for the last deployment ("" when it reported none). */
  deploymentId: string;
}

/**
 * Only the package's hash and the target decide whether to publish. A changed zipPath alone (another
 * machine, another temp folder) is not a change; a new app host is, since the new app has no code yet.
 */
export function diffDeployment(olds: Partial<DeploymentInputs>, news: Partial<DeploymentInputs>) {
  const changed = (["packageSha256", "scmHost"] as const).filter((key) => olds[key] !== news[key]);
  return { changes: changed.length > 0, replaces: [] as string[], deleteBeforeReplace: false };
}

/**
 * Reads the zip, checks it is the one registered, gets an Entra ID token and publishes. Modules are
 * required inside the function: Pulumi serializes this code into the provider process, where module
 * objects captured from this file would otherwise be serialized too.
 */
export async function deployPackage(inputs: DeploymentInputs): Promise<DeploymentOutputs> {
  const { readFileSync } = require("node:fs") as typeof import("node:fs");
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  let zip: Buffer;
  try {
    zip = readFileSync(inputs.zipPath);
  } catch {
    throw new Error(
      `The function package ${inputs.zipPath} is missing: it is built by the program on every run.`,
    );
  }
  const actual = createHash("sha256").update(zip).digest("hex");
  if (actual !== inputs.packageSha256) {
    throw new Error(
      `The function package ${inputs.zipPath} changed after the program built it (sha256 ${actual}, ` +
        `expected ${inputs.packageSha256}): run the deployment again.`,
    );
  }
  // The provider runs where `pulumi up` runs, at deploy time: its environment (a laptop's `az login`, a CI
  // job's OIDC variables) is the sign-in to use, as it is for the azure-native provider (see index.ts).
  const { credential, scope, source, resourceManager } = deployCredential(process.env);
  const getToken = async () => {
    try {
      const token = await credential.getToken(scope);
      return token?.token ?? "";
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : "unknown error";
      throw new Error(
        `Could not get an Entra ID token (${source}) for Azure Resource Manager to deploy the function ` +
          `(${reason}): sign in with \`az login\`, or in CI log in to Azure (azure/login with OIDC, and ` +
          "ARM_CLIENT_ID and ARM_TENANT_ID set) before `pulumi up`.",
      );
    }
  };
  const result = await publishPackage({
    scmHost: inputs.scmHost,
    zip,
    getToken,
    // A state written before the sync existed has no siteId: that publish waits for the deployment alone.
    sync: inputs.siteId
      ? { resourceManager, siteId: inputs.siteId, functionNames: inputs.functionNames ?? [] }
      : undefined,
  });
  return { ...inputs, deploymentId: result.deploymentId ?? "" };
}

/**
 * The engine's placeholder for a value not known until the resources it comes from exist (`pulumi preview`
 * of a new app): such an input is checked at `up`, once known.
 * https://github.com/pulumi/pulumi/blob/master/sdk/nodejs/runtime/rpc.ts (unknownValue)
 */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** What is wrong with the inputs, one failure per property, as `pulumi preview` lists them. */
export function checkDeployment(news: Record<string, unknown>): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const { scmHost, packageSha256, zipPath } = news;
  // A DNS host name, with a port only for a local stand-in.
  const hostPattern =
    /^(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/i;
  if (scmHost !== UNKNOWN && (typeof scmHost !== "string" || !hostPattern.test(scmHost))) {
    failures.push({
      property: "scmHost",
      reason: `scmHost must be the app's SCM host name (e.g. <app>.scm.azurewebsites.net), got ${JSON.stringify(scmHost)}.`,
    });
  }
  if (
    packageSha256 !== UNKNOWN &&
    (typeof packageSha256 !== "string" || !/^[0-9a-f]{64}$/.test(packageSha256))
  ) {
    failures.push({
      property: "packageSha256",
      reason: "packageSha256 must be the package's SHA-256 as 64 lowercase hex digits.",
    });
  }
  if (zipPath !== UNKNOWN && (typeof zipPath !== "string" || zipPath === "")) {
    failures.push({ property: "zipPath", reason: "zipPath must name the function package's zip file." });
  }
  const { siteId, functionNames } = news;
  if (
    siteId !== UNKNOWN &&
    siteId !== undefined &&
    (typeof siteId !== "string" ||
      !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Web\/sites\/[^/]+$/i.test(
        siteId,
      ))
  ) {
    failures.push({
      property: "siteId",
      reason: `siteId must be the app's resource id (/subscriptions/…/providers/Microsoft.Web/sites/<app>), got ${JSON.stringify(siteId)}.`,
    });
  }
  if (
    functionNames !== undefined &&
    (!Array.isArray(functionNames) ||
      functionNames.length === 0 ||
      !functionNames.every((name) => typeof name === "string" && name !== ""))
  ) {
    failures.push({
      property: "functionNames",
      reason: "functionNames must list every function the package registers.",
    });
  }
  return failures;
}

/**
 * The dynamic provider: check validates; create and update publish; diff compares; delete leaves the
 * app's code alone.
 */
export const oneDeployProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: DeploymentInputs, news: DeploymentInputs) {
    return { inputs: news, failures: checkDeployment({ ...news }) };
  },
  async diff(_id: string, olds: DeploymentOutputs, news: DeploymentInputs) {
    return diffDeployment(olds, news);
  },
  async create(inputs: DeploymentInputs) {
    const outs = await deployPackage(inputs);
    return { id: `${inputs.scmHost}/onedeploy`, outs };
  },
  async update(_id: string, _olds: DeploymentOutputs, news: DeploymentInputs) {
    return { outs: await deployPackage(news) };
  },
  // Removing this resource does not remove code from the app: deleting the app does.
  async delete() {},
};

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** One OneDeploy publish of one package to one app. */
class PackagePublish extends pulumi.dynamic.Resource {
  declare readonly packageSha256: pulumi.Output<string>;
  declare readonly deploymentId: pulumi.Output<string>;

  constructor(name: string, args: Inputs<DeploymentInputs>, opts?: pulumi.CustomResourceOptions) {
    super(oneDeployProvider, name, { ...args, deploymentId: undefined }, opts, "valet", "OneDeploy");
  }
}

/** The SCM site's host, as Azure lists it among the app's host names (`hostType: Repository`). */
export function scmHostOf(states: readonly { name?: string; hostType?: string }[] | undefined): string {
  const host = states?.find((state) => state.hostType === "Repository")?.name;
  if (!host) {
    throw new pulumi.RunError(
      "The function app reports no SCM (Repository) host name, so its code cannot be published.",
    );
  }
  return host;
}

export interface FunctionDeploymentArgs {
  /**
   * The app to publish to. The publish depends on the whole component: in Node.js, depending on a component
   * waits for all its children, so the app's settings and its identity's role on the deployment storage are
   * in place before the package is sent (`getAllTransitivelyReferencedResources` walks a component's
   * children; every resource registered with `parent` joins its parent's `__childResources`).
   * https://github.com/pulumi/pulumi/blob/master/sdk/nodejs/runtime/dependsOn.ts
   * https://github.com/pulumi/pulumi/blob/master/sdk/nodejs/resource.ts (Resource constructor)
   */
  functionApp: Pick<FunctionApp, "app"> & pulumi.ComponentResource;
  resourceGroupName: pulumi.Input<string>;
  package: FunctionPackage;
}

/** The function's code, published to its Flex Consumption app whenever the package's bytes change. */
export class FunctionDeployment extends pulumi.ComponentResource {
  readonly packageSha256: pulumi.Output<string>;

  constructor(name: string, args: FunctionDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:deploy:FunctionDeployment", name, {}, opts);
    const { app } = args.functionApp;
    const publish = new PackagePublish(
      `${name}-onedeploy`,
      {
        scmHost: app.hostNameSslStates.apply(scmHostOf),
        packageSha256: args.package.sha256,
        zipPath: args.package.zipPath,
        appName: app.name,
        resourceGroupName: args.resourceGroupName,
        siteId: app.id,
        functionNames: [...FUNCTION_NAMES],
      },
      // Children do not inherit a component's dependsOn: the publish names what it waits for itself.
      { parent: this, dependsOn: [args.functionApp] },
    );
    this.packageSha256 = publish.packageSha256;
    this.registerOutputs({ packageSha256: this.packageSha256, deploymentId: publish.deploymentId });
  }
}
