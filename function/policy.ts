// The issuance policy: which uploads the function hands tokens for. Names and defaults are shared with
// infra/ (which sets them from stack config) and reach the upload page through its config.json.
import { type Environment, parseMinutes, SETTING, SettingsError } from "./appSettings";

/** Image types the policy can allow, each with the extensions a blob of that type gets. SVG is left out: it can carry script. */
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

export interface IssuancePolicy {
  readonly allowedContentTypes: readonly ImageContentType[];
  readonly maxUploadBytes: number;
  readonly uploadTokenLifetimeMinutes: number;
  readonly containerTokensEnabled: boolean;
  readonly bindTokenToClientIp: boolean;
}

export function parsePolicy(env: Environment): IssuancePolicy {
  return {
    allowedContentTypes: parseContentTypes(env[SETTING.allowedContentTypes]),
    maxUploadBytes: parseMaxUploadBytes(env[SETTING.maxUploadBytes]),
    uploadTokenLifetimeMinutes: parseMinutes(
      SETTING.uploadTokenLifetimeMinutes,
      env[SETTING.uploadTokenLifetimeMinutes],
      DEFAULT_UPLOAD_TOKEN_LIFETIME_MINUTES,
      UPLOAD_TOKEN_LIFETIME_BOUNDS,
    ),
    containerTokensEnabled: parseBoolean(
      SETTING.containerTokensEnabled,
      env[SETTING.containerTokensEnabled],
      DEFAULT_CONTAINER_TOKENS_ENABLED,
    ),
    bindTokenToClientIp: parseBoolean(
      SETTING.bindTokenToClientIp,
      env[SETTING.bindTokenToClientIp],
      DEFAULT_BIND_TOKEN_TO_CLIENT_IP,
    ),
  };
}

export function isImageContentType(value: string): value is ImageContentType {
  return Object.hasOwn(IMAGE_EXTENSIONS, value);
}

function parseContentTypes(raw: string | undefined): ImageContentType[] {
  if (raw === undefined || raw.trim() === "") return [...DEFAULT_ALLOWED_CONTENT_TYPES];
  const types: ImageContentType[] = [];
  for (const item of raw.split(",")) {
    const type = item.trim().toLowerCase();
    if (!isImageContentType(type)) {
      throw new SettingsError(
        SETTING.allowedContentTypes,
        `${SETTING.allowedContentTypes} must be a comma-separated list of ${Object.keys(IMAGE_EXTENSIONS).join(", ")}; ` +
          `${JSON.stringify(type.slice(0, 60))} is not one of them.`,
      );
    }
    if (!types.includes(type)) types.push(type);
  }
  return types;
}

function parseMaxUploadBytes(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_MAX_UPLOAD_BYTES;
  const text = raw.trim();
  const value = Number(text);
  if (
    !/^\d{1,13}$/.test(text) ||
    value < MAX_UPLOAD_BYTES_BOUNDS.min ||
    value > MAX_UPLOAD_BYTES_BOUNDS.max
  ) {
    throw new SettingsError(
      SETTING.maxUploadBytes,
      `${SETTING.maxUploadBytes} must be a whole number of bytes from ${MAX_UPLOAD_BYTES_BOUNDS.min} to ` +
        `${MAX_UPLOAD_BYTES_BOUNDS.max} (default ${DEFAULT_MAX_UPLOAD_BYTES}).`,
    );
  }
  return value;
}

function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = raw.trim().toLowerCase();
  if (value === "true") return true;
  if (value === "false") return false;
  throw new SettingsError(name, `${name} must be true or false (default ${fallback}).`);
}
