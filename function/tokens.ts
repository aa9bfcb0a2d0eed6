// The pure core of the function: settings, the request and the current time in, a signed SAS token and
// the response body out. Signing is an HMAC over the token's fields with the account key, so no network
// call is made.
import { randomUUID } from "node:crypto";
import {
  BlobSASPermissions,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
} from "@azure/storage-blob";
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

/** A token for one blob whose name the server chose. */
export interface UploadCredentialsBody extends CredentialsBody {
  blobName: string;
  /** The blob's URL without the token: clients PUT to `<blobUrl>?<sasKey>`. */
  blobUrl: string;
}

/** Where the token may be used from: the caller's IPv4 address when the policy binds tokens to it. */
export interface TokenBinding {
  clientIp?: string;
}

/**
 * Container tokens: create only. The holder can add new blobs with a single Put Blob but not read, list,
 * overwrite or delete any.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas#permissions-for-a-blob
 */
const CONTAINER_PERMISSIONS = ContainerSASPermissions.from({ create: true });
/**
 * Per-upload tokens: write only. A browser uploads large files in blocks, and Put Block and Put Block
 * List are refused with create alone (measured against Azurite, test/integration/uploadTokens.test.ts);
 * write also covers the single Put Blob. Write lets the holder replace that one blob, but the blob is
 * named by the server, the token reaches no other name, and it lives minutes.
 */
const BLOB_PERMISSIONS = BlobSASPermissions.from({ write: true });

/**
 * A service SAS for the whole container, allowing only the creation of new blobs.
 * No start time: a token dated "now" by this clock could be refused by a storage clock running behind
 * (https://learn.microsoft.com/azure/storage/common/storage-sas-overview#best-practices-when-using-sas).
 */
export function issueContainerToken(
  settings: Settings,
  now: Date,
  binding: TokenBinding = {},
): CredentialsBody {
  return sign(
    settings,
    { permissions: CONTAINER_PERMISSIONS, lifetimeMinutes: settings.tokenLifetimeMinutes },
    now,
    binding,
  );
}

/**
 * A service SAS for one new blob (`sr=b`), named here: a random id and the extension of its content
 * type, so that no caller can choose, guess or overwrite another upload's name.
 */
export function issueUploadToken(
  settings: Settings,
  now: Date,
  upload: { extension: string },
  binding: TokenBinding = {},
): UploadCredentialsBody {
  const blobName = `${randomUUID()}.${upload.extension}`;
  const body = sign(
    settings,
    { blobName, permissions: BLOB_PERMISSIONS, lifetimeMinutes: settings.policy.uploadTokenLifetimeMinutes },
    now,
    binding,
  );
  return { ...body, blobName, blobUrl: `${body.url}/${body.container}/${blobName}` };
}

interface TokenScope {
  /** Absent for a container token (`sr=c`), present for a blob token (`sr=b`). */
  blobName?: string;
  permissions: ContainerSASPermissions | BlobSASPermissions;
  lifetimeMinutes: number;
}

function sign(settings: Settings, scope: TokenScope, now: Date, binding: TokenBinding): CredentialsBody {
  const expiresOn = expiryAfter(now, scope.lifetimeMinutes);
  const sasKey = generateBlobSASQueryParameters(
    {
      containerName: settings.container,
      blobName: scope.blobName,
      permissions: scope.permissions,
      expiresOn,
      protocol: settings.protocol,
      ipRange: binding.clientIp ? { start: binding.clientIp } : undefined,
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
