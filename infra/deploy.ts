// Publishes the function package to the Flex Consumption app from `pulumi up`: a dynamic resource whose
// inputs carry the package's SHA-256, so a code change redeploys, an unchanged package does not, and
// `pulumi preview` shows the pending deploy (only create/update publish; check and diff never act).
import type * as web from "@pulumi/azure-native/web";
import * as pulumi from "@pulumi/pulumi";
import { publishPackage } from "./oneDeploy";
import type { FunctionPackage } from "./package";

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
}

export interface DeploymentOutputs extends DeploymentInputs {
  /** The platform's id for the last deployment ("" when it reported none). */
  deploymentId: string;
}

/** A token for Azure Resource Manager: the SCM site accepts Entra ID bearer tokens with this audience. */
export const ARM_SCOPE = "https://management.azure.com/.default";

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
  const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
  const credential = new DefaultAzureCredential();
  const getToken = async () => {
    try {
      const token = await credential.getToken(ARM_SCOPE);
      return token.token;
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : "unknown error";
      throw new Error(
        `Could not get an Entra ID token for Azure Resource Manager to deploy the function (${reason}): ` +
          "sign in with `az login`, or in CI log in to Azure (azure/login with OIDC) before `pulumi up`.",
      );
    }
  };
  const result = await publishPackage({ scmHost: inputs.scmHost, zip, getToken });
  return { ...inputs, deploymentId: result.deploymentId ?? "" };
}

/** The dynamic provider: create and update publish; diff compares; delete leaves the app's code alone. */
export const oneDeployProvider: pulumi.dynamic.ResourceProvider = {
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
    throw new Error(
      "The function app reports no SCM (Repository) host name, so its code cannot be published.",
    );
  }
  return host;
}

export interface FunctionDeploymentArgs {
  app: web.WebApp;
  resourceGroupName: pulumi.Input<string>;
  package: FunctionPackage;
}

/** The function's code, published to its Flex Consumption app whenever the package's bytes change. */
export class FunctionDeployment extends pulumi.ComponentResource {
  readonly packageSha256: pulumi.Output<string>;

  constructor(name: string, args: FunctionDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:deploy:FunctionDeployment", name, {}, opts);
    const publish = new PackagePublish(
      `${name}-onedeploy`,
      {
        scmHost: args.app.hostNameSslStates.apply(scmHostOf),
        packageSha256: args.package.sha256,
        zipPath: args.package.zipPath,
        appName: args.app.name,
        resourceGroupName: args.resourceGroupName,
      },
      {
        parent: this,
        // Children do not inherit a component's dependsOn; whatever the caller made the deployment wait
        // for (app settings, the identity's role on the deployment storage) must hold for the publish too.
        // gatherExplicitDependencies flattens nested inputs, so the caller's value can be passed as is.
        dependsOn: [args.app, opts?.dependsOn ?? []] as pulumi.Input<pulumi.Resource>[],
      },
    );
    this.packageSha256 = publish.packageSha256;
    this.registerOutputs({ packageSha256: this.packageSha256, deploymentId: publish.deploymentId });
  }
}
