// The uploads account as this instance reaches it: its blob endpoint and either its account key or an
// Entra ID credential. Every client of the account is made by `uploadsServiceClient`, so each use (token
// signing, the stored access policies, post-upload checks) reaches it the same way in either mode.
import type { TokenCredential } from "@azure/identity";
import {
  BlobServiceClient,
  RestError,
  type SASProtocol,
  type StoragePipelineOptions,
  type StorageSharedKeyCredential,
} from "@azure/storage-blob";

interface Endpoint {
  /** Blob service URL without a trailing slash: `<url>/<container>/<name>` is a blob's address. */
  readonly blobServiceUrl: string;
  readonly accountName: string;
  /** HTTPS only, unless the endpoint itself is plain HTTP (the emulator). */
  readonly protocol: SASProtocol;
}

export type UploadsAccount = Endpoint &
  (
    | { readonly mode: "accountKey"; readonly credential: StorageSharedKeyCredential }
    /** The app's managed identity in Azure; `DefaultAzureCredential` elsewhere; a stand-in in the local stack. */
    | { readonly mode: "identity"; readonly credential: TokenCredential }
  );

/**
 * A blob service client of the uploads account, authorized the way this instance's mode allows. The instance
 * root (instance.ts) keeps the one for the default options, so the status endpoint's polls and each queued
 * check do not build a pipeline apiece; a use with options of its own (fewer retries) makes its own.
 */
export function uploadsServiceClient(
  account: UploadsAccount,
  options?: StoragePipelineOptions,
): BlobServiceClient {
  return new BlobServiceClient(account.blobServiceUrl, account.credential, options);
}

/** What went wrong reaching the account, for a log line: the service's status or the error's kind, no detail. */
export function storageFailureCause(error: unknown): string {
  if (error instanceof RestError)
    return `storage answered ${error.statusCode ?? error.code ?? "without a status"}`;
  return error instanceof Error ? error.name : typeof error;
}
