// The uploads container and its tokens: the container's name, the container token's lifetime, the rule
// that ties a per-upload token's lifetime to it, and the generation of the stored access policies tokens
// reference. infra/config.ts checks its keys here.
import { parseMinutes, parseWholeNumber, SettingsError, trimmed } from "./appSettings";

export const DEFAULT_CONTAINER = "images";
export const DEFAULT_TOKEN_LIFETIME_MINUTES = 120;
/** Bounds on a token's lifetime: long enough for a slow upload, short enough to limit a leaked token. */
export const TOKEN_LIFETIME_BOUNDS = { min: 5, max: 24 * 60 } as const;

export function parseTokenLifetime(name: string, raw: string | undefined): number {
  return parseMinutes(name, raw, DEFAULT_TOKEN_LIFETIME_MINUTES, TOKEN_LIFETIME_BOUNDS);
}

/**
 * A per-upload token is the narrow one: when set (`uploadRaw`, the value as written, is not blank), its
 * lifetime must not exceed the container token's; left unset, its default yields to a shorter container
 * lifetime. Returns the per-upload lifetime.
 */
export function fitUploadTokenLifetime(
  names: { readonly container: string; readonly upload: string },
  minutes: { readonly container: number; readonly upload: number },
  uploadRaw: string | undefined,
): number {
  if (trimmed(uploadRaw) === undefined) return Math.min(minutes.upload, minutes.container);
  if (minutes.upload > minutes.container) {
    throw new SettingsError(
      names.upload,
      `${names.upload} must not exceed ${names.container}.`,
      `${names.upload} (${minutes.upload}) must not exceed ${names.container} (${minutes.container}).`,
    );
  }
  return minutes.upload;
}

/**
 * Container names are 3-63 characters of lowercase letters, digits and single hyphens, starting and
 * ending with a letter or digit.
 * https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#container-names
 */
export function parseContainerName(
  name: string,
  raw: string | undefined,
  fallback: string = DEFAULT_CONTAINER,
): string {
  const value = trimmed(raw) ?? fallback;
  if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(value)) {
    throw new SettingsError(
      name,
      `${name} must be a container name: 3-63 lowercase letters, digits and single hyphens, ` +
        `starting and ending with a letter or digit (default ${fallback}).`,
    );
  }
  return value;
}

export const DEFAULT_TOKEN_GENERATION = 1;
export const TOKEN_GENERATION_BOUNDS = { min: 1, max: 999_999 } as const;

/** Which stored access policies tokens reference (accessPolicies.ts); raising it revokes every token issued. */
export function parseTokenGeneration(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_TOKEN_GENERATION, TOKEN_GENERATION_BOUNDS, "generations");
}
