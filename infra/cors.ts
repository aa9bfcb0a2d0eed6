// The blob service CORS rule for direct browser uploads: one definition, applied by the Pulumi program in
// Azure and by the local stack to Azurite. Origins are data; methods, headers and max age are the rule.
// https://learn.microsoft.com/rest/api/storageservices/cross-origin-resource-sharing--cors--support-for-the-azure-storage-services
import { MAX_ORIGINS } from "./platformRules";

export interface CorsRule {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposedHeaders: string[];
  maxAgeInSeconds: number;
}

/**
 * A SAS upload is a PUT (one request, or one per block plus the block list); the browser's preflight
 * asks for PUT, so OPTIONS itself needs no entry. The SDK sends `x-ms-blob-type`, `x-ms-version`,
 * `x-ms-client-request-id`, `x-ms-blob-content-type` and friends, all covered by the `x-ms-*` prefix.
 */
export function blobCorsRule(allowedOrigins: readonly string[]): CorsRule {
  return {
    allowedOrigins: [...allowedOrigins],
    allowedMethods: ["PUT"],
    allowedHeaders: ["content-type", "content-md5", "x-ms-*"],
    exposedHeaders: ["etag", "last-modified", "date", "content-md5", "x-ms-*"],
    // Browsers cap preflight caching (Chromium at 2 hours); one hour keeps rule changes quick to apply.
    maxAgeInSeconds: 3600,
  };
}

export class OriginError extends Error {
  override name = "OriginError";
}

/**
 * Checks a list of origins (`scheme://host[:port]`, no path). `*` is refused unless explicitly allowed:
 * any web page could then use a leaked token from a visitor's browser.
 */
export function validateOrigins(
  origins: readonly string[],
  options: { allowAnyOrigin?: boolean; source: string },
): string[] {
  const { source } = options;
  const result: string[] = [];
  for (const origin of origins) {
    if (origin === "*") {
      if (!options.allowAnyOrigin) {
        throw new OriginError(
          `${source}: "*" allows every web site; list the page's origins, or opt in explicitly.`,
        );
      }
    } else if (!isOrigin(origin)) {
      throw new OriginError(
        `${source}: ${JSON.stringify(origin.slice(0, 100))} is not an origin: expected scheme://host[:port], ` +
          "for example https://photos.example.com, with no path or trailing slash.",
      );
    }
    if (!result.includes(origin)) result.push(origin);
  }
  if (result.length > MAX_ORIGINS) {
    throw new OriginError(`${source}: at most ${MAX_ORIGINS} origins are allowed, got ${result.length}.`);
  }
  return result;
}

function isOrigin(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value;
}
