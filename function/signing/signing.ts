// How this instance signs tokens, chosen once from the settings: with the uploads account's key (a service
// SAS naming a stored access policy) or, keyless, with a user delegation key (a user delegation SAS that
// carries its own permission). Clients see the same token shape either way.
import {
  BlobSASPermissions,
  type BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  type SASProtocol,
  type SasIPRange,
  type StorageSharedKeyCredential,
  type UserDelegationKey,
} from "@azure/storage-blob";
import { SETTING } from "../contract/appSettings";
import type { SigningMode } from "../contract/signingMode";
import type { Settings } from "../platform/settings";
import { storageFailureCause, type UploadsAccount, uploadsServiceClient } from "../platform/uploadsAccount";
import {
  type AccessPolicyCheck,
  type AccessPolicyStatus,
  checkContainer,
  keptAccessPolicyStatus,
  policyId,
  TOKEN_POLICIES,
  type TokenKind,
} from "./accessPolicies";
import { DelegationKeyCache } from "./delegationKeys";

/**
 * The SAS version of user delegation tokens, pinned rather than the SDK's default. From 2026-04-06 the
 * SDK signs further fields (signed request headers and query parameters) into a user delegation SAS;
 * Azurite 3.35, the emulator the local stack and tests run, computes the string-to-sign only up to the
 * 2025-07-05 layout and refuses such tokens with 403. 2025-11-05 is the newest version it speaks and one
 * Azure accepts, and the fields these tokens use are the same in both.
 * https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas
 * https://github.com/Azure/Azurite/blob/main/src/blob/authentication/IBlobSASSignatureValues.ts
 */
export const USER_DELEGATION_SAS_VERSION = "2025-11-05";

/**
 * The signing key could not be had (keyless: Get User Delegation Key failed or was refused): no token can be
 * signed until it can. The message names the cause without any credential.
 */
export class SigningUnavailableError extends Error {
  override name = "SigningUnavailableError";
}

/** What a token grants, the same in both modes. */
export interface TokenFields {
  readonly kind: TokenKind;
  readonly containerName: string;
  /** Absent for a container token (`sr=c`), present for a blob token (`sr=b`). */
  readonly blobName?: string;
  readonly expiresOn: Date;
  readonly protocol: SASProtocol;
  readonly ipRange?: SasIPRange;
}

export interface TokenSigner {
  readonly mode: SigningMode;
  /**
   * What storage must hold before this signer's tokens work, checked once per instance and kept: account
   * key, the container's stored access policies; keyless, nothing.
   */
  prepare(): Promise<AccessPolicyStatus>;
  /** Gets ready to sign (keyless: fetches the first key), so that the first request need not wait. */
  warmUp(): Promise<void>;
  /** The token's query string, without a leading `?`. */
  sign(fields: TokenFields): Promise<string>;
}

/**
 * Account-key tokens: `si` and no `sp`, the permission is the stored access policy's, and a token may not
 * repeat a field its policy has. The expiry is the token's own, so the policy has none.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas
 */
export function accountKeySigner(
  account: Extract<UploadsAccount, { readonly mode: "accountKey" }>,
  container: string,
  tokenGeneration: number,
  check: AccessPolicyCheck = checkContainer,
): TokenSigner {
  const credential: StorageSharedKeyCredential = account.credential;
  const policies = { uploads: account, container, tokenGeneration };
  return {
    mode: "accountKey",
    prepare: keptAccessPolicyStatus(policies, SETTING.tokenGeneration, check),
    warmUp: async () => undefined,
    sign: async ({ kind, ...fields }) =>
      generateBlobSASQueryParameters(
        { ...fields, identifier: policyId(tokenGeneration, kind) },
        credential,
      ).toString(),
  };
}

/**
 * Keyless tokens: a user delegation SAS cannot name a stored access policy, so it carries the same
 * permission its kind's policy holds (`sp`), and no `si`. Azure grants it the intersection of `sp` and the
 * signer's own data roles, and it stops working when its key expires or the account's keys are revoked.
 * https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas
 */
export function identitySigner(accountName: string, keys: Pick<DelegationKeyCache, "current">): TokenSigner {
  return {
    mode: "identity",
    // No stored access policy to check: a user delegation SAS cannot name one (same page as above), and Set
    // Container ACL would need the account key anyway.
    prepare: async () => ({ kind: "ready" }),
    warmUp: async () => {
      await delegationKey(keys);
    },
    sign: async ({ kind, ...fields }) => {
      const key = await delegationKey(keys);
      const permissions = TOKEN_POLICIES[kind].permissions;
      return generateBlobSASQueryParameters(
        {
          ...fields,
          permissions:
            kind === "container"
              ? ContainerSASPermissions.parse(permissions)
              : BlobSASPermissions.parse(permissions),
          version: USER_DELEGATION_SAS_VERSION,
        },
        key,
        accountName,
      ).toString();
    },
  };
}

async function delegationKey(keys: Pick<DelegationKeyCache, "current">): Promise<UserDelegationKey> {
  try {
    return await keys.current();
  } catch (error) {
    throw new SigningUnavailableError(
      `the user delegation key could not be fetched (${storageFailureCause(error)})`,
    );
  }
}

/** What a signer is made with besides the settings: by default its own client, and the check against storage. */
export interface SignerUses {
  readonly client?: BlobServiceClient;
  readonly accessPolicyCheck?: AccessPolicyCheck;
}

/** The signer these settings choose: their account, container and generation, for their longest token. */
export function signerFor(settings: Settings, uses: SignerUses = {}): TokenSigner {
  const { uploads, container, tokenGeneration, tokenLifetimeMinutes, policy } = settings;
  return tokenSigner(
    uploads,
    {
      container,
      tokenGeneration,
      longestTokenMinutes: Math.max(tokenLifetimeMinutes, policy.uploadTokenLifetimeMinutes),
    },
    uses,
  );
}

/**
 * The signer for this instance's mode (kept by the instance root, instance.ts): with the account key, checking
 * the container's policies with `uses.accessPolicyCheck`; keyless, with its own key cache fetched through
 * `uses.client`.
 */
export function tokenSigner(
  account: UploadsAccount,
  tokens: {
    readonly container: string;
    readonly tokenGeneration: number;
    readonly longestTokenMinutes: number;
  },
  uses: SignerUses = {},
): TokenSigner {
  if (account.mode === "accountKey")
    return accountKeySigner(account, tokens.container, tokens.tokenGeneration, uses.accessPolicyCheck);
  const service = uses.client ?? uploadsServiceClient(account);
  const keys = new DelegationKeyCache({
    fetch: (startsOn, expiresOn) => service.getUserDelegationKey(startsOn, expiresOn),
    longestTokenMs: tokens.longestTokenMinutes * 60_000,
    onFailure: (failure) => console.warn(JSON.stringify(failure)),
  });
  return identitySigner(account.accountName, keys);
}

/**
 * Starts the signer's warm-up while the instance starts. A failure is logged, not thrown: the function still
 * answers, and the first request that needs a key asks again (after the cache's back-off).
 */
export async function warmUpSigner(
  signer: TokenSigner,
  log: (line: string) => void = (line) => console.error(line),
): Promise<void> {
  try {
    await signer.warmUp();
  } catch (error) {
    const message =
      error instanceof SigningUnavailableError
        ? error.message
        : `warm-up failed (${storageFailureCause(error)})`;
    log(JSON.stringify({ event: "signing.warmUpFailed", mode: signer.mode, message }));
  }
}
