// Azure's platform rules that the program, its tests and the policy pack (policy/) must agree on, as data:
// what Flex Consumption refuses, the blob service's CORS limits, and the built-in role ids the stack assigns.
// Each entry names the document or report it comes from; nothing here imports Pulumi or the program.

/** A rule with the source that states it. */
export interface SourcedName {
  readonly name: string;
  readonly source: string;
}

const FLEX_DEPRECATIONS =
  "https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations";
/** ARM error 51021 naming FtpsState, Use32BitWorkerProcess, NetFrameworkVersion, FunctionsRuntimeScaleMonitoringEnabled. */
const PIPELINES_21032 = "https://github.com/microsoft/azure-pipelines-tasks/issues/21032";
/** ARM error 51021 for the SDK's default NetFrameworkVersion on a Flex app (Brazil South). */
const PULUMI_4168 = "https://github.com/pulumi/pulumi-azure-native/issues/4168";
/** ARM error 51021 for LinuxFxVersion. */
const AVM_283 = "https://github.com/Azure/terraform-azurerm-avm-res-web-site/issues/283";
/** The AVM module's field-by-field table of what FC1 refuses (merged fix). */
const AVM_345 = "https://github.com/Azure/terraform-azurerm-avm-res-web-site/pull/345";
/**
 * Quotes an ARM 51021 error listing PreWarmedInstanceCount and FunctionsRuntimeScaleMonitoringEnabled among
 * five refused properties, from Microsoft Q&A (a moderator there: newer regional stamps block them, older
 * ones ignore them): https://learn.microsoft.com/answers/questions/2277522
 */
const AVM_360 = "https://github.com/Azure/terraform-azurerm-avm-res-web-site/issues/360";
/** ARM error 51021 for FunctionAppScaleLimit. */
const HOST_10643 = "https://github.com/Azure/azure-functions-host/issues/10643";

/**
 * `siteConfig` properties a Flex Consumption site refuses with ARM error 51021 ("The following site
 * configuration property (Site.SiteConfig.X) for Flex Consumption sites is invalid"), or that Microsoft lists
 * as deprecated there. Enforcement rolls out region by region, so a property that passes in one region fails
 * in another: none of them is ever sent. Names are the ARM/azure-native spellings.
 */
export const FLEX_REFUSED_SITE_CONFIG: readonly SourcedName[] = [
  { name: "alwaysOn", source: FLEX_DEPRECATIONS },
  { name: "ftpsState", source: PIPELINES_21032 },
  { name: "functionAppScaleLimit", source: HOST_10643 },
  { name: "functionsRuntimeScaleMonitoringEnabled", source: AVM_360 },
  { name: "javaVersion", source: FLEX_DEPRECATIONS },
  { name: "javaContainer", source: AVM_345 },
  { name: "javaContainerVersion", source: AVM_345 },
  { name: "linuxFxVersion", source: AVM_283 },
  { name: "netFrameworkVersion", source: PULUMI_4168 },
  { name: "nodeVersion", source: AVM_345 },
  { name: "phpVersion", source: AVM_345 },
  { name: "powerShellVersion", source: FLEX_DEPRECATIONS },
  { name: "preWarmedInstanceCount", source: AVM_360 },
  { name: "pythonVersion", source: AVM_345 },
  { name: "use32BitWorkerProcess", source: PIPELINES_21032 },
  { name: "vnetRouteAllEnabled", source: FLEX_DEPRECATIONS },
  { name: "windowsFxVersion", source: FLEX_DEPRECATIONS },
];

/**
 * Site (top-level) properties Microsoft lists as not valid on Flex Consumption. `isXenon` matters here:
 * azure-native's `WebApp` sends `isXenon: false` by default, so the program removes it.
 */
export const FLEX_REFUSED_SITE_PROPERTIES: readonly SourcedName[] = [
  { name: "containerSize", source: FLEX_DEPRECATIONS },
  { name: "dnsConfiguration", source: FLEX_DEPRECATIONS },
  { name: "isXenon", source: FLEX_DEPRECATIONS },
  // Listed as `isReserved`; on the site resource the property is `reserved` (the plan keeps its own).
  { name: "reserved", source: FLEX_DEPRECATIONS },
  { name: "vnetBackupRestoreEnabled", source: FLEX_DEPRECATIONS },
  { name: "vnetContentShareEnabled", source: FLEX_DEPRECATIONS },
  { name: "vnetImagePullEnabled", source: FLEX_DEPRECATIONS },
  { name: "vnetRouteAllEnabled", source: FLEX_DEPRECATIONS },
];

/**
 * App settings deprecated on Flex Consumption: runtime, scale and package location live in
 * `functionAppConfig` instead, and there is no content share.
 */
export const FLEX_REFUSED_APP_SETTINGS: readonly SourcedName[] = [
  "ENABLE_ORYX_BUILD",
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_MAX_HTTP_CONCURRENCY",
  "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
  "FUNCTIONS_WORKER_PROCESS_COUNT",
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_WORKER_RUNTIME_VERSION",
  "SCM_DO_BUILD_DURING_DEPLOYMENT",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "WEBSITE_CONTENTOVERVNET",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_DNS_SERVER",
  "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
  "WEBSITE_VNET_ROUTE_ALL",
].map((name) => ({ name, source: FLEX_DEPRECATIONS }));

const STORAGE_CORS =
  "https://learn.microsoft.com/rest/api/storageservices/cross-origin-resource-sharing--cors--support-for-the-azure-storage-services";

/** The blob service's CORS limits: up to five rules per service, up to 64 origins in one rule. */
export const CORS_LIMITS = {
  maxRulesPerService: 5,
  maxOriginsPerRule: 64,
  source: STORAGE_CORS,
} as const;

/** Azure allows at most 64 origins in one CORS rule. */
export const MAX_ORIGINS = CORS_LIMITS.maxOriginsPerRule;

/**
 * The app setting that points the Functions host at its storage by account name, with the app's identity
 * instead of a connection string.
 * https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
 */
export const HOST_STORAGE_ACCOUNT_SETTING = "AzureWebJobsStorage__accountName";

/**
 * The Functions host's feature flags, and the one this app sets: with identity-based host storage and no
 * table role on the runtime account, the host's diagnostic-events repository (a table it creates on
 * AzureWebJobsStorage) fails with 403 every ten minutes (Azure/azure-functions-host#10995, #10163).
 * `DisableDiagnosticEventLogging` turns that repository off, rather than granting the app a table role on
 * the whole runtime account.
 * https://learn.microsoft.com/azure/azure-functions/functions-app-settings#azurewebjobsfeatureflags
 * https://github.com/Azure/azure-functions-host/blob/dev/src/WebJobs.Script/ScriptConstants.cs (FeatureFlagDisableDiagnosticEventLogging)
 * https://github.com/Azure/azure-functions-host/issues/10995
 * https://github.com/Azure/azure-functions-host/issues/10163
 */
export const HOST_FEATURE_FLAGS_SETTING = "AzureWebJobsFeatureFlags";
export const DISABLE_DIAGNOSTIC_EVENTS_FLAG = "DisableDiagnosticEventLogging";

/** Built-in role definition ids (the same GUID in every subscription). */
export const ROLE = {
  /**
   * What the Functions host needs on AzureWebJobsStorage when it connects with an identity (keys,
   * leases), and enough to read the deployment package container.
   * https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-owner
   */
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  /**
   * Read and write table entities: what the issuance limits need on their table, where it is assigned.
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-table-data-contributor
   * https://learn.microsoft.com/azure/storage/tables/assign-azure-role-data-access
   */
  storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  /**
   * Read, update and delete messages and read the queue's properties: what the Functions queue trigger does
   * with the queue it listens to, assigned on that queue alone. Storage Queue Data Reader with Message
   * Processor, which Microsoft lists for the trigger, cannot put back a message whose run failed (Update
   * Message needs messages/write): MicrosoftDocs/azure-docs#120932.
   * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#grant-permission-to-the-identity
   * https://github.com/MicrosoftDocs/azure-docs/issues/120932
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-queue-data-contributor
   */
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  /**
   * Add messages to a queue and nothing else: what an Event Grid topic's identity needs to deliver to a
   * Storage queue, and what the queue trigger needs on its poison queue when that queue already exists.
   * https://learn.microsoft.com/azure/event-grid/add-identity-roles#supported-destinations-and-azure-roles
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-queue-data-message-sender
   */
  storageQueueDataMessageSender: "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
  /**
   * Keyless: Get User Delegation Key (generateUserDelegationKey/action) and nothing else. The key is for the
   * whole account, so the role is assigned at the account (or above).
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-delegator
   * https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas#assign-permissions-with-rbac
   */
  storageBlobDelegator: "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
  /**
   * Read, write and delete blobs: what an Event Grid topic's identity needs to dead-letter events into a
   * blob container, where it is assigned.
   * https://learn.microsoft.com/azure/event-grid/add-identity-roles#supported-destinations-and-azure-roles
   * Also, keyless: a user delegation token grants the intersection of its `sp` and the signer's data roles, so the
   * signer needs blob write and create where tokens are used: this role, assigned on the uploads container
   * alone (container scope is the narrowest Azure supports for blob data roles). No built-in role grants
   * less and still writes blobs.
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-contributor
   * https://learn.microsoft.com/azure/storage/blobs/assign-azure-role-data-access#determine-the-scope
   */
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  /**
   * Publish events to an Event Grid topic and nothing else: what the app's identity holds on the completion
   * events' topic, assigned there alone.
   * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration#eventgrid-data-sender
   * https://learn.microsoft.com/azure/event-grid/authenticate-with-active-directory
   */
  eventGridDataSender: "d5a91429-5739-47e2-a06b-3470a27159e7",
} as const;

/** The names of a sourced list, for lookups. */
export function names(list: readonly SourcedName[]): Set<string> {
  return new Set(list.map((entry) => entry.name.toLowerCase()));
}
