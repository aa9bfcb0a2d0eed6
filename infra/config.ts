// The stack's configuration: every key read once, typed and validated here, so that a bad value fails
// `pulumi preview` with a message naming the key and the values it accepts. Defaults and bounds of the
// function's settings come from function/, which reads the app settings these values become.
import * as pulumi from "@pulumi/pulumi";
import {
  DEFAULT_ALLOWED_CONTENT_TYPES,
  DEFAULT_BIND_TOKEN_TO_CLIENT_IP,
  DEFAULT_CONTAINER_TOKENS_ENABLED,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_UPLOAD_TOKEN_LIFETIME_MINUTES,
  IMAGE_EXTENSIONS,
  type ImageContentType,
  isImageContentType,
  MAX_UPLOAD_BYTES_BOUNDS,
  UPLOAD_TOKEN_LIFETIME_BOUNDS,
} from "../function/policy";
import {
  DEFAULT_CONTAINER,
  DEFAULT_TOKEN_LIFETIME_MINUTES,
  parseContainerName,
  TOKEN_LIFETIME_BOUNDS,
} from "../function/settings";
import { validateOrigins } from "./cors";

export const DEFAULT_LOCATION = "swedencentral";
/**
 * The instance cap bounds the bill and what an abuser can make the app scale to. Flex Consumption
 * accepts 1 to 1000 on-demand instances.
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#set-instance-limits
 */
export const DEFAULT_MAXIMUM_INSTANCE_COUNT = 40;
export const MAXIMUM_INSTANCE_COUNT_BOUNDS = { min: 1, max: 1000 } as const;
/** https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-memory */
export const INSTANCE_MEMORY_SIZES = [512, 2048, 4096] as const;
export const DEFAULT_INSTANCE_MEMORY_MB = 2048;
/** Blob and container soft delete keep 1 to 365 days. */
export const SOFT_DELETE_RETENTION_BOUNDS = { min: 1, max: 365 } as const;
export const DEFAULT_SOFT_DELETE_RETENTION_DAYS = 7;
/** Log Analytics (PerGB2018) keeps 30 to 730 days. */
export const LOG_RETENTION_BOUNDS = { min: 30, max: 730 } as const;
export const DEFAULT_LOG_RETENTION_DAYS = 30;

export interface StackConfig {
  readonly location: string;
  /** Origins allowed by the blob service CORS rule and the Function App's CORS, besides the upload page. */
  readonly allowedOrigins: readonly string[];
  /** Deploy the upload page as the uploads account's static website (its origin is then allowed too). */
  readonly deployUploadPage: boolean;
  readonly container: string;
  readonly tokenLifetimeMinutes: number;
  readonly uploadTokenLifetimeMinutes: number;
  readonly allowedContentTypes: readonly ImageContentType[];
  readonly maxUploadBytes: number;
  readonly containerTokensEnabled: boolean;
  readonly bindTokenToClientIp: boolean;
  readonly maximumInstanceCount: number;
  readonly instanceMemoryMB: number;
  readonly softDeleteRetentionDays: number;
  readonly logRetentionDays: number;
}

/** A configuration value is wrong. A RunError, so Pulumi prints the message without a stack trace. */
export class StackConfigError extends pulumi.RunError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = "StackConfigError";
  }
}

/** Reads and validates the stack's configuration (the project's namespace, e.g. `valet:location`). */
export function loadStackConfig(config: pulumi.Config = new pulumi.Config()): StackConfig {
  const key = (name: string) => fullKey(config, name);
  const allowAnyOrigin = readBoolean(config, "allowAnyOrigin", false);
  const origins = readList(config, "allowedOrigins") ?? [];
  let allowedOrigins: string[];
  try {
    allowedOrigins = validateOrigins(origins, { allowAnyOrigin, source: key("allowedOrigins") });
  } catch (error) {
    const detail = (error as Error).message;
    throw new StackConfigError(
      key("allowedOrigins"),
      detail.includes('"*"') ? `${detail} (set ${key("allowAnyOrigin")} to true to opt in)` : detail,
    );
  }
  const stackConfig: StackConfig = {
    location: readLocation(config),
    allowedOrigins,
    deployUploadPage: readBoolean(config, "deployUploadPage", true),
    container: readContainer(config),
    tokenLifetimeMinutes: readWholeNumber(
      config,
      "tokenLifetimeMinutes",
      DEFAULT_TOKEN_LIFETIME_MINUTES,
      TOKEN_LIFETIME_BOUNDS,
      "minutes",
    ),
    uploadTokenLifetimeMinutes: readWholeNumber(
      config,
      "uploadTokenLifetimeMinutes",
      DEFAULT_UPLOAD_TOKEN_LIFETIME_MINUTES,
      UPLOAD_TOKEN_LIFETIME_BOUNDS,
      "minutes",
    ),
    allowedContentTypes: readContentTypes(config),
    maxUploadBytes: readWholeNumber(
      config,
      "maxUploadBytes",
      DEFAULT_MAX_UPLOAD_BYTES,
      MAX_UPLOAD_BYTES_BOUNDS,
      "bytes",
    ),
    containerTokensEnabled: readBoolean(config, "containerTokensEnabled", DEFAULT_CONTAINER_TOKENS_ENABLED),
    bindTokenToClientIp: readBoolean(config, "bindTokenToClientIp", DEFAULT_BIND_TOKEN_TO_CLIENT_IP),
    maximumInstanceCount: readWholeNumber(
      config,
      "maximumInstanceCount",
      DEFAULT_MAXIMUM_INSTANCE_COUNT,
      MAXIMUM_INSTANCE_COUNT_BOUNDS,
      "instances",
    ),
    instanceMemoryMB: readInstanceMemory(config),
    softDeleteRetentionDays: readWholeNumber(
      config,
      "softDeleteRetentionDays",
      DEFAULT_SOFT_DELETE_RETENTION_DAYS,
      SOFT_DELETE_RETENTION_BOUNDS,
      "days",
    ),
    logRetentionDays: readWholeNumber(
      config,
      "logRetentionDays",
      DEFAULT_LOG_RETENTION_DAYS,
      LOG_RETENTION_BOUNDS,
      "days",
    ),
  };
  // A per-upload token is the narrow one: it must not outlive the container-wide token. Left unset, its
  // default yields to a shorter container lifetime.
  if (config.get("uploadTokenLifetimeMinutes") === undefined) {
    return {
      ...stackConfig,
      uploadTokenLifetimeMinutes: Math.min(
        stackConfig.uploadTokenLifetimeMinutes,
        stackConfig.tokenLifetimeMinutes,
      ),
    };
  }
  if (stackConfig.uploadTokenLifetimeMinutes > stackConfig.tokenLifetimeMinutes) {
    throw new StackConfigError(
      key("uploadTokenLifetimeMinutes"),
      `${key("uploadTokenLifetimeMinutes")} (${stackConfig.uploadTokenLifetimeMinutes}) must not exceed ` +
        `${key("tokenLifetimeMinutes")} (${stackConfig.tokenLifetimeMinutes}).`,
    );
  }
  return stackConfig;
}

/** `valet:location`: the key as a person writes it in the stack file. */
function fullKey(config: pulumi.Config, key: string): string {
  return `${config.name}:${key}`;
}

/** Azure region names: lowercase letters and digits, e.g. `westeurope`, `eastus2`. */
function readLocation(config: pulumi.Config): string {
  const value = config.get("location")?.trim();
  if (value === undefined || value === "") return DEFAULT_LOCATION;
  if (!/^[a-z][a-z0-9]{2,39}$/.test(value)) {
    throw new StackConfigError(
      fullKey(config, "location"),
      `${fullKey(config, "location")} must be an Azure region name in lowercase letters and digits that ` +
        `offers Flex Consumption, for example swedencentral, westeurope or eastus2 (default ${DEFAULT_LOCATION}).`,
    );
  }
  return value;
}

function readContainer(config: pulumi.Config): string {
  const raw = config.get("container");
  try {
    return parseContainerName(raw);
  } catch {
    throw new StackConfigError(
      fullKey(config, "container"),
      `${fullKey(config, "container")} must be a container name: 3-63 lowercase letters, digits and single ` +
        `hyphens, starting and ending with a letter or digit (default ${DEFAULT_CONTAINER}).`,
    );
  }
}

function readContentTypes(config: pulumi.Config): ImageContentType[] {
  const name = fullKey(config, "allowedContentTypes");
  const items = readList(config, "allowedContentTypes");
  if (items === undefined) return [...DEFAULT_ALLOWED_CONTENT_TYPES];
  const accepted = Object.keys(IMAGE_EXTENSIONS).join(", ");
  if (items.length === 0) {
    throw new StackConfigError(name, `${name} must list at least one of ${accepted}.`);
  }
  const types: ImageContentType[] = [];
  for (const item of items) {
    const type = item.toLowerCase();
    if (!isImageContentType(type)) {
      throw new StackConfigError(
        name,
        `${name} must list types among ${accepted}; ${JSON.stringify(item.slice(0, 60))} is not one of them.`,
      );
    }
    if (!types.includes(type)) types.push(type);
  }
  return types;
}

function readInstanceMemory(config: pulumi.Config): number {
  const name = fullKey(config, "instanceMemoryMB");
  const raw = config.get("instanceMemoryMB")?.trim();
  if (raw === undefined || raw === "") return DEFAULT_INSTANCE_MEMORY_MB;
  const value = Number(raw);
  if (!(INSTANCE_MEMORY_SIZES as readonly number[]).includes(value) || !/^\d+$/.test(raw)) {
    throw new StackConfigError(
      name,
      `${name} must be one of ${INSTANCE_MEMORY_SIZES.join(", ")} (default ${DEFAULT_INSTANCE_MEMORY_MB}).`,
    );
  }
  return value;
}

function readWholeNumber(
  config: pulumi.Config,
  key: string,
  fallback: number,
  bounds: { readonly min: number; readonly max: number },
  unit: string,
): number {
  const raw = config.get(key)?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d{1,13}$/.test(raw) || value < bounds.min || value > bounds.max) {
    throw new StackConfigError(
      fullKey(config, key),
      `${fullKey(config, key)} must be a whole number of ${unit} from ${bounds.min} to ${bounds.max} ` +
        `(default ${fallback}).`,
    );
  }
  return value;
}

function readBoolean(config: pulumi.Config, key: string, fallback: boolean): boolean {
  const raw = config.get(key)?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new StackConfigError(
    fullKey(config, key),
    `${fullKey(config, key)} must be true or false (default ${fallback}).`,
  );
}

/**
 * A list, written in the stack file as a YAML list (which Pulumi hands over as JSON) or as one
 * comma-separated string (handy with `pulumi config set`). Undefined when the key is not set.
 */
function readList(config: pulumi.Config, key: string): string[] | undefined {
  const raw = config.get(key)?.trim();
  if (raw === undefined) return undefined;
  if (raw.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
      throw new StackConfigError(
        fullKey(config, key),
        `${fullKey(config, key)} must be a list of strings (a YAML list, or one comma-separated string).`,
      );
    }
    return parsed.map((item: string) => item.trim()).filter((item) => item !== "");
  }
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
