// The signing plan: how tokens are signed decides, in this one place, what the uploads account allows, which
// roles the app's identity holds on it, which app settings tell the function how to sign, and whether the
// upload page needs an account of its own. storage.ts, functionApp.ts, appSettings.ts and the component
// read the plan; none of them asks which mode was chosen.
import * as pulumi from "@pulumi/pulumi";
import { SETTING } from "../function/contract/appSettings";
import type { SigningMode } from "../function/contract/signingMode";
import { ROLE } from "./platformRules";
import type { RoleId } from "./roles";

/**
 * The uploads account keys, as listStorageAccountKeys names them. Tokens are signed with one, so the other
 * can be regenerated without refusing the tokens in use.
 * https://learn.microsoft.com/azure/storage/common/storage-account-keys-manage#manually-rotate-access-keys
 */
export const SIGNING_KEYS = ["key1", "key2"] as const;
export type SigningKey = (typeof SIGNING_KEYS)[number];
export const DEFAULT_SIGNING_KEY: SigningKey = "key1";

/** How tokens are signed, with what each way needs: the choice the stack config (or a caller) makes. */
export type Signing =
  | {
      readonly mode: Extract<SigningMode, "accountKey">;
      /** The account key the function's connection string carries, and so the one that signs tokens. */
      readonly signingKey: SigningKey;
    }
  | {
      readonly mode: Extract<SigningMode, "identity">;
      /** KEY_DERIVATION_SECRET: the root of the function's HMAC keys, there being no account key. */
      readonly keyDerivationSecret: pulumi.Input<string>;
    };

/** Which of the uploads account's resources a role of the app's identity is scoped to. */
export type UploadsScope = "account" | "inbox" | "verified";

export interface UploadsRole {
  /** Appended to the Function App component's name: the role assignment's logical name. */
  readonly name: string;
  readonly scope: UploadsScope;
  readonly role: RoleId;
}

/** What the function needs to find the uploads account, as the uploads storage provides it. */
export interface UploadsEndpoints {
  readonly blobServiceUrl: pulumi.Input<string>;
  /** The account-key connection string, when the plan asked for one. */
  readonly connectionString: pulumi.Input<string> | undefined;
}

export interface SigningPlan {
  readonly mode: SigningMode;
  /** The uploads account's authorization properties. */
  readonly uploadsAccount: {
    readonly allowSharedKeyAccess: boolean;
    readonly defaultToOAuthAuthentication?: true;
  };
  /** The key whose connection string the function holds; undefined when the function holds none. */
  readonly connectionStringKey: SigningKey | undefined;
  /** Roles of the app's identity on the uploads account and its containers (none with the account key). */
  readonly uploadsRoles: readonly UploadsRole[];
  /** The page must be served by an account of its own: the uploads account takes no Shared Key. */
  readonly pageNeedsOwnAccount: boolean;
  /** The app settings that tell the function how to sign, first in its settings as they always were. */
  appSettings(uploads: UploadsEndpoints): Record<string, pulumi.Input<string>>;
}

export function signingPlan(signing: Signing): SigningPlan {
  return signing.mode === "accountKey" ? accountKeyPlan(signing.signingKey) : identityPlan(signing);
}

/**
 * With the account key, Shared Key stays on: the function signs service SAS tokens with the key its
 * connection string carries, and holds no role on the account.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas
 */
function accountKeyPlan(signingKey: SigningKey): SigningPlan {
  return {
    mode: "accountKey",
    uploadsAccount: { allowSharedKeyAccess: true },
    connectionStringKey: signingKey,
    uploadsRoles: [],
    pageNeedsOwnAccount: false,
    appSettings: ({ connectionString }) => {
      if (connectionString === undefined) {
        throw new Error("The account-key signing plan needs the uploads account's connection string.");
      }
      return { [SETTING.connectionString]: connectionString };
    },
  };
}

/**
 * Keyless, Shared Key is off and Entra ID is the portal's default: the function signs user delegation SAS,
 * which Azure accepts with Shared Key off, and nothing else may use a key. azure-native uploads the page's
 * files with a key (infra/site.ts), so the page gets an account of its own.
 * https://learn.microsoft.com/azure/storage/common/shared-key-authorization-prevent
 * https://learn.microsoft.com/azure/storage/blobs/authorize-data-operations-portal#default-to-microsoft-entra-authorization-in-the-azure-portal
 */
function identityPlan(signing: Extract<Signing, { mode: "identity" }>): SigningPlan {
  return {
    mode: "identity",
    uploadsAccount: { allowSharedKeyAccess: false, defaultToOAuthAuthentication: true },
    connectionStringKey: undefined,
    uploadsRoles: [
      // The key that signs tokens is the account's, so the delegator role is assigned there; the data role
      // only on the container tokens are for, since a token can never do more than its signer may.
      // https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas#assign-permissions-with-rbac
      { name: "uploads-delegator", scope: "account", role: ROLE.storageBlobDelegator },
      { name: "uploads-container-contributor", scope: "inbox", role: ROLE.storageBlobDataContributor },
      // The check copies accepted images into the verified container (Copy Blob within the account: write
      // on the destination, read on the source, which the inbox's role already gives, as it gives the
      // inbox's reads and deletes) and sets their Content-Type there.
      // https://learn.microsoft.com/rest/api/storageservices/copy-blob#authorization
      // https://learn.microsoft.com/azure/storage/blobs/storage-blob-copy-async-javascript#copy-a-blob-from-a-source-within-azure
      { name: "verified-container-contributor", scope: "verified", role: ROLE.storageBlobDataContributor },
    ],
    pageNeedsOwnAccount: true,
    // The account's URL and no key; resume secrets and human passes are signed with keys derived from
    // KEY_DERIVATION_SECRET, a secret in the app's inputs and the state.
    appSettings: ({ blobServiceUrl }) => ({
      [SETTING.accountUrl]: blobServiceUrl,
      [SETTING.keyDerivationSecret]: pulumi.secret(signing.keyDerivationSecret),
    }),
  };
}
