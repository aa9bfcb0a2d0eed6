// The upload page's runtime configuration (`config.json`, served beside the page): built and serialized here
// for the local stack and the Pulumi program alike, and read back by the page, so one build works locally
// and in Azure. Only pageConfig() reads the function's table, and it runs in Node: the page's bundle keeps
// none of function/ (esbuild drops what the page does not call).
import { IMAGE_EXTENSIONS } from "../function/contract/issuanceLimits";

export interface PageConfig {
  /** The SAS endpoint, e.g. http://127.0.0.1:7071/api/credentials or https://<app>/api/credentials */
  apiUrl: string;
  /** Image types the page accepts before any request (the function's issuance limits). */
  allowedContentTypes: string[];
  /**
   * The extension a blob of each allowed type gets, the function's own choice, for the page to name a
   * container-token upload as the function would name it.
   */
  extensions: Record<string, string>;
  /** Largest file the page accepts, in bytes (the function's issuance limits). */
  maxUploadBytes: number;
  /** Block size for block uploads, in bytes. */
  blockSizeBytes: number;
  /** Blocks in flight at once. */
  concurrency: number;
  /** The Turnstile site key, when the function requires the human check; the page then shows the widget. */
  turnstileSiteKey?: string;
  /** Where the page loads Turnstile's script from (a stand-in in tests); DEFAULT_TURNSTILE_SCRIPT_URL if unset. */
  turnstileScriptUrl?: string;
  /**
   * Locally only: the issuer stand-in's token endpoint, which the page asks for a token when the embedding
   * application supplies no `window.valetAccessToken` hook (web/accessTokenHook.ts).
   */
  signInStandInTokenUrl?: string;
}

/**
 * Turnstile's script with explicit rendering: the page renders the widget itself, only when the function
 * asks for the check. https://developers.cloudflare.com/turnstile/get-started/client-side-rendering/
 */
export const DEFAULT_TURNSTILE_SCRIPT_URL =
  "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit";

/** The file the page reads its configuration from, beside index.html. */
export const CONFIG_FILE = "config.json";

/** How the page uploads large files: in 4 MiB blocks, four at a time. */
export const DEFAULT_UPLOAD_TUNING = { blockSizeBytes: 4 * 1024 * 1024, concurrency: 4 } as const;

/**
 * The page's config for a SAS endpoint and the issuance limits it enforces, so the page refuses what the
 * function would and names a blob as the function would (the first of IMAGE_EXTENSIONS for its type).
 */
export function pageConfig(
  apiUrl: string,
  limits: { readonly allowedContentTypes: readonly string[]; readonly maxUploadBytes: number },
  turnstile?: { readonly siteKey: string; readonly scriptUrl?: string },
  signInStandInTokenUrl?: string,
): PageConfig {
  const extensions: Readonly<Record<string, readonly string[]>> = IMAGE_EXTENSIONS;
  const chosen: Record<string, string> = {};
  for (const type of limits.allowedContentTypes) {
    const extension = extensions[type]?.[0];
    if (!extension) throw new Error(`The content type ${type} has no extension in the function's table.`);
    chosen[type] = extension;
  }
  return {
    apiUrl,
    allowedContentTypes: [...limits.allowedContentTypes],
    extensions: chosen,
    maxUploadBytes: limits.maxUploadBytes,
    ...DEFAULT_UPLOAD_TUNING,
    ...(turnstile && { turnstileSiteKey: turnstile.siteKey }),
    ...(turnstile?.scriptUrl && { turnstileScriptUrl: turnstile.scriptUrl }),
    ...(signInStandInTokenUrl && { signInStandInTokenUrl }),
  };
}

/** config.json's bytes: the one serialization the local stack writes and the Pulumi program uploads. */
export function pageConfigFile(config: PageConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** config.json as the page reads it: every field present and of its type, or an error naming what is wrong. */
export function parsePageConfig(value: unknown): PageConfig {
  const config = (typeof value === "object" && value !== null ? value : {}) as Partial<PageConfig>;
  const positive = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n > 0;
  const texts = (list: unknown) => Array.isArray(list) && list.every((item) => typeof item === "string");
  const extensions = config.extensions;
  if (
    typeof config.apiUrl !== "string" ||
    !texts(config.allowedContentTypes) ||
    typeof extensions !== "object" ||
    extensions === null ||
    !texts(Object.values(extensions)) ||
    !positive(config.maxUploadBytes) ||
    !positive(config.blockSizeBytes) ||
    !positive(config.concurrency)
  ) {
    throw new Error(
      "it needs apiUrl, allowedContentTypes, extensions, maxUploadBytes, blockSizeBytes and concurrency.",
    );
  }
  const optionalText = (text: unknown) => text === undefined || (typeof text === "string" && text !== "");
  if (!optionalText(config.turnstileSiteKey) || !optionalText(config.turnstileScriptUrl)) {
    throw new Error("turnstileSiteKey and turnstileScriptUrl, when given, must be non-empty strings.");
  }
  if (!optionalText(config.signInStandInTokenUrl)) {
    throw new Error("signInStandInTokenUrl, when given, must be a non-empty string.");
  }
  return config as PageConfig;
}
