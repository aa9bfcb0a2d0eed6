import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { ValetUploads } from "valet";

const config = new pulumi.Config();
// The resource group the team already has: looked up, not managed by this stack.
const group = resources.getResourceGroupOutput({ resourceGroupName: config.require("resourceGroupName") });

// The team's own static site, whose pages upload to valet.
const siteAccount = new storage.StorageAccount("website", {
  resourceGroupName: group.name,
  location: group.location,
  kind: storage.Kind.StorageV2,
  sku: { name: storage.SkuName.Standard_LRS },
  enableHttpsTrafficOnly: true,
  minimumTlsVersion: storage.MinimumTlsVersion.TLS1_2,
});
const website = new storage.StorageAccountStaticWebsite("website", {
  resourceGroupName: group.name,
  accountName: siteAccount.name,
  indexDocument: "index.html",
});
new storage.Blob("index.html", {
  resourceGroupName: group.name,
  accountName: siteAccount.name,
  containerName: website.containerName,
  contentType: "text/html; charset=utf-8",
  source: new pulumi.asset.FileAsset("site/index.html"),
});

// valet in the same group: the site's origin may upload, and valet's own page is left out.
const uploads = new ValetUploads("uploads", {
  resourceGroupName: group.name,
  location: group.location,
  siteOrigin: siteAccount.primaryEndpoints.web,
  deployUploadPage: false,
  maxUploadBytes: 20 * 1024 * 1024,
});

export const siteUrl = siteAccount.primaryEndpoints.web;
export const credentialsUrl = uploads.credentialsUrl;
export const verifiedContainer = uploads.verifiedContainer;
