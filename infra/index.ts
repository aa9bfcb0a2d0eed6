// The valet stack: one resource group per stack with valet in it (the ValetUploads component,
// infra/valetUploads.ts: uploads storage, the Function App that issues SAS tokens and checks every upload,
// its code, the events that bring uploads to the check, and the upload page), and an optional cost budget.
// This program only reads the stack config and composes; every key is documented in docs/deploying.md.
import * as path from "node:path";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { buildWebPage } from "../web/build";
import { costBudget } from "./budget";
import { loadStackConfig } from "./config";
import { buildFunctionPackage } from "./package";
import { ValetUploads } from "./valetUploads";

const { location, budget, ...options } = loadStackConfig();

// One resource group per stack: valet-dev, valet-prod, ... (plus Pulumi's random suffix).
const resourceGroup = new resources.ResourceGroup(`${pulumi.getProject()}-${pulumi.getStack()}`, {
  location,
});

/** Build output (git-ignored): dist/function + dist/function.zip, dist/web. */
const DIST = path.resolve(__dirname, "..", "dist");

const valet = new ValetUploads(pulumi.getProject(), {
  resourceGroupName: resourceGroup.name,
  location,
  ...options,
  buildDir: DIST,
  // Errors name the stack keys these options were read from.
  optionName: (key) => `${pulumi.getProject()}:${key}`,
  // A checkout builds the function's package and the page from its own sources on every run.
  artifacts: {
    functionPackage: () => buildFunctionPackage(DIST),
    uploadPageDir: () => {
      const siteDir = path.join(DIST, "web");
      buildWebPage(siteDir);
      return siteDir;
    },
  },
});

// What it all costs, watched: an optional monthly budget that e-mails valet:budgetAlertEmail.
if (budget) {
  costBudget("budget", { scope: resourceGroup.id, ...budget });
}

export const credentialsUrl = valet.credentialsUrl;
export const blobServiceUrl = valet.blobServiceUrl;
export const container = valet.container;
/** Where accepted images are: private, read with the account's credentials. */
export const verifiedContainer = valet.verifiedContainer;
export const functionAppName = valet.functionAppName;
export const resourceGroupName = resourceGroup.name;
/** Only when the page is deployed (valet:deployUploadPage, default true). */
export const uploadPageUrl = valet.uploadPageUrl;
/** The completion events' Event Grid topic: subscribe to it for each verdict (docs/events.md). */
export const eventsTopicId = valet.eventsTopicId;
export const eventsTopicEndpoint = valet.eventsTopicEndpoint;
/** `{ enabled }`, and with valet:malwareScanning the topic Defender sends scan results to (`resultsTopicId`). */
export const malwareScanning = valet.malwareScanning;
export const functionPackageSha256 = valet.functionPackageSha256;
export const allowedOrigins = valet.allowedOrigins;
/** Secret: lets a developer run the function locally against this account. Account-key mode only. */
export const uploadsConnectionString = valet.uploadsConnectionString;
