// The upload page's runtime configuration (`config.json`, served beside the page): written by the local
// stack and by the Pulumi program, read by the page, so one build works locally and in Azure.

export interface PageConfig {
  /** The SAS endpoint, e.g. http://127.0.0.1:7071/api/credentials or https://<app>/api/credentials */
  apiUrl: string;
  /** Image types the page accepts before any request (the function's issuance policy). */
  allowedContentTypes: string[];
  /** Largest file the page accepts, in bytes (the function's issuance policy). */
  maxUploadBytes: number;
  /** Block size for block uploads, in bytes. */
  blockSizeBytes: number;
  /** Blocks in flight at once. */
  concurrency: number;
}

/** How the page uploads large files: in 4 MiB blocks, four at a time. */
export const DEFAULT_UPLOAD_TUNING = { blockSizeBytes: 4 * 1024 * 1024, concurrency: 4 } as const;

/** The page's config for a SAS endpoint and the issuance policy it enforces, so the page refuses what the function would. */
export function pageConfig(
  apiUrl: string,
  policy: { readonly allowedContentTypes: readonly string[]; readonly maxUploadBytes: number },
): PageConfig {
  return {
    apiUrl,
    allowedContentTypes: [...policy.allowedContentTypes],
    maxUploadBytes: policy.maxUploadBytes,
    ...DEFAULT_UPLOAD_TUNING,
  };
}
