// The issuance limits: which uploads the function hands tokens for. Names and defaults are shared with
// infra/ (which sets them from stack config) and reach the upload page through its config.json.
import {
  type Environment,
  parseBoolean,
  parseList,
  parseMinutes,
  parseWholeNumber,
  SETTING,
  SettingsError,
} from "./appSettings";

/** Image types the issuance limits can allow, each with the extensions a blob of that type gets. SVG is left out: it can carry script. */
export const IMAGE_EXTENSIONS = {
  "image/jpeg": ["jpg", "jpeg"],
  "image/png": ["png"],
  "image/gif": ["gif"],
  "image/webp": ["webp"],
  "image/avif": ["avif"],
  "image/heic": ["heic"],
  "image/heif": ["heif"],
  "image/bmp": ["bmp"],
  "image/tiff": ["tif", "tiff"],
} as const satisfies Record<string, readonly string[]>;

export type ImageContentType = keyof typeof IMAGE_EXTENSIONS;

export const DEFAULT_ALLOWED_CONTENT_TYPES: readonly ImageContentType[] = [
  "image/jpeg",
  "image/png",
  "image/gif",
  "image/webp",
  "image/avif",
];
export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** 1 KiB to 5 GiB: a single SAS upload of more than a few GiB would outlive any sensible token. */
export const MAX_UPLOAD_BYTES_BOUNDS = { min: 1024, max: 5 * 1024 * 1024 * 1024 } as const;
export const DEFAULT_UPLOAD_TOKEN_LIFETIME_MINUTES = 15;
export const UPLOAD_TOKEN_LIFETIME_BOUNDS = { min: 1, max: 60 } as const;
export const DEFAULT_CONTAINER_TOKENS_ENABLED = true;
/** Off by default: phones switch networks mid-upload, and a token bound to the old address fails. */
export const DEFAULT_BIND_TOKEN_TO_CLIENT_IP = false;

export interface IssuanceLimits {
  readonly allowedContentTypes: readonly ImageContentType[];
  readonly maxUploadBytes: number;
  readonly uploadTokenLifetimeMinutes: number;
  readonly containerTokensEnabled: boolean;
  readonly bindTokenToClientIp: boolean;
}

export function parseIssuanceLimits(env: Environment): IssuanceLimits {
  return {
    allowedContentTypes: parseContentTypes(
      SETTING.allowedContentTypes,
      parseList(env[SETTING.allowedContentTypes]),
      "a comma-separated list of",
    ),
    maxUploadBytes: parseMaxUploadBytes(SETTING.maxUploadBytes, env[SETTING.maxUploadBytes]),
    uploadTokenLifetimeMinutes: parseUploadTokenLifetime(
      SETTING.uploadTokenLifetimeMinutes,
      env[SETTING.uploadTokenLifetimeMinutes],
    ),
    containerTokensEnabled: parseContainerTokensEnabled(
      SETTING.containerTokensEnabled,
      env[SETTING.containerTokensEnabled],
    ),
    bindTokenToClientIp: parseBindTokenToClientIp(
      SETTING.bindTokenToClientIp,
      env[SETTING.bindTokenToClientIp],
    ),
  };
}

export function isImageContentType(value: string): value is ImageContentType {
  return Object.hasOwn(IMAGE_EXTENSIONS, value);
}

// One parser per issuance-limits setting, with its default and bounds; infra/config.ts calls them with stack keys.

/**
 * The allowed types from a list already split into items (undefined: the default). `listOf` says how the
 * list is written where it is read, e.g. "a comma-separated list of"; the accepted types follow it.
 */
export function parseContentTypes(
  name: string,
  items: readonly string[] | undefined,
  listOf: string,
): ImageContentType[] {
  if (items === undefined) return [...DEFAULT_ALLOWED_CONTENT_TYPES];
  const accepted = Object.keys(IMAGE_EXTENSIONS).join(", ");
  if (items.length === 0) throw new SettingsError(name, `${name} must list at least one of ${accepted}.`);
  const types: ImageContentType[] = [];
  for (const item of items) {
    const type = item.trim().toLowerCase();
    if (!isImageContentType(type)) {
      // Which item is wrong goes to the log and the operator only: a caller is never shown the value.
      const rule = `${name} must be ${listOf} ${accepted}`;
      throw new SettingsError(
        name,
        `${rule}; one of its items is not one of them.`,
        `${rule}; ${JSON.stringify(item.trim().slice(0, 60))} is not one of them.`,
      );
    }
    if (!types.includes(type)) types.push(type);
  }
  return types;
}

export function parseMaxUploadBytes(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_MAX_UPLOAD_BYTES, MAX_UPLOAD_BYTES_BOUNDS, "bytes");
}

export function parseUploadTokenLifetime(name: string, raw: string | undefined): number {
  return parseMinutes(name, raw, DEFAULT_UPLOAD_TOKEN_LIFETIME_MINUTES, UPLOAD_TOKEN_LIFETIME_BOUNDS);
}

export function parseContainerTokensEnabled(name: string, raw: string | undefined): boolean {
  return parseBoolean(name, raw, DEFAULT_CONTAINER_TOKENS_ENABLED);
}

export function parseBindTokenToClientIp(name: string, raw: string | undefined): boolean {
  return parseBoolean(name, raw, DEFAULT_BIND_TOKEN_TO_CLIENT_IP);
}
