// The valet stack: uploads storage with its browser CORS rule, the Flex Consumption Function App that
// issues SAS tokens for it and checks every upload (settings wired from the storage's outputs), the events
// that bring each new upload to that check, its code, and the upload page.
// `valet:signing` chooses how tokens are signed: with the account key, or keyless with the app's identity.
import * as path from "node:path";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { SETTING } from "../function/contract/appSettings";
import { DEFAULT_VERIFIED_CONTAINER } from "../function/contract/verification";
import { buildWebPage } from "../web/build";
import { type PageConfig, pageConfig } from "../web/config";
import { costBudget } from "./budget";
import { CompletionEvents, readCompletionEventsConfig } from "./completionEvents";
import { loadStackConfig } from "./config";
import { FunctionDeployment } from "./deploy";
import { UploadEvents } from "./events";
import { FunctionApp } from "./functionApp";
import { MalwareScanning, malwareScanningAppSettings, readMalwareScanningConfig } from "./malwareScanning";
import { Monitoring } from "./monitoring";
import { buildFunctionPackage } from "./package";
import { PageStorage, UploadPage } from "./site";
import { UploadsStorage } from "./storage";

const config = loadStackConfig();
const eventsConfig = readCompletionEventsConfig();
const scanningConfig = readMalwareScanningConfig();
/** Build output (git-ignored): dist/function + dist/function.zip, dist/web. */
const DIST = path.resolve(__dirname, "..", "dist");

// One resource group per stack: valet-dev, valet-prod, ... (plus Pulumi's random suffix).
const resourceGroup = new resources.ResourceGroup(`${pulumi.getProject()}-${pulumi.getStack()}`, {
  location: config.location,
});
const resourceGroupName = resourceGroup.name;
const location = config.location;
const keyless = config.signing === "identity";

// Keyless, the page is served by an account of its own: the uploads account takes no Shared Key, and
// azure-native uploads the page's files with one (infra/site.ts).
const pageStorage =
  keyless && config.deployUploadPage ? new PageStorage("site", { resourceGroupName, location }) : undefined;

// Storage the browser uploads to (the inbox), and the verified container the check copies accepted images
// to. The page's origin joins the configured CORS origins when the page is deployed.
const uploads = new UploadsStorage("uploads", {
  resourceGroupName,
  location,
  container: config.container,
  verifiedContainer: DEFAULT_VERIFIED_CONTAINER,
  inboxRetentionDays: config.inboxRetentionDays,
  allowedOrigins: config.allowedOrigins,
  originsSource: `${pulumi.getProject()}:allowedOrigins`,
  allowWebsiteOrigin: config.deployUploadPage,
  pageOrigin: pageStorage?.websiteOrigin,
  softDeleteRetentionDays: config.softDeleteRetentionDays,
  signing: config.signing,
  signingKey: config.signingKey,
});

// Where the check tells the application's backend of each verdict (docs/events.md).
const completionEvents = new CompletionEvents("completions", { resourceGroupName, location });

const monitoring = new Monitoring("monitoring", {
  resourceGroupName,
  location,
  retentionDays: config.logRetentionDays,
});

// The function that signs tokens, configured from the storage's outputs and the issuance policy.
const functionApp = new FunctionApp("credentials", {
  resourceGroupName,
  location,
  allowedOrigins: uploads.corsOrigins,
  maximumInstanceCount: config.maximumInstanceCount,
  instanceMemoryMB: config.instanceMemoryMB,
  applicationInsightsConnectionString: monitoring.connectionString,
  // Keyless: the account's URL and no key; the app's identity gets its roles on the account and container.
  keylessUploads: keyless
    ? {
        accountId: uploads.accountId,
        containerId: uploads.containerId,
        verifiedContainerId: uploads.verifiedContainerId,
      }
    : undefined,
  appSettings: {
    ...(uploads.connectionString
      ? { [SETTING.connectionString]: uploads.connectionString }
      : { [SETTING.accountUrl]: uploads.blobServiceUrl }),
    ...(config.keyDerivationSecret && {
      [SETTING.keyDerivationSecret]: pulumi.secret(config.keyDerivationSecret),
    }),
    [SETTING.container]: uploads.containerName,
    [SETTING.tokenLifetimeMinutes]: String(config.tokenLifetimeMinutes),
    [SETTING.uploadTokenLifetimeMinutes]: String(config.uploadTokenLifetimeMinutes),
    [SETTING.allowedContentTypes]: config.allowedContentTypes.join(","),
    [SETTING.maxUploadBytes]: String(config.maxUploadBytes),
    [SETTING.containerTokensEnabled]: String(config.containerTokensEnabled),
    [SETTING.bindTokenToClientIp]: String(config.bindTokenToClientIp),
    [SETTING.tokenGeneration]: String(config.tokenGeneration),
    [SETTING.issuanceRatePerMinute]: String(config.issuanceRatePerMinute),
    [SETTING.issuanceBurst]: String(config.issuanceBurst),
    [SETTING.dailyUploadBytesPerClient]: String(config.dailyUploadBytesPerClient),
    // The check after each upload; its queue and outcomes table are the app's own (infra/functionApp.ts).
    [SETTING.verifiedContainer]: uploads.verifiedContainerName,
    [SETTING.maxImagePixels]: String(config.maxImagePixels),
    ...completionEvents.appSettings,
    ...malwareScanningAppSettings(scanningConfig),
    // What an accepted photo becomes (function/contract/photoSettings.ts).
    [SETTING.photoQuality]: String(config.photos.quality),
    [SETTING.renditionQuality]: String(config.photos.renditionQuality),
    [SETTING.feedSize]: String(config.photos.feedSize),
    [SETTING.thumbnailSize]: String(config.photos.thumbnailSize),
    // Secret in the app's inputs and the state, like the connection string.
    ...(config.turnstile && { [SETTING.turnstileSecretKey]: pulumi.secret(config.turnstile.secretKey) }),
    // Sign-in, when valet:authIssuer is set: bearer tokens from that issuer, uploads owned by their subject.
    [SETTING.dailyUploadBytesPerOwner]: String(config.dailyUploadBytesPerOwner),
    ...(config.auth && {
      [SETTING.authIssuer]: config.auth.issuer,
      [SETTING.authAudience]: config.auth.audiences.join(","),
      [SETTING.authOwnerClaim]: config.auth.ownerClaim,
      [SETTING.authAlgorithms]: config.auth.algorithms.join(","),
    }),
  },
});

// The app publishes completion events; Event Grid delivers them to the configured subscribers.
completionEvents.deliver("completions", {
  ...eventsConfig,
  publisherIdentity: functionApp.app.identity,
  runtimeAccount: functionApp.runtimeAccount,
});

// Opt-in: Defender for Storage scans each upload, and the check waits for its result (docs/security.md).
const malwareScanning = new MalwareScanning("malware-scanning", {
  ...scanningConfig,
  resourceGroupName,
  location,
  uploadsAccountId: uploads.account.id,
  runtimeAccount: functionApp.runtimeAccount,
  appIdentity: functionApp.app.identity,
});

// What it all costs, watched: an optional monthly budget that e-mails valet:budgetAlertEmail.
if (config.budget) {
  costBudget("budget", { scope: resourceGroup.id, ...config.budget });
}

// Its code: built here on every run, published through OneDeploy when the package's hash changes, once the
// app's identity can write the deployment container.
const deployment = new FunctionDeployment("credentials", {
  functionApp,
  resourceGroupName,
  package: buildFunctionPackage(DIST),
});

// Each blob created in the inbox becomes a message on the app's queue, which triggers the check.
new UploadEvents("uploads-created", {
  resourceGroupName,
  location,
  uploadsAccountId: uploads.account.id,
  inboxContainer: uploads.containerName,
  queueAccount: functionApp.runtimeAccount,
  queue: functionApp.uploadsCreatedQueue,
  // The subscription is made once the code is published: the publish itself waits out the propagation of
  // the app's new role (infra/deploy.ts), minutes in which the topic's roles, assigned meanwhile, take
  // effect too; and events then reach a queue whose function exists.
  subscribeAfter: [deployment],
});

// The upload page, served by a static website (the uploads account's, or keyless the page account's) and
// pointed at the deployed function. Its origin is already among the CORS origins (UploadsStorage adds it).
const page = config.deployUploadPage ? deployUploadPage() : undefined;

function deployUploadPage(): UploadPage {
  const siteDir = path.join(DIST, "web");
  buildWebPage(siteDir);
  const pageSettings: pulumi.Output<PageConfig> = functionApp.credentialsUrl.apply((apiUrl) =>
    pageConfig(apiUrl, config, config.turnstile && { siteKey: config.turnstile.siteKey }),
  );
  return new UploadPage("upload-page", {
    resourceGroupName,
    accountName: pageStorage?.accountName ?? uploads.accountName,
    config: pageSettings,
    siteDir,
  });
}

export const credentialsUrl = functionApp.credentialsUrl;
export const blobServiceUrl = uploads.blobServiceUrl;
export const container = uploads.containerName;
/** Where accepted images are: private, read with the account's credentials. */
export const verifiedContainer = uploads.verifiedContainerName;
export const functionAppName = functionApp.name;
export { resourceGroupName };
/** Only when the page is deployed (valet:deployUploadPage, default true). */
export const uploadPageUrl = page?.url;
/** The completion events' Event Grid topic: subscribe to it for each verdict (docs/events.md). */
export const eventsTopicId = completionEvents.topicId;
export const eventsTopicEndpoint = completionEvents.endpoint;
/** Only with valet:malwareScanning: the topic Defender sends scan results to. */
export const malwareScanResultsTopicId = malwareScanning.resultsTopicId;
export const functionPackageSha256 = deployment.packageSha256;
export const allowedOrigins = uploads.corsOrigins;
/** Secret: lets a developer run the function locally against this account. Account-key mode only. */
export const uploadsConnectionString = uploads.connectionString;
