// The Function App that issues SAS tokens and checks what was uploaded with them: Flex Consumption (FC1,
// Linux, Node 22), its own runtime storage account (host storage, the check's queues and tables) reached
// with its managed identity, and the platform settings that keep it tight.
// Flex Consumption is Microsoft's recommended serverless plan; Linux Consumption gets no new runtimes.
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan
import * as storage from "@pulumi/azure-native/storage";
import type { input } from "@pulumi/azure-native/types";
import * as web from "@pulumi/azure-native/web";
import * as pulumi from "@pulumi/pulumi";
import {
  OUTCOMES_TABLE,
  UPLOADS_CREATED_POISON_QUEUE,
  UPLOADS_CREATED_QUEUE,
  VALIDATION_QUEUE_SERVICE_URI,
  VALIDATION_TABLE_SERVICE_URI,
} from "../function/contract/check";
import { LIMITS_TABLE, LIMITS_TABLE_SERVICE_URI } from "../function/contract/limits";
import { CREDENTIALS_ROUTE } from "../function/contract/routes";
import {
  DISABLE_DIAGNOSTIC_EVENTS_FLAG,
  HOST_FEATURE_FLAGS_SETTING,
  HOST_STORAGE_ACCOUNT_SETTING,
  ROLE,
} from "./platformRules";
import { principalOf, roleGranter } from "./roles";
import type { UploadsRole, UploadsScope } from "./signing";
import { checkAccountBaseName, SECURE_ACCOUNT, withoutTrailingSlash } from "./storage";

/** Node.js 22 is the newest Node runtime Flex Consumption offers; the bundle targets it. */
export const NODE_RUNTIME_VERSION = "22";

/** The container the platform reads the deployment package from (OneDeploy writes it). */
export const DEPLOYMENT_CONTAINER = "deployment-package";

export interface FunctionAppArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  /** The function's own app settings (function/contract/appSettings.ts names), besides the runtime's. */
  appSettings: Record<string, pulumi.Input<string>>;
  /** Origins the platform answers CORS for. */
  allowedOrigins: pulumi.Input<pulumi.Input<string>[]>;
  maximumInstanceCount: number;
  instanceMemoryMB: number;
  applicationInsightsConnectionString: pulumi.Input<string>;
  /**
   * The signing plan's roles for the app's identity on the uploads account and its containers (none with the
   * account key: infra/signing.ts), with the resource ids they are scoped to.
   */
  uploadsAccess?: {
    readonly roles: readonly UploadsRole[];
    readonly scopes: Readonly<Record<UploadsScope, pulumi.Input<string>>>;
  };
}

export class FunctionApp extends pulumi.ComponentResource {
  readonly app: web.WebApp;
  /** The app's own storage: host storage, the deployment package, the limits, and the validator's queues. */
  readonly runtimeAccount: storage.StorageAccount;
  /** The queue the validator is triggered from, which Event Grid delivers the inbox's events to. */
  readonly uploadsCreatedQueue: storage.Queue;
  readonly name: pulumi.Output<string>;
  readonly defaultHostName: pulumi.Output<string>;
  /** The SAS endpoint: https://<host>/api/credentials */
  readonly credentialsUrl: pulumi.Output<string>;

  constructor(name: string, args: FunctionAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:functionApp:FunctionApp", name, {}, opts);
    checkAccountBaseName(name, "FunctionApp");

    // The runtime's own account (AzureWebJobsStorage and the deployment package), kept apart from the
    // uploads account. Reached only with the app's identity, so shared keys are off.
    // https://learn.microsoft.com/azure/azure-functions/storage-considerations
    // Named after the component (the account's own name is that plus Pulumi's random suffix); stacks created
    // when it was called "runtime" keep their account through the alias instead of replacing it.
    const runtimeAccount = new storage.StorageAccount(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        ...SECURE_ACCOUNT,
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
      },
      { parent: this, aliases: [{ name: "runtime" }] },
    );
    this.runtimeAccount = runtimeAccount;

    const deploymentContainer = new storage.BlobContainer(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        containerName: DEPLOYMENT_CONTAINER,
        publicAccess: storage.PublicAccess.None,
      },
      { parent: this, aliases: [{ name: "deployment" }] },
    );

    // The issuance limits' counts, shared by every instance: a table beside the runtime's own data.
    const limitsTable = new storage.Table(
      `${name}-limits`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        tableName: LIMITS_TABLE,
      },
      { parent: this },
    );

    // The validator's work: the inbox's BlobCreated events (Event Grid writes them), the poison queue the
    // host moves a message to after its fifth failed run (created here, so that the app need not be allowed
    // to create queues), and one row of outcome per upload for the status endpoint.
    const uploadsCreated = new storage.Queue(
      `${name}-uploads-created`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        queueName: UPLOADS_CREATED_QUEUE,
      },
      { parent: this },
    );
    this.uploadsCreatedQueue = uploadsCreated;
    const uploadsCreatedPoison = new storage.Queue(
      `${name}-uploads-created-poison`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        queueName: UPLOADS_CREATED_POISON_QUEUE,
      },
      { parent: this },
    );
    const outcomesTable = new storage.Table(
      `${name}-outcomes`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: runtimeAccount.name,
        tableName: OUTCOMES_TABLE,
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

    const runtimeBlobUrl = runtimeAccount.primaryEndpoints.blob.apply(withoutTrailingSlash);
    const runtimeTableUrl = runtimeAccount.primaryEndpoints.table.apply(withoutTrailingSlash);
    const runtimeQueueUrl = runtimeAccount.primaryEndpoints.queue.apply(withoutTrailingSlash);
    // Only what Flex Consumption accepts in siteConfig: the app settings (Microsoft's Flex samples send those
    // alone), minTlsVersion (the Bicep quickstart's one property), and scmMinTlsVersion, cors and http20Enabled,
    // which no refusal or deprecation names and which the AVM module still sends to FC1 sites after checking
    // each field (Azure/terraform-azurerm-avm-res-web-site#345); http20Enabled also went through where ARM
    // refused the SDK's netFrameworkVersion beside it (pulumi/pulumi-azure-native#4168 names that alone).
    // ftpsState is refused: there is no FTP on Flex. infra/platformRules.ts lists what is refused, with
    // sources; the policy pack (policy/) checks it on every preview.
    // https://github.com/Azure-Samples/azure-functions-flex-consumption-samples/blob/main/IaC/bicep/core/host/function.bicep
    const siteConfig: pulumi.Input<input.web.SiteConfigArgs> = {
      minTlsVersion: web.SupportedTlsVersions.SupportedTlsVersions_1_2,
      scmMinTlsVersion: web.SupportedTlsVersions.SupportedTlsVersions_1_2,
      http20Enabled: true,
      cors: { allowedOrigins: args.allowedOrigins, supportCredentials: false },
      // Flex Consumption takes its runtime, scale and package location from functionAppConfig;
      // FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and friends are
      // refused as app settings there.
      // https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
      appSettings: [
        // Identity-based host storage: the account name alone, no key, no connection string.
        // https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
        { name: HOST_STORAGE_ACCOUNT_SETTING, value: runtimeAccount.name },
        // No diagnostic-events table on that account: the app holds no table role there (platformRules.ts).
        { name: HOST_FEATURE_FLAGS_SETTING, value: DISABLE_DIAGNOSTIC_EVENTS_FLAG },
        // The limits' table, reached with the same identity, named the way Functions names an identity-based
        // connection to Tables (`<prefix>__tableServiceUri`).
        // https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-table#connections
        { name: LIMITS_TABLE_SERVICE_URI, value: runtimeTableUrl },
        // The validator's queue trigger and its outcomes table, on the same account with the same identity.
        // https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#identity-based-connections
        { name: VALIDATION_QUEUE_SERVICE_URI, value: runtimeQueueUrl },
        { name: VALIDATION_TABLE_SERVICE_URI, value: runtimeTableUrl },
        { name: "APPLICATIONINSIGHTS_CONNECTION_STRING", value: args.applicationInsightsConnectionString },
        ...Object.entries(args.appSettings).map(([settingName, value]) => ({ name: settingName, value })),
      ],
    };
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
        siteConfig,
      },
      { parent: this, transformations: [sendAsWritten(siteConfig)] },
    );

    // Basic publishing (user/password) off for the SCM site, where OneDeploy listens: code is published with
    // an Entra ID token. https://learn.microsoft.com/azure/app-service/configure-basic-auth-disable
    // This is the basicPublishingCredentialsPolicies/scm sub-resource, not a siteConfig property. Its `ftp`
    // sibling is left out: Flex offers no FTP (ftpsState is refused, "FTPS not supported" in
    // https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations)
    // and the portal hides the FTP basic-auth switch for Flex apps (Azure/azure-functions-ux#7660), so
    // whether ARM accepts the policy there is unproven; there is nothing for it to turn off.
    new web.WebAppScmAllowed(
      `${name}-scm`,
      { resourceGroupName: args.resourceGroupName, name: this.app.name, allow: false },
      { parent: this },
    );

    const principalId = principalOf(this.app.identity, "The Function App");
    const grant = roleGranter(this);
    grant(`${name}-runtime-blob-owner`, {
      scope: runtimeAccount.id,
      principalId,
      role: ROLE.storageBlobDataOwner,
    });
    // Entities of the limits' table and nothing else on the account: table-scoped roles are supported.
    // https://learn.microsoft.com/azure/storage/tables/assign-azure-role-data-access
    grant(`${name}-limits-table-contributor`, {
      scope: limitsTable.id,
      principalId,
      role: ROLE.storageTableDataContributor,
    });
    grant(`${name}-outcomes-table-contributor`, {
      scope: outcomesTable.id,
      principalId,
      role: ROLE.storageTableDataContributor,
    });
    // Each queue on its own: queue-scoped roles are supported. The trigger reads, deletes and updates (a
    // failed run's message goes back with UpdateMessage) messages of its queue; on the poison queue, which
    // exists, the host only sends (AddMessageAndCreateIfNotExistsAsync creates the queue only when sending
    // answers 404 QueueNotFound).
    // https://learn.microsoft.com/azure/storage/queues/assign-azure-role-data-access
    // https://github.com/Azure/azure-sdk-for-net/blob/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Common/src/Shared/Queues/QueueProcessor.cs
    // https://github.com/Azure/azure-sdk-for-net/blob/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Common/src/Shared/StorageQueueExtensions.cs
    grant(`${name}-uploads-created-contributor`, {
      scope: uploadsCreated.id,
      principalId,
      role: ROLE.storageQueueDataContributor,
    });
    grant(`${name}-uploads-created-poison-sender`, {
      scope: uploadsCreatedPoison.id,
      principalId,
      role: ROLE.storageQueueDataMessageSender,
    });

    const uploadsAccess = args.uploadsAccess;
    for (const { name: roleName, scope, role } of uploadsAccess?.roles ?? []) {
      grant(`${name}-${roleName}`, {
        scope: uploadsAccess?.scopes[scope] as pulumi.Input<string>,
        principalId,
        role,
      });
    }

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

/**
 * azure-native 3.x's WebApp fills in `siteConfig` defaults whenever siteConfig is given
 * (`siteConfigArgsProvideDefaults`: netFrameworkVersion "v4.6", http20Enabled, localMySqlEnabled) and sends
 * `isXenon: false`; Flex Consumption refuses NetFrameworkVersion with ARM error 51021 and lists IsXenon as
 * not valid (pulumi/pulumi-azure-native#4168; infra/platformRules.ts). This puts back the siteConfig the
 * program wrote and drops isXenon, so only what is written above is sent. A `transformations` entry runs
 * in this process on the constructed inputs (unlike `transforms`, which the engine runs), so mocks and
 * tests see exactly what is registered.
 */
function sendAsWritten(siteConfig: pulumi.Input<input.web.SiteConfigArgs>): pulumi.ResourceTransformation {
  return ({ props, opts }) => {
    const { isXenon: _isXenon, ...rest } = props;
    return { props: { ...rest, siteConfig }, opts };
  };
}
