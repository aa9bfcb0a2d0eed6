// The core of the function: settings, the request and the current time in, a signed SAS token and the
// response body out. Signing is an HMAC over the token's fields by the instance's signer (signing.ts), with
// the account key or a user delegation key it keeps, so no network call is made per token.

import type { CredentialsBody, UploadCredentialsBody } from "../contract/credentialsProtocol";
import { uploadBlobName } from "../contract/uploadNames";
import { ownedBlobName, ownerOfBlobName } from "../identity/owner";
import type { Settings } from "../platform/settings";
import type { TokenKind } from "../signing/accessPolicies";
import type { TokenSigner } from "../signing/signing";
import { resumableUntil, signResumeSecret } from "./resume";

/** Where the token may be used from: the caller's IPv4 address when the policy binds tokens to it. */
export interface TokenBinding {
  clientIp?: string;
}

/**
 * A token for the whole container (a service SAS, or a user delegation SAS when keyless), allowing only the
 * creation of new blobs.
 * No start time: a token dated "now" by this clock could be refused by a storage clock running behind
 * (https://learn.microsoft.com/azure/storage/common/storage-sas-overview#best-practices-when-using-sas).
 */
export function issueContainerToken(
  settings: Settings,
  signer: TokenSigner,
  now: Date,
  binding: TokenBinding = {},
): Promise<CredentialsBody> {
  return sign(
    settings,
    signer,
    { kind: "container", lifetimeMinutes: settings.tokenLifetimeMinutes },
    now,
    binding,
  );
}

/**
 * A service SAS for one new blob (`sr=b`), named here: a random id, the declared size and the extension of
 * its content type (uploadNames.ts), so that no caller can choose, guess or overwrite another upload's name,
 * and the check can refuse a blob larger than its token declared. Given the declared size,
 * the answer also carries the upload's resume secret. A resume (its secret already checked) gets a token
 * for the blob it names, expiring when the secret's window closes if that is sooner, and no new secret: the
 * first one's window is the upload's.
 */
export async function issueUploadToken(
  settings: Settings,
  signer: TokenSigner,
  now: Date,
  upload: { extension: string; size?: number; resume?: { blobName: string; until?: Date }; owner?: string },
  binding: TokenBinding = {},
): Promise<UploadCredentialsBody> {
  // Signed in, under the owner's prefix (identity/owner.ts), so their uploads can be listed together.
  const name = uploadBlobName(upload.size, upload.extension);
  const blobName = upload.resume?.blobName ?? (upload.owner ? ownedBlobName(upload.owner, name) : name);
  const body = await sign(
    settings,
    signer,
    {
      kind: "upload",
      blobName,
      lifetimeMinutes: settings.policy.uploadTokenLifetimeMinutes,
      notAfter: upload.resume?.until,
    },
    now,
    binding,
  );
  const resumable =
    upload.size !== undefined && !upload.resume
      ? {
          resumeSecret: signResumeSecret(
            settings.resumeKey,
            { blobName, size: upload.size, generation: settings.tokenGeneration },
            now,
          ),
          resumableUntil: resumableUntil(now, settings.policy.uploadTokenLifetimeMinutes).toISOString(),
        }
      : {};
  const owner = ownerOfBlobName(blobName);
  return {
    ...body,
    blobName,
    blobUrl: `${body.url}/${body.container}/${blobName}`,
    ...resumable,
    ...(owner && { owner }),
  };
}

interface TokenScope {
  kind: TokenKind;
  /** Absent for a container token (`sr=c`), present for a blob token (`sr=b`). */
  blobName?: string;
  lifetimeMinutes: number;
  /** A resume's token expires when its secret's window closes, if that is sooner. */
  notAfter?: Date;
}

async function sign(
  settings: Settings,
  signer: TokenSigner,
  scope: TokenScope,
  now: Date,
  binding: TokenBinding,
): Promise<CredentialsBody> {
  const lifetimeEnd = expiryAfter(now, scope.lifetimeMinutes);
  const expiresOn = scope.notAfter && scope.notAfter < lifetimeEnd ? scope.notAfter : lifetimeEnd;
  const sasKey = await signer.sign({
    kind: scope.kind,
    containerName: settings.container,
    blobName: scope.blobName,
    expiresOn,
    protocol: settings.uploads.protocol,
    ipRange: binding.clientIp ? { start: binding.clientIp } : undefined,
  });
  return {
    sasKey,
    url: settings.uploads.blobServiceUrl,
    container: settings.container,
    expiresOn: expiresOn.toISOString(),
  };
}

/** `se` has whole-second precision, so the reported expiry is truncated the same way. */
function expiryAfter(now: Date, minutes: number): Date {
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + minutes * 60_000);
}
