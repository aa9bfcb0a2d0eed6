// Serves the upload page as the uploads account's static website: enables the website, uploads every file
// of the built page into the container it serves (`$web`) with its content type, and writes the page's
// config.json from stack values.
// https://learn.microsoft.com/azure/storage/blobs/storage-blob-static-website
import { readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_FILE, type PageConfig, pageConfigFile } from "../web/config";
import { PAGE_CONTENT_TYPES, pageContentType } from "../web/contentTypes";
import { checkAccountBaseName, SECURE_ACCOUNT, withoutTrailingSlash } from "./storage";

export function contentTypeOf(file: string): string {
  const type = pageContentType(file);
  if (!type) {
    throw new pulumi.RunError(
      `The upload page has ${JSON.stringify(file)}, whose content type is unknown: give its extension a type ` +
        `in PAGE_CONTENT_TYPES (web/contentTypes.ts); known: ${Object.keys(PAGE_CONTENT_TYPES).join(", ")}.`,
    );
  }
  return type;
}

/** Files under dir as sorted `/`-separated relative paths (the blob names), without the page's config.json. */
export function siteFiles(dir: string): string[] {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    entries = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch {
    throw new pulumi.RunError(
      `The upload page's folder ${dir} does not exist or cannot be read: build the page first.`,
    );
  }
  const files = entries
    .map((entry) => entry.split(path.sep).join("/"))
    .filter((entry) => statSync(path.join(dir, entry)).isFile())
    // A config.json left by a local run would point the deployed page at the local function; this
    // component writes its own.
    .filter((entry) => entry !== CONFIG_FILE)
    .sort();
  if (!files.includes("index.html")) {
    throw new pulumi.RunError(`The upload page's folder ${dir} has no index.html: build the page first.`);
  }
  return files;
}

/**
 * Keyless, the account that serves the page, apart from the uploads account. azure-native's `Blob` writes
 * with the account key (it lists the keys and signs with Shared Key: pulumi/pulumi-azure-native#2015), so it
 * cannot write into an account with Shared Key off. This account holds only the public page, so Shared Key
 * on here opens nothing private; uploading with Entra ID from the program instead would need a data role
 * on the uploads account for whoever runs `pulumi up` (and its propagation delay mid-deployment).
 * https://github.com/pulumi/pulumi-azure-native/issues/2015
 */
export class PageStorage extends pulumi.ComponentResource {
  readonly accountName: pulumi.Output<string>;
  /** The static website's origin, which the uploads account's CORS rule must allow. */
  readonly websiteOrigin: pulumi.Output<string>;

  constructor(
    name: string,
    args: { resourceGroupName: pulumi.Input<string>; location: pulumi.Input<string> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("valet:site:PageStorage", name, {}, opts);
    checkAccountBaseName(name, "PageStorage");
    const account = new storage.StorageAccount(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        ...SECURE_ACCOUNT,
        allowSharedKeyAccess: true,
      },
      { parent: this },
    );
    this.accountName = account.name;
    this.websiteOrigin = account.primaryEndpoints.web.apply(withoutTrailingSlash);
    this.registerOutputs({ accountName: this.accountName, websiteOrigin: this.websiteOrigin });
  }
}

export interface UploadPageArgs {
  resourceGroupName: pulumi.Input<string>;
  /** The storage account that serves the page: the uploads account, or keyless a PageStorage account. */
  accountName: pulumi.Input<string>;
  /** Written to config.json beside the page. */
  config: pulumi.Input<PageConfig>;
  /** The built page (see web/build.ts). */
  siteDir: string;
}

/** The upload page, served from the storage account's static website endpoint. */
export class UploadPage extends pulumi.ComponentResource {
  /** The page's address, e.g. https://<account>.z6.web.core.windows.net/ */
  readonly url: pulumi.Output<string>;
  /** The page's origin (no trailing slash), the form CORS rules take. */
  readonly origin: pulumi.Output<string>;

  constructor(name: string, args: UploadPageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:site:UploadPage", name, {}, opts);
    const files = siteFiles(args.siteDir);

    // Enabling the static website creates the $web container and the web endpoint.
    const website = new storage.StorageAccountStaticWebsite(
      `${name}-website`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: args.accountName,
        indexDocument: "index.html",
      },
      { parent: this },
    );

    const blobArgs = {
      resourceGroupName: args.resourceGroupName,
      accountName: args.accountName,
      // The website's own output ($web, created when the website is enabled): taking the name from it
      // orders every blob after the website by data, with no dependsOn to keep in step.
      containerName: website.containerName,
      type: storage.BlobType.Block,
    };
    const blobOptions = { parent: this };
    // One blob per file, named by its path: Pulumi compares FileAssets by the hash of their contents, so a
    // change to one file updates that blob only. (Cache-Control cannot be set: azure-native's Blob has no
    // such input, https://github.com/pulumi/pulumi-azure-native/issues/4419; the page fetches config.json
    // with `cache: "no-cache"` so a changed config is seen at once.)
    for (const file of files) {
      new storage.Blob(
        `${name}-${file}`,
        {
          ...blobArgs,
          blobName: file,
          contentType: contentTypeOf(file),
          source: new pulumi.asset.FileAsset(path.join(args.siteDir, file)),
        },
        blobOptions,
      );
    }
    new storage.Blob(
      `${name}-${CONFIG_FILE}`,
      {
        ...blobArgs,
        blobName: CONFIG_FILE,
        contentType: PAGE_CONTENT_TYPES[".json"],
        source: pulumi
          .output(args.config)
          .apply((config) => new pulumi.asset.StringAsset(pageConfigFile(config))),
      },
      blobOptions,
    );

    // The account's own record gives the web endpoint (its host carries a zone, e.g. z6, that cannot be
    // derived from the name), so the component needs nothing but the account's name and group.
    const account = storage.getStorageAccountOutput(
      { resourceGroupName: args.resourceGroupName, accountName: args.accountName },
      { parent: this, dependsOn: [website] },
    );
    this.url = account.primaryEndpoints.apply((endpoints) => {
      if (!endpoints.web) {
        throw new pulumi.RunError(
          "The storage account reports no static website endpoint: it must be a StorageV2 account.",
        );
      }
      return endpoints.web;
    });
    this.origin = this.url.apply((url) => new URL(url).origin);
    this.registerOutputs({ url: this.url, origin: this.origin });
  }
}
