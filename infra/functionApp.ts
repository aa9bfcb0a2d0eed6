// The Function App that issues SAS tokens: Flex Consumption (FC1, Linux, Node 22), its own runtime
// storage account reached with its managed identity, and the platform settings that keep it tight.
// Flex Consumption is Microsoft's recommended serverless plan; Linux Consumption gets no new runtimes.
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan
import * as authorization from "@pulumi/azure-native/authorization";
import * as storage from "@pulumi/azure-native/storage";
import * as web from "@pulumi/azure-native/web";
import * as pulumi from "@pulumi/pulumi";
import { CREDENTIALS_ROUTE } from "../function/routes";
import { SECURE_ACCOUNT } from "./storage";

/** Node.js 22 is the newest Node runtime Flex Consumption offers; the bundle targets it. */
export const NODE_RUNTIME_VERSION = "22";

/**
 * Built-in role "Storage Blob Data Owner": what the Functions host needs on AzureWebJobsStorage when it
 * connects with an identity (keys, leases), and enough to read the deployment package container.
 * https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
 * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-owner
 */
export const STORAGE_BLOB_DATA_OWNER_ROLE = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";

/** The container the platform reads the deployment package from (OneDeploy writes it). */
export const DEPLOYMENT_CONTAINER = "deployment-package";

export interface FunctionAppArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  /** The function's own app settings (function/appSettings.ts names), besides the runtime's. */
  appSettings: Record<string, pulumi.Input<string>>;
  /** Origins the platform answers CORS for. */
  allowedOrigins: pulumi.Input<pulumi.Input<string>[]>;
  maximumInstanceCount: number;
  instanceMemoryMB: number;
  applicationInsightsConnectionString: pulumi.Input<string>;
}

export class FunctionApp extends pulumi.ComponentResource {
  readonly app: web.WebApp;
  readonly name: pulumi.Output<string>;
  readonly defaultHostName: pulumi.Output<string>;
  /** The SAS endpoint: https://<host>/api/credentials */
  readonly credentialsUrl: pulumi.Output<string>;

  constructor(name: string, args: FunctionAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:functionApp:FunctionApp", name, {}, opts);

    // The runtime's own account (AzureWebJobsStorage and the deployment package), kept apart from the
    // uploads account. Reached only with the app's identity, so shared keys are off.
    // https://learn.microsoft.com/azure/azure-functions/storage-considerations
    const runtimeAccount = new storage.StorageAccount(
      "runtime",
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        ...SECURE_ACCOUNT,
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
      },
      { parent: this },
    );

    const deploymentContainer = new storage.BlobContainer(
      "deployment",
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        containerName: DEPLOYMENT_CONTAINER,
        publicAccess: storage.PublicAccess.None,
      },
      { parent: this },
    );

    // FC1 is the Flex Consumption SKU; `reserved: true` makes it a Linux plan (the only OS it runs).
    // https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan
    const plan = new web.AppServicePlan(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        kind: "functionapp",
        sku: { name: "FC1", tier: "FlexConsumption" },
        reserved: true,
      },
      { parent: this },
    );

    const runtimeBlobUrl = runtimeAccount.primaryEndpoints.blob.apply((url) => url.replace(/\/+$/, ""));
    // Flex Consumption takes its runtime, scale and package location from functionAppConfig;
    // FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and friends are
    // refused as app settings there.
    // https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
    this.app = new web.WebApp(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        kind: "functionapp,linux",
        serverFarmId: plan.id,
        httpsOnly: true,
        identity: { type: web.ManagedServiceIdentityType.SystemAssigned },
        functionAppConfig: {
          deployment: {
            storage: {
              type: web.FunctionsDeploymentStorageType.BlobContainer,
              value: pulumi.interpolate`${runtimeBlobUrl}/${deploymentContainer.name}`,
              authentication: { type: web.AuthenticationType.SystemAssignedIdentity },
            },
          },
          runtime: { name: web.RuntimeName.Node, version: NODE_RUNTIME_VERSION },
          scaleAndConcurrency: {
            maximumInstanceCount: args.maximumInstanceCount,
            instanceMemoryMB: args.instanceMemoryMB,
          },
        },
        siteConfig: {
          minTlsVersion: web.SupportedTlsVersions.SupportedTlsVersions_1_2,
          scmMinTlsVersion: web.SupportedTlsVersions.SupportedTlsVersions_1_2,
          ftpsState: web.FtpsState.Disabled,
          http20Enabled: true,
          cors: { allowedOrigins: args.allowedOrigins, supportCredentials: false },
          appSettings: [
            // Identity-based host storage: the account name alone, no key, no connection string.
            // https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
            { name: "AzureWebJobsStorage__accountName", value: runtimeAccount.name },
            {
              name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
              value: args.applicationInsightsConnectionString,
            },
            ...Object.entries(args.appSettings).map(([settingName, value]) => ({ name: settingName, value })),
          ],
        },
      },
      { parent: this },
    );

    // Basic publishing credentials (FTP and SCM user/password) off: code is published with an Entra ID
    // token. https://learn.microsoft.com/azure/app-service/configure-basic-auth-disable
    new web.WebAppFtpAllowed(
      `${name}-ftp`,
      { resourceGroupName: args.resourceGroupName, name: this.app.name, allow: false },
      { parent: this },
    );
    new web.WebAppScmAllowed(
      `${name}-scm`,
      { resourceGroupName: args.resourceGroupName, name: this.app.name, allow: false },
      { parent: this },
    );

    const client = authorization.getClientConfigOutput({ parent: this });
    new authorization.RoleAssignment(
      `${name}-runtime-blob-owner`,
      {
        scope: runtimeAccount.id,
        principalId: this.app.identity.apply((identity) => {
          if (!identity?.principalId) {
            throw new pulumi.RunError(
              "The Function App has no system-assigned identity to grant storage access to.",
            );
          }
          return identity.principalId;
        }),
        principalType: authorization.PrincipalType.ServicePrincipal,
        roleDefinitionId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_OWNER_ROLE}`,
      },
      { parent: this },
    );

    this.name = this.app.name;
    this.defaultHostName = this.app.defaultHostName;
    // `api` is the Functions host's default route prefix (function/host.json keeps it).
    this.credentialsUrl = pulumi.interpolate`https://${this.app.defaultHostName}/api/${CREDENTIALS_ROUTE}`;
    this.registerOutputs({
      name: this.name,
      defaultHostName: this.defaultHostName,
      credentialsUrl: this.credentialsUrl,
    });
  }
}
