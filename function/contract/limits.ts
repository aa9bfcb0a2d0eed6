// Per-client issuance limits: their settings (a token bucket on requests and a daily allowance of declared
// upload bytes), and the pure decision on one request given the client's stored usage and the time.
import { type Environment, parseWholeNumber, SETTING, SettingsError } from "./appSettings";
import { parseMaxUploadBytes } from "./issuanceLimits";
import { parseTableConnection, type TableConnection, tableServiceUriSetting } from "./storageConnection";

/**
 * Sized for a person who drops 200 photos on the page at once: the burst hands out all 200 tokens (and
 * 50 more for retries) without a wait, and the bucket then refills at one token a second, which is what a
 * fast connection uploading multi-megabyte photos one after another asks for. A script gets the same
 * 250 and then 60 a minute.
 */
export const DEFAULT_ISSUANCE_BURST = 250;
export const DEFAULT_ISSUANCE_RATE_PER_MINUTE = 60;
/**
 * 10 GiB a day per address: 200 photos of 25 MB (a 50-megapixel JPEG) twice over, so a household or an
 * office behind one address is not stopped by one large batch; a script stops at 10 GiB of billed storage
 * a day per address.
 */
export const DEFAULT_DAILY_UPLOAD_BYTES_PER_CLIENT = 10 * 1024 * 1024 * 1024;
/** 0 turns the bucket off. */
export const ISSUANCE_RATE_BOUNDS = { min: 0, max: 60_000 } as const;
export const ISSUANCE_BURST_BOUNDS = { min: 1, max: 100_000 } as const;
/** 0 turns the daily allowance off; at most 1 TiB. */
export const DAILY_UPLOAD_BYTES_BOUNDS = { min: 0, max: 1024 ** 4 } as const;

/** The identity-based form of the table connection (the Functions convention for a connection prefix). */
export const LIMITS_TABLE_SERVICE_URI = tableServiceUriSetting(SETTING.limitsStorage);
/** The table holding one row of usage per client. Shared with infra/, which creates it. */
export const LIMITS_TABLE = "issuancelimits";

export interface RateLimits {
  /** Tokens the bucket gains a minute; 0: no bucket. */
  readonly ratePerMinute: number;
  /** The bucket's size: how many requests a client may make at once. */
  readonly burst: number;
  /** Declared upload bytes a client may be granted per UTC day; 0: no allowance. */
  readonly dailyUploadBytes: number;
}

/** Where the counts are kept: a connection string (Azurite, a developer's account) or an identity. */
export type LimitsTable = TableConnection;

export interface LimitSettings {
  readonly limits: RateLimits;
  /** Undefined only when both limits are off. */
  readonly table: LimitsTable | undefined;
}

export function limitsEnabled(limits: RateLimits): boolean {
  return limits.ratePerMinute > 0 || limits.dailyUploadBytes > 0;
}

export function parseLimitSettings(env: Environment): LimitSettings {
  const limits: RateLimits = {
    ratePerMinute: parseIssuanceRate(SETTING.issuanceRatePerMinute, env[SETTING.issuanceRatePerMinute]),
    burst: parseIssuanceBurst(SETTING.issuanceBurst, env[SETTING.issuanceBurst]),
    dailyUploadBytes: parseDailyUploadBytes(
      SETTING.dailyUploadBytesPerClient,
      env[SETTING.dailyUploadBytesPerClient],
    ),
  };
  checkDailyAllowance(
    { daily: SETTING.dailyUploadBytesPerClient, max: SETTING.maxUploadBytes },
    {
      daily: limits.dailyUploadBytes,
      max: parseMaxUploadBytes(SETTING.maxUploadBytes, env[SETTING.maxUploadBytes]),
    },
  );
  if (!limitsEnabled(limits)) return { limits, table: undefined };
  return { limits, table: parseLimitsTable(env) };
}

/** The daily allowance must hold the largest file allowed, or no such file could ever be uploaded. */
export function checkDailyAllowance(
  names: { daily: string; max: string },
  values: { daily: number; max: number },
): void {
  if (values.daily > 0 && values.daily < values.max) {
    throw new SettingsError(
      names.daily,
      `${names.daily} must be at least ${names.max} (${values.max} bytes), or 0 to turn the daily allowance off: ` +
        "otherwise the largest file allowed could never be uploaded.",
    );
  }
}

function parseLimitsTable(env: Environment): LimitsTable {
  return parseTableConnection(
    env,
    SETTING.limitsStorage,
    "the issuance limits keep their counts in a table. Set it, or set " +
      `${SETTING.issuanceRatePerMinute} and ${SETTING.dailyUploadBytesPerClient} to 0 to turn the limits off.`,
  );
}

// One parser per limit setting; infra/config.ts calls them with stack keys.

export function parseIssuanceRate(name: string, raw: string | undefined): number {
  return parseWholeNumber(
    name,
    raw,
    DEFAULT_ISSUANCE_RATE_PER_MINUTE,
    ISSUANCE_RATE_BOUNDS,
    "tokens a minute (0 turns the limit off)",
  );
}

export function parseIssuanceBurst(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_ISSUANCE_BURST, ISSUANCE_BURST_BOUNDS, "tokens");
}

export function parseDailyUploadBytes(name: string, raw: string | undefined): number {
  return parseWholeNumber(
    name,
    raw,
    DEFAULT_DAILY_UPLOAD_BYTES_PER_CLIENT,
    DAILY_UPLOAD_BYTES_BOUNDS,
    "bytes (0 turns the allowance off)",
  );
}

/** Signed in, one person's daily allowance of declared upload bytes; by default the same as an address's. */
export function parseDailyUploadBytesPerOwner(name: string, raw: string | undefined): number {
  return parseDailyUploadBytes(name, raw);
}

/** What is kept per client: the bucket's level when last seen, and the day's counts. */
export interface ClientUsage {
  /** Tokens in the bucket at `updatedAt` (fractional: it refills continuously). */
  readonly tokens: number;
  /** Milliseconds since the epoch. */
  readonly updatedAt: number;
  /** The UTC day the counts below belong to, `YYYY-MM-DD`. */
  readonly day: string;
  /** Declared upload bytes granted that day. */
  readonly grantedBytes: number;
  /** Requests that day, refused ones included, and the refused ones alone. */
  readonly requests: number;
  readonly refused: number;
}

export type Decision =
  | { readonly allowed: true; readonly usage: ClientUsage }
  | {
      readonly allowed: false;
      readonly usage: ClientUsage;
      readonly reason: "rate" | "daily";
      /** Whole seconds until a retry can succeed (the value of Retry-After). */
      readonly retryAfterSeconds: number;
    };

/**
 * The limits' answer to one request declaring `bytes` (0 for a container token or a request refused as
 * invalid). Every request is counted, refused ones included. A request the limits let through (to a token
 * or to a 400) spends one token;
 * one they refuse spends none: if refusals spent tokens, a page whose concurrent requests each wait as
 * told would keep pushing its own next token out of reach.
 */
export function decide(
  limits: RateLimits,
  previous: ClientUsage | undefined,
  now: number,
  bytes: number,
): Decision {
  // A request decided with an earlier clock than the row's (queued behind a later one, or another
  // instance's clock ahead of this one's) must not move the row back in time and refill it twice.
  const at = previous ? Math.max(now, previous.updatedAt) : now;
  const day = utcDay(at);
  const sameDay = previous?.day === day;
  const elapsed = previous ? at - previous.updatedAt : 0;
  const level = previous
    ? Math.min(limits.burst, previous.tokens + (elapsed * limits.ratePerMinute) / 60_000)
    : limits.burst;
  const counts = {
    day,
    grantedBytes: sameDay ? previous.grantedBytes : 0,
    requests: (sameDay ? previous.requests : 0) + 1,
    refused: sameDay ? previous.refused : 0,
  };
  const refuse = (reason: "rate" | "daily", retryAfterSeconds: number): Decision => ({
    allowed: false,
    reason,
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
    usage: { ...counts, tokens: level, updatedAt: at, refused: counts.refused + 1 },
  });
  if (limits.ratePerMinute > 0 && level < 1) {
    return refuse("rate", ((1 - level) * 60) / limits.ratePerMinute);
  }
  if (limits.dailyUploadBytes > 0 && counts.grantedBytes + bytes > limits.dailyUploadBytes) {
    return refuse("daily", (nextUtcMidnight(at) - now) / 1000);
  }
  const spent = limits.ratePerMinute > 0 ? 1 : 0;
  return {
    allowed: true,
    usage: {
      ...counts,
      tokens: level - spent,
      updatedAt: at,
      grantedBytes: counts.grantedBytes + bytes,
    },
  };
}

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

export function nextUtcMidnight(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
}

/** The client's message: when to retry, in seconds and as a UTC time. */
export function refusalMessage(
  decision: Extract<Decision, { allowed: false }>,
  now: number,
  /** Whose count it is: the caller's address, or (signed in) the person. */
  counted: "address" | "person" = "address",
): string {
  const at = new Date(now + decision.retryAfterSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const when = `retry after ${decision.retryAfterSeconds} s (at ${at})`;
  return decision.reason === "rate"
    ? `Too many upload tokens asked for ${counted === "person" ? "by you" : "from this address"}: ${when}.`
    : `${counted === "person" ? "You have" : "This address has"} been granted ${counted === "person" ? "your" : "its"} daily allowance of upload bytes: ${when}, when the allowance starts again.`;
}
