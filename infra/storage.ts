// The uploads storage account: where browsers put images with the function's SAS tokens. The private
// inbox container and the verified one, browser CORS rule, soft delete, the rule that expires what the
// check never took out of the inbox, and what the signing plan asks of the account: Shared Key on and the
// connection string the function signs tokens with, or, keyless, no Shared Key at all (infra/signing.ts).
import * as storage from "@pulumi/azure-native/storage";
import type { input } from "@pulumi/azure-native/types";
import * as pulumi from "@pulumi/pulumi";
import { blobCorsRule, type CorsRule, OriginError, validateOrigins } from "./cors";
import { MAX_ORIGINS } from "./platformRules";
import type { SigningKey, SigningPlan } from "./signing";

export interface UploadsStorageArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  /** The inbox: where uploads land, and what tokens are issued for. */
  container: string;
  /** Where the validator copies accepted images; written by valet alone. */
  verifiedContainer: string;
  /** Inbox blobs older than this are deleted: the validator never got to them. */
  inboxRetentionDays: number;
  /** Origins allowed to PUT blobs from a browser (validated by the stack config). */
  allowedOrigins: readonly string[];
  /** Where those origins are configured (e.g. `valet:allowedOrigins`), named in errors. */
  originsSource: string;
  /** Also allow the upload page's origin: this account's own static website unless `pageOrigin` is given. */
  allowWebsiteOrigin: boolean;
  /** The page's origin when another account serves it (keyless: this one allows no Shared Key to upload it). */
  pageOrigin?: pulumi.Output<string>;
  /**
   * The origin of a site of the caller's that uploads from the browser, known only once it is deployed (a
   * static website's endpoint, say): allowed after the page's. Checked like the configured origins.
   */
  siteOrigin?: pulumi.Input<string>;
  softDeleteRetentionDays: number;
  /** What the account allows, and which key's connection string the function gets (infra/signing.ts). */
  signing: Pick<SigningPlan, "uploadsAccount" | "connectionStringKey">;
}

/** What every storage account of the stack has: StorageV2, HTTPS only, TLS 1.2, no anonymous blob access. */
export const SECURE_ACCOUNT = {
  kind: storage.Kind.StorageV2,
  sku: { name: storage.SkuName.Standard_LRS },
  enableHttpsTrafficOnly: true,
  minimumTlsVersion: storage.MinimumTlsVersion.TLS1_2,
  allowBlobPublicAccess: false,
} satisfies Partial<storage.StorageAccountArgs>;

export class UploadsStorage extends pulumi.ComponentResource {
  readonly account: storage.StorageAccount;
  readonly accountName: pulumi.Output<string>;
  readonly containerName: pulumi.Output<string>;
  readonly verifiedContainerName: pulumi.Output<string>;
  /** Blob service URL without a trailing slash, as the function reports it to clients. */
  readonly blobServiceUrl: pulumi.Output<string>;
  /** The static website's origin (`https://<account>.z<n>.web.core.windows.net`), where the upload page lives. */
  readonly websiteOrigin: pulumi.Output<string>;
  /** Every origin the blob service's CORS rule allows; the Function App's CORS takes the same list. */
  readonly corsOrigins: pulumi.Output<string[]>;
  /** Account-key connection string for UPLOADS_CONNECTION_STRING, secret; undefined keyless. */
  readonly connectionString: pulumi.Output<string> | undefined;
  /** Resource ids: the scopes of the keyless function's roles. */
  readonly accountId: pulumi.Output<string>;
  readonly containerId: pulumi.Output<string>;
  readonly verifiedContainerId: pulumi.Output<string>;

  constructor(name: string, args: UploadsStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:storage:UploadsStorage", name, {}, opts);
    checkAccountBaseName(name, "UploadsStorage");

    // Shared Key on or off, and Entra ID the portal's default keyless: the signing plan says which.
    this.account = new storage.StorageAccount(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        ...SECURE_ACCOUNT,
        ...args.signing.uploadsAccount,
      },
      { parent: this },
    );

    this.blobServiceUrl = this.account.primaryEndpoints.blob.apply(withoutTrailingSlash);
    this.websiteOrigin = this.account.primaryEndpoints.web.apply(withoutTrailingSlash);
    const configured = [...args.allowedOrigins];
    // The page's origin takes one of the rule's places: refuse a list that leaves none for it now, at
    // preview, rather than when Azure refuses the rule (its origin is only known once the account exists).
    const deployed = [
      ...(args.allowWebsiteOrigin ? [args.pageOrigin ?? this.websiteOrigin] : []),
      ...(args.siteOrigin === undefined ? [] : [pulumi.output(args.siteOrigin).apply(checkSiteOrigin(args))]),
    ];
    checkOriginCount(configured.length + deployed.length, args);
    this.corsOrigins =
      deployed.length === 0
        ? pulumi.output(configured)
        : pulumi.all(deployed).apply((known) => {
            const origins = [...configured];
            for (const origin of known) if (!origins.includes(origin)) origins.push(origin);
            checkOriginCount(origins.length, args);
            return origins;
          });

    // Soft delete on blobs and containers: a deleted or overwritten image can be restored for the retention
    // period. https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview
    // CORS is the rule the local stack gives Azurite (infra/cors.ts), with this stack's origins.
    new storage.BlobServiceProperties(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: this.account.name,
        blobServicesName: "default",
        deleteRetentionPolicy: { enabled: true, days: args.softDeleteRetentionDays },
        containerDeleteRetentionPolicy: { enabled: true, days: args.softDeleteRetentionDays },
        // No origins, no rule: the blob service refuses a rule without origins.
        cors: {
          corsRules: this.corsOrigins.apply((origins) =>
            origins.length === 0 ? [] : [toStorageCorsRule(blobCorsRule(origins))],
          ),
        },
      },
      { parent: this },
    );

    // The container uploads land in; never readable anonymously.
    const container = new storage.BlobContainer(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: this.account.name,
        containerName: args.container,
        publicAccess: storage.PublicAccess.None,
      },
      { parent: this },
    );

    // Accepted images: copied here by the validator, never written with a token, never readable anonymously.
    const verified = new storage.BlobContainer(
      `${name}-verified`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: this.account.name,
        containerName: args.verifiedContainer,
        publicAccess: storage.PublicAccess.None,
      },
      { parent: this },
    );

    // An upload the validator never took out of the inbox (an event lost, a poison message) must not stay
    // forever: block and append blobs of the inbox alone are deleted once older than the retention (the
    // prefix starts with the container's name; page blobs are outside lifecycle management, and the
    // validator deletes them on sight). With soft delete on, a deleted blob stays recoverable for
    // softDeleteRetentionDays. The account's only management policy, which must be named "default".
    // https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-policy-structure
    // https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-policy-delete
    new storage.ManagementPolicy(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: this.account.name,
        managementPolicyName: "default",
        policy: {
          rules: [
            {
              name: "expireUncheckedUploads",
              enabled: true,
              type: storage.RuleType.Lifecycle,
              definition: {
                filters: { blobTypes: ["blockBlob", "appendBlob"], prefixMatch: [`${args.container}/`] },
                actions: { baseBlob: { delete: { daysAfterCreationGreaterThan: args.inboxRetentionDays } } },
              },
            },
          ],
        },
      },
      { parent: this },
    );

    this.accountName = this.account.name;
    this.containerName = container.name;
    this.verifiedContainerName = verified.name;
    this.accountId = this.account.id;
    this.containerId = container.id;
    this.verifiedContainerId = verified.id;
    const key = args.signing.connectionStringKey;
    this.connectionString = key === undefined ? undefined : this.signingConnectionString(args, key);

    this.registerOutputs({
      accountName: this.accountName,
      containerName: this.containerName,
      verifiedContainerName: this.verifiedContainerName,
      blobServiceUrl: this.blobServiceUrl,
      websiteOrigin: this.websiteOrigin,
      corsOrigins: this.corsOrigins,
      connectionString: this.connectionString,
    });
  }

  /** The account-key connection string, with the plan's key; never asked for keyless. */
  private signingConnectionString(args: UploadsStorageArgs, signingKey: SigningKey): pulumi.Output<string> {
    const keys = storage.listStorageAccountKeysOutput(
      { resourceGroupName: args.resourceGroupName, accountName: this.account.name },
      { parent: this },
    );
    // Chosen by name, not by place in the list: listStorageAccountKeys names them key1 and key2, which
    // `az storage account keys renew` calls primary and secondary.
    // https://learn.microsoft.com/rest/api/storagerp/storage-accounts/list-keys
    const keyValue = keys.keys.apply((list) => {
      const key = list.find((candidate) => candidate.keyName === signingKey)?.value;
      if (!key)
        throw new pulumi.RunError(`The uploads storage account returned no ${signingKey} to sign with.`);
      return key;
    });
    // With BlobEndpoint, the string names the endpoint the account really has (sovereign clouds included);
    // function/platform/settings.ts accepts this form. No EndpointSuffix is needed next to it.
    return pulumi.secret(
      pulumi.interpolate`DefaultEndpointsProtocol=https;AccountName=${this.account.name};AccountKey=${keyValue};BlobEndpoint=${this.blobServiceUrl}`,
    );
  }
}

/**
 * Storage account names are 3-24 lowercase letters and digits, and azure-native names an account after its
 * logical name plus 8 random characters without changing it (pulumi/pulumi-azure-native#3665): a component
 * whose accounts are named after it needs a name of 3-16 lowercase letters and digits.
 * https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage
 */
export function checkAccountBaseName(name: string, component: string): void {
  if (!/^[a-z0-9]{3,16}$/.test(name)) {
    throw new pulumi.RunError(
      `${component} ${JSON.stringify(name)}: its storage account is named after it, so the name must be 3-16 ` +
        "lowercase letters and digits.",
    );
  }
}

/** The caller's site origin, once known, under the rules the configured origins meet (infra/cors.ts). */
function checkSiteOrigin(args: UploadsStorageArgs): (origin: string) => string {
  return (origin) => {
    try {
      const [valid] = validateOrigins([withoutTrailingSlash(origin)], { source: "siteOrigin" });
      return valid ?? origin;
    } catch (error) {
      if (error instanceof OriginError) throw new pulumi.RunError(`${args.originsSource}: ${error.message}`);
      throw error;
    }
  };
}

/** At most 64 origins in one CORS rule, counting the upload page's own origin when it is added. */
function checkOriginCount(count: number, args: UploadsStorageArgs): void {
  if (count <= MAX_ORIGINS) return;
  const page = args.allowWebsiteOrigin ? " plus the upload page's own origin" : "";
  throw new pulumi.RunError(
    `${args.originsSource}: the blob service's CORS rule would list ${count} origins (${args.allowedOrigins.length} ` +
      `configured${page}); Azure allows at most ${MAX_ORIGINS} in one rule. Remove origins` +
      (args.allowWebsiteOrigin ? ", or set deployUploadPage to false to leave the page out." : "."),
  );
}

/** An endpoint as ARM reports it (`https://<account>.blob.core.windows.net/`), without the trailing slash. */
export function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function toStorageCorsRule(rule: CorsRule): input.storage.CorsRuleArgs {
  return { ...rule, allowedMethods: rule.allowedMethods.map(toAllowedMethod) };
}

function toAllowedMethod(method: string): storage.AllowedMethods {
  const value = Object.values(storage.AllowedMethods).find((allowed) => allowed === method);
  if (value === undefined)
    throw new pulumi.RunError(`${method} is not an HTTP method the blob service's CORS accepts.`);
  return value;
}
