// The issuance limits' settings and their decision on each request: the token bucket (burst, refill,
// Retry-After), the daily allowance of declared bytes, what is counted, and how their log lines are sampled.
import type { TableClient } from "@azure/data-tables";
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import { DEFAULT_MAX_UPLOAD_BYTES } from "../../function/contract/issuanceLimits";
import {
  type ClientUsage,
  DEFAULT_DAILY_UPLOAD_BYTES_PER_CLIENT,
  DEFAULT_ISSUANCE_BURST,
  DEFAULT_ISSUANCE_RATE_PER_MINUTE,
  decide,
  LIMITS_TABLE_SERVICE_URI,
  parseLimitSettings,
  type RateLimits,
  refusalMessage,
} from "../../function/contract/limits";
import { TableLimiter } from "../../function/issuing/limiter";
import { LogSampler } from "../../function/platform/logSampler";

const TABLE = { [SETTING.limitsStorage]: "UseDevelopmentStorage=true" };

describe("the limit settings", () => {
  test("default to a bucket of 250 refilling at 60 a minute and 10 GiB a day", () => {
    expect(parseLimitSettings(TABLE).limits).toEqual({
      ratePerMinute: DEFAULT_ISSUANCE_RATE_PER_MINUTE,
      burst: DEFAULT_ISSUANCE_BURST,
      dailyUploadBytes: DEFAULT_DAILY_UPLOAD_BYTES_PER_CLIENT,
    });
    expect([DEFAULT_ISSUANCE_BURST, DEFAULT_ISSUANCE_RATE_PER_MINUTE]).toEqual([250, 60]);
    expect(DEFAULT_DAILY_UPLOAD_BYTES_PER_CLIENT).toBe(10 * 1024 ** 3);
  });

  test("the defaults let 200 photos of the largest allowed size through at once", () => {
    let usage: ClientUsage | undefined;
    const { limits } = parseLimitSettings(TABLE);
    for (let photo = 0; photo < 200; photo++) {
      const decision = decide(limits, usage, Date.UTC(2026, 0, 1, 12), DEFAULT_MAX_UPLOAD_BYTES);
      expect(decision.allowed).toBe(true);
      usage = decision.usage;
    }
  });

  test("are on by default, so a missing table is a settings error naming both ways to set it", () => {
    expect(() => parseLimitSettings({})).toThrow(SettingsError);
    expect(() => parseLimitSettings({})).toThrow(
      /ISSUANCE_LIMITS_STORAGE__tableServiceUri \(or ISSUANCE_LIMITS_STORAGE, a connection string\) is not set/,
    );
  });

  test("need no table when both limits are turned off with 0", () => {
    expect(
      parseLimitSettings({ [SETTING.issuanceRatePerMinute]: "0", [SETTING.dailyUploadBytesPerClient]: "0" }),
    ).toEqual({ limits: { ratePerMinute: 0, burst: 250, dailyUploadBytes: 0 }, table: undefined });
  });

  test("take the table's URL for the app's identity, without a trailing slash", () => {
    expect(
      parseLimitSettings({ [LIMITS_TABLE_SERVICE_URI]: "https://runtime.table.core.windows.net/" }).table,
    ).toEqual({ kind: "identity", tableServiceUri: "https://runtime.table.core.windows.net" });
  });

  test.each([
    "http://runtime.table.core.windows.net",
    "https://user:secret@runtime.table.core.windows.net",
    "javascript:alert(1)",
    "runtime",
  ])("refuse the table URL %j without quoting it", (value) => {
    const parse = () => parseLimitSettings({ [LIMITS_TABLE_SERVICE_URI]: value });
    expect(parse).toThrow(/must be a table service https URL/);
    try {
      parse();
    } catch (error) {
      expect((error as Error).message).not.toContain(value);
    }
  });

  test.each([
    [
      SETTING.issuanceRatePerMinute,
      "-1",
      /ISSUANCE_RATE_PER_MINUTE must be a whole number of tokens a minute/,
    ],
    [SETTING.issuanceRatePerMinute, "60001", /from 0 to 60000/],
    [SETTING.issuanceBurst, "0", /ISSUANCE_BURST must be a whole number of tokens from 1 to 100000/],
    [
      SETTING.dailyUploadBytesPerClient,
      "1.5",
      /DAILY_UPLOAD_BYTES_PER_CLIENT must be a whole number of bytes/,
    ],
    [SETTING.dailyUploadBytesPerClient, "1048576", /must be at least MAX_UPLOAD_BYTES \(52428800 bytes\)/],
  ])("refuse %s=%j with a message naming it", (name, value, message) => {
    expect(() => parseLimitSettings({ ...TABLE, [name]: value })).toThrow(message);
  });
});

const LIMITS: RateLimits = { ratePerMinute: 6, burst: 3, dailyUploadBytes: 1000 };
const NOON = Date.UTC(2026, 10, 24, 12, 0, 0);

/** Runs requests through `decide`, each `gapMs` after the last, returning every decision. */
function run(limits: RateLimits, bytes: readonly number[], gapMs = 0, start = NOON) {
  let usage: ClientUsage | undefined;
  return bytes.map((size, index) => {
    const decision = decide(limits, usage, start + index * gapMs, size);
    usage = decision.usage;
    return decision;
  });
}

describe("the token bucket", () => {
  test("lets the burst through at once and refuses the next with the seconds until a token is back", () => {
    const decisions = run(LIMITS, [0, 0, 0, 0]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    // 6 a minute: a token every 10 s.
    expect(decisions[3]).toMatchObject({ allowed: false, reason: "rate", retryAfterSeconds: 10 });
  });

  test("refills at the rate: a request after Retry-After gets through", () => {
    const first = run(LIMITS, [0, 0, 0, 0]);
    const refused = first[3];
    if (refused?.allowed !== false) throw new Error("expected a refusal");
    const later = decide(LIMITS, refused.usage, NOON + refused.retryAfterSeconds * 1000, 0);
    expect(later.allowed).toBe(true);
    const tooEarly = decide(LIMITS, refused.usage, NOON + refused.retryAfterSeconds * 1000 - 1000, 0);
    expect(tooEarly.allowed).toBe(false);
  });

  test("never holds more than the burst, however long the client was away", () => {
    const decisions = run(LIMITS, [0, 0, 0, 0, 0], 0, NOON);
    const rested = decide(LIMITS, decisions[2]?.usage, NOON + 24 * 3600_000, 0);
    expect(rested.usage.tokens).toBe(LIMITS.burst - 1);
  });

  test("a refused request is counted but spends no token, so waiting as told always works", () => {
    const decisions = run(LIMITS, [0, 0, 0, 0, 0, 0]);
    const last = decisions.at(-1);
    expect(last?.usage).toMatchObject({ requests: 6, refused: 3 });
    expect(last).toMatchObject({ allowed: false, retryAfterSeconds: 10 });
  });

  test("a request decided with a clock behind the row's never moves it back, so the bucket is not refilled twice", () => {
    const [first] = run(LIMITS, [0]);
    const late = decide(LIMITS, first?.usage, NOON + 10_000, 0);
    const behind = decide(LIMITS, late.usage, NOON + 5_000, 0);
    expect(behind.usage.updatedAt).toBe(NOON + 10_000);
    const again = decide(LIMITS, behind.usage, NOON + 10_000, 0);
    // Four spent from a full bucket of 3, one regained in the 10 s (a row moved back to +5 s would have
    // regained half a token more).
    expect(again.usage.tokens).toBeCloseTo(0, 5);
  });

  test("with a rate of 0 never refuses", () => {
    const decisions = run({ ...LIMITS, ratePerMinute: 0, dailyUploadBytes: 0 }, Array(1000).fill(1));
    expect(decisions.every((d) => d.allowed)).toBe(true);
  });
});

describe("the daily allowance", () => {
  const bytesOnly: RateLimits = { ...LIMITS, ratePerMinute: 0 };

  test("grants declared bytes up to the allowance and refuses the request that would pass it", () => {
    const decisions = run(bytesOnly, [400, 600, 1]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(decisions[1]?.usage.grantedBytes).toBe(1000);
    // Noon UTC: the allowance starts again in 12 hours.
    expect(decisions[2]).toMatchObject({ reason: "daily", retryAfterSeconds: 12 * 3600 });
  });

  test("a refused request adds no bytes, so a smaller file still fits", () => {
    const decisions = run(bytesOnly, [900, 200, 100]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, true]);
  });

  test("starts again at midnight UTC", () => {
    const [full] = run(bytesOnly, [1000], 0, Date.UTC(2026, 10, 24, 23, 59, 59));
    expect(decide(bytesOnly, full?.usage, Date.UTC(2026, 10, 24, 23, 59, 59, 500), 1).allowed).toBe(false);
    const nextDay = decide(bytesOnly, full?.usage, Date.UTC(2026, 10, 25, 0, 0, 0), 1000);
    expect(nextDay).toMatchObject({
      allowed: true,
      usage: { day: "2026-11-25", grantedBytes: 1000, requests: 1 },
    });
  });
});

describe("the message a refused client gets", () => {
  test("says when to retry, in seconds and as a UTC time", () => {
    const refused = run(LIMITS, [0, 0, 0, 0])[3];
    if (refused?.allowed !== false) throw new Error("expected a refusal");
    expect(refusalMessage(refused, NOON)).toBe(
      "Too many upload tokens asked for from this address: retry after 10 s (at 2026-11-24T12:00:10Z).",
    );
  });
});

describe("the log sampler", () => {
  test("logs an event once a window, then reports how many went unlogged in between", () => {
    const sampler = new LogSampler(60_000);
    expect(sampler.take("request.limited", 0)).toEqual({ log: true, unloggedSinceLast: 0 });
    for (let second = 1; second < 60; second++) {
      expect(sampler.take("request.limited", second * 1000)).toEqual({ log: false });
    }
    expect(sampler.take("request.limited", 60_000)).toEqual({ log: true, unloggedSinceLast: 59 });
  });

  test("keeps a window per event, so one flood does not hide another kind of line", () => {
    const sampler = new LogSampler(60_000);
    sampler.take("request.limited", 0);
    expect(sampler.take("limits.unavailable", 1).log).toBe(true);
    expect(sampler.take("request.limited", 2).log).toBe(false);
  });
});

describe("with the limits' table failing", () => {
  /** A table whose every call fails as a paused table service does (connection refused). */
  const pausedTable = () => {
    const refuse = () =>
      Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    return { createEntity: refuse, updateEntity: refuse, getEntity: refuse } as unknown as TableClient;
  };

  test("one caller gets no more than the burst: the instance counts in memory with the same limits", async () => {
    const limiter = new TableLimiter(pausedTable(), { ratePerMinute: 1, burst: 5, dailyUploadBytes: 0 });
    const now = Date.now();
    const decisions = [];
    for (let request = 0; request < 50; request++)
      decisions.push(await limiter.check("ipv4-192.0.2.7", 0, now));
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    expect(decisions.every((decision) => decision.countedOn === "memory")).toBe(true);
    // Another caller has a bucket of its own.
    expect((await limiter.check("ipv4-192.0.2.8", 0, now)).allowed).toBe(true);
  });

  test("the daily allowance holds in memory too", async () => {
    const limiter = new TableLimiter(pausedTable(), { ratePerMinute: 0, burst: 1, dailyUploadBytes: 1000 });
    const now = Date.now();
    expect((await limiter.check("ipv4-192.0.2.9", 600, now)).allowed).toBe(true);
    expect(await limiter.check("ipv4-192.0.2.9", 600, now)).toMatchObject({
      allowed: false,
      reason: "daily",
    });
  });

  test("what was let through and refused is counted until it is reported, then starts again", async () => {
    const limiter = new TableLimiter(pausedTable(), { ratePerMinute: 1, burst: 3, dailyUploadBytes: 0 });
    const now = Date.now();
    for (let request = 0; request < 10; request++) await limiter.check("ipv4-192.0.2.10", 0, now);
    expect(limiter.takeFallbackCounts()).toEqual({ allowed: 3, refused: 7 });
    expect(limiter.takeFallbackCounts()).toEqual({ allowed: 0, refused: 0 });
  });
});
