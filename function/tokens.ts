// The pure core of the function: settings and the current time in, a signed SAS token and the response
// body out. Signing is an HMAC over the token's fields with the account key, so no network call is made.
import { ContainerSASPermissions, generateBlobSASQueryParameters } from "@azure/storage-blob";
import type { Settings } from "./settings";

/** The response contract. `sasKey` and `url` are the original fields; the rest are additive. */
export interface CredentialsBody {
  /** SAS query string without a leading `?`. */
  sasKey: string;
  /** Blob service URL without a trailing slash: clients PUT to `<url>/<container>/<name>?<sasKey>`. */
  url: string;
  container: string;
  /** When the token stops working, ISO 8601 UTC, equal to its `se` field. */
  expiresOn: string;
}

/** Create only: the holder can add new blobs but not read, list, overwrite or delete any. */
const CONTAINER_PERMISSIONS = ContainerSASPermissions.from({ create: true });

/**
 * A service SAS for the whole container, allowing only the creation of new blobs.
 * No start time: a token dated "now" by this clock could be refused by a storage clock running behind
 * (https://learn.microsoft.com/azure/storage/common/storage-sas-overview#best-practices-when-using-sas).
 */
export function issueContainerToken(settings: Settings, now: Date): CredentialsBody {
  const expiresOn = expiryAfter(now, settings.tokenLifetimeMinutes);
  const sasKey = generateBlobSASQueryParameters(
    {
      containerName: settings.container,
      permissions: CONTAINER_PERMISSIONS,
      expiresOn,
      protocol: settings.protocol,
    },
    settings.credential,
  ).toString();
  return {
    sasKey,
    url: settings.blobServiceUrl,
    container: settings.container,
    expiresOn: expiresOn.toISOString(),
  };
}

/** `se` has whole-second precision, so the reported expiry is truncated the same way. */
function expiryAfter(now: Date, minutes: number): Date {
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + minutes * 60_000);
}
