// Read tokens: a short-lived SAS that can read one verified blob and nothing else (sp=r, sr=b, no start time),
// signed with the account key, or keyless with a user delegation key this instance keeps for reads.
import {
  BlobSASPermissions,
  type BlobServiceClient,
  generateBlobSASQueryParameters,
  type UserDelegationKey,
} from "@azure/storage-blob";
import type { Settings } from "../platform/settings";
import { storageFailureCause } from "../platform/uploadsAccount";
import { DelegationKeyCache } from "../signing/delegationKeys";
import { SigningUnavailableError, USER_DELEGATION_SAS_VERSION } from "../signing/signing";

/** Long enough to load the image on a slow connection, short enough that a copied link soon stops working. */
export const READ_TOKEN_MINUTES = 5;

/** One blob a read URL is issued for; the photo pipeline's renditions become more of these. */
export interface ReadTarget {
  /** `original` for the verified upload itself. */
  readonly name: string;
  readonly container: string;
  readonly blobName: string;
}

/** What the owner of `blobName` may read: today the verified image (the renditions will join here). */
export function readTargets(settings: Settings, blobName: string): ReadTarget[] {
  return [{ name: "original", container: settings.verification.verifiedContainer, blobName }];
}

/**
 * Keyless: the cache of user delegation keys for read tokens (delegationKeys.ts), one per instance (kept by
 * the instance root), apart from the upload tokens' keys, whose lifetime is longer.
 */
export function readKeyCache(service: BlobServiceClient): DelegationKeyCache {
  return new DelegationKeyCache({
    fetch: (startsOn, expiresOn) => service.getUserDelegationKey(startsOn, expiresOn),
    longestTokenMs: READ_TOKEN_MINUTES * 60_000,
    onFailure: (failure) => console.warn(JSON.stringify(failure)),
  });
}

function readKey(keys: Pick<DelegationKeyCache, "current">): Promise<UserDelegationKey> {
  return keys.current().catch((error: unknown) => {
    throw new SigningUnavailableError(
      `the user delegation key could not be fetched (${storageFailureCause(error)})`,
    );
  });
}

/**
 * The blob's URL with a read-only SAS: a service SAS with its own `sp=r` (no stored access policy: those
 * are the upload tokens'), or keyless a user delegation SAS, granted `r` only if the signer's role reads.
 * https only, except the plain-http local emulator. No start time, as with the upload tokens.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas
 * https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas
 */
export async function signReadUrl(
  settings: Settings,
  keys: Pick<DelegationKeyCache, "current">,
  target: ReadTarget,
  now: Date,
): Promise<{ url: string; expiresOn: string }> {
  const expiresOn = new Date(Math.floor(now.getTime() / 1000) * 1000 + READ_TOKEN_MINUTES * 60_000);
  const fields = {
    containerName: target.container,
    blobName: target.blobName,
    permissions: BlobSASPermissions.parse("r"),
    expiresOn,
    protocol: settings.uploads.protocol,
  };
  const account = settings.uploads;
  const sas =
    account.mode === "accountKey"
      ? generateBlobSASQueryParameters(fields, account.credential)
      : generateBlobSASQueryParameters(
          { ...fields, version: USER_DELEGATION_SAS_VERSION },
          await readKey(keys),
          account.accountName,
        );
  const path = target.blobName.split("/").map(encodeURIComponent).join("/");
  return {
    url: `${settings.uploads.blobServiceUrl}/${target.container}/${path}?${sas.toString()}`,
    expiresOn: expiresOn.toISOString(),
  };
}
