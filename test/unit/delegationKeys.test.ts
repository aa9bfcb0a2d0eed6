// The user delegation key cache (function/signing/delegationKeys.ts) on a fake clock: one fetch per instance,
// refreshed ahead of expiry, never two at once, and within the service's seven-day cap. Azurite neither
// enforces the cap nor throttles Get User Delegation Key, so both are checked here.
import { RestError, type UserDelegationKey } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import {
  DelegationKeyCache,
  type DelegationKeyFailure,
  KEY_START_SKEW_MS,
  MAX_KEY_LIFETIME_MS,
  MAX_RETRY_AFTER_MS,
  REFRESH_MARGIN_MS,
  RETRY_AFTER_MS,
} from "../../function/signing/delegationKeys";

const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;

/** A fake service: records each request and answers with a key for exactly the span asked. */
function fakeService() {
  const requests: Array<{ startsOn: Date; expiresOn: Date }> = [];
  const pending: Array<{ resolve: (key: UserDelegationKey) => void; reject: (error: Error) => void }> = [];
  let manual = false;
  const fetch = (startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> => {
    requests.push({ startsOn, expiresOn });
    const key: UserDelegationKey = {
      signedObjectId: "oid",
      signedTenantId: "tid",
      signedStartsOn: startsOn,
      signedExpiresOn: expiresOn,
      signedService: "b",
      signedVersion: "2025-11-05",
      value: `key-${requests.length}`,
    };
    if (!manual) return Promise.resolve(key);
    return new Promise((resolve, reject) => pending.push({ resolve: () => resolve(key), reject }));
  };
  return {
    fetch,
    requests,
    pending,
    hold: () => {
      manual = true;
    },
  };
}

function cacheAt(clock: { now: number }, service: ReturnType<typeof fakeService>, longestTokenMs = 2 * HOUR) {
  return new DelegationKeyCache({ fetch: service.fetch, longestTokenMs, now: () => clock.now });
}

describe("the user delegation key cache", () => {
  test("fetches once and serves every later request from the kept key", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    const cache = cacheAt(clock, service);
    const keys = await Promise.all(Array.from({ length: 50 }, () => cache.current()));
    clock.now += 10 * HOUR;
    keys.push(await cache.current());
    expect(service.requests).toHaveLength(1);
    expect(new Set(keys.map((key) => key.value))).toEqual(new Set(["key-1"]));
  });

  test("asks for a key that starts a little in the past and lasts at most seven days", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    await cacheAt(clock, service, 24 * HOUR).current();
    const [request] = service.requests;
    expect(request?.startsOn.getTime()).toBe(clock.now - KEY_START_SKEW_MS);
    expect((request?.expiresOn.getTime() ?? 0) - (request?.startsOn.getTime() ?? 0)).toBeLessThanOrEqual(
      MAX_KEY_LIFETIME_MS,
    );
    expect(request?.expiresOn.getTime()).toBeGreaterThan(clock.now + 24 * HOUR + REFRESH_MARGIN_MS);
  });

  test("refuses a key lifetime beyond the seven-day cap, or too short to outlive the longest token", () => {
    const service = fakeService();
    expect(
      () => new DelegationKeyCache({ fetch: service.fetch, longestTokenMs: HOUR, keyLifetimeMs: 7 * DAY }),
    ).toThrow(/seven days/);
    expect(
      () => new DelegationKeyCache({ fetch: service.fetch, longestTokenMs: DAY, keyLifetimeMs: DAY }),
    ).toThrow(/outlive the longest token/);
  });

  test("refreshes in the background once less than the longest token plus the margin is left", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    const cache = cacheAt(clock, service);
    const first = await cache.current();
    const expiry = first.signedExpiresOn.getTime();
    clock.now = expiry - 2 * HOUR - REFRESH_MARGIN_MS - 1;
    expect((await cache.current()).value).toBe("key-1");
    expect(service.requests).toHaveLength(1);
    service.hold();
    clock.now = expiry - 2 * HOUR - REFRESH_MARGIN_MS + 1;
    // Still covers the longest token: served at once while the new key is on its way, and only one is asked for.
    const served = await Promise.all([cache.current(), cache.current(), cache.current()]);
    expect(served.map((key) => key.value)).toEqual(["key-1", "key-1", "key-1"]);
    expect(service.requests).toHaveLength(2);
    service.pending[0]?.resolve({} as UserDelegationKey);
    await new Promise((resolve) => setImmediate(resolve));
    expect((await cache.current()).value).toBe("key-2");
    expect(service.requests).toHaveLength(2);
  });

  test("makes requests wait on one fetch when the kept key could not cover a token issued now", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    const cache = cacheAt(clock, service);
    const first = await cache.current();
    service.hold();
    clock.now = first.signedExpiresOn.getTime() - 2 * HOUR + 1;
    const waiting = [cache.current(), cache.current()];
    expect(service.requests).toHaveLength(2);
    service.pending[0]?.resolve({} as UserDelegationKey);
    const keys = await Promise.all(waiting);
    expect(keys.map((key) => key.value)).toEqual(["key-2", "key-2"]);
    expect(keys[0]?.signedExpiresOn.getTime()).toBeGreaterThan(clock.now + 2 * HOUR);
  });

  test("after a failed fetch, refuses for a while instead of asking again on every request", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    service.hold();
    const cache = cacheAt(clock, service);
    const first = cache.current();
    service.pending[0]?.reject(new Error("503 ServerBusy"));
    await expect(first).rejects.toThrow("503");
    await expect(cache.current()).rejects.toThrow("503");
    expect(service.requests).toHaveLength(1);
    clock.now += RETRY_AFTER_MS;
    const again = cache.current();
    expect(service.requests).toHaveLength(2);
    service.pending[1]?.resolve({} as UserDelegationKey);
    expect((await again).value).toBe("key-2");
  });

  test("backs off exponentially, up to a cap, while the service keeps refusing", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    let calls = 0;
    const cache = new DelegationKeyCache({
      fetch: () => {
        calls += 1;
        return Promise.reject(new RestError("Server Busy", { statusCode: 503 }));
      },
      longestTokenMs: 2 * HOUR,
      now: () => clock.now,
    });
    // Ask every second for an hour: each refusal doubles the wait, 10 s, 20 s, ... up to five minutes.
    const asked: number[] = [];
    for (let second = 0; second < 3600; second += 1) {
      const before = calls;
      await cache.current().catch(() => undefined);
      if (calls > before) asked.push(second);
      clock.now += 1000;
    }
    const gaps = asked.slice(1).map((at, index) => at - (asked[index] ?? 0));
    expect(gaps.slice(0, 6)).toEqual([10, 20, 40, 80, 160, 300]);
    expect(Math.max(...gaps)).toBe(MAX_RETRY_AFTER_MS / 1000);
    expect(calls).toBeLessThanOrEqual(16);
  });

  test("serves the kept key through the refresh window, asking only a few times while every refresh fails", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    let failing = false;
    let calls = 0;
    const service = fakeService();
    const cache = new DelegationKeyCache({
      fetch: (startsOn, expiresOn) => {
        calls += 1;
        return failing
          ? Promise.reject(new RestError("Forbidden", { statusCode: 403 }))
          : service.fetch(startsOn, expiresOn);
      },
      longestTokenMs: 2 * HOUR,
      now: () => clock.now,
    });
    const first = await cache.current();
    failing = true;
    // The whole refresh window, one request a second: every one is served from the kept key.
    clock.now = first.signedExpiresOn.getTime() - 2 * HOUR - REFRESH_MARGIN_MS;
    for (let second = 0; second < REFRESH_MARGIN_MS / 1000; second += 1) {
      expect((await cache.current()).value).toBe("key-1");
      await new Promise((resolve) => setImmediate(resolve));
      clock.now += 1000;
    }
    // 10 s doubling to 5 min over 15 min: 0, 10, 30, 70, 150, 310, 610 s; a fixed 10 s would be 90 calls.
    expect(calls - 1).toBe(7);
  });

  test("starts again from the shortest wait once a fetch succeeds", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const service = fakeService();
    service.hold();
    const cache = cacheAt(clock, service);
    for (const wait of [0, RETRY_AFTER_MS, 2 * RETRY_AFTER_MS]) {
      clock.now += wait;
      const attempt = cache.current();
      service.pending.at(-1)?.reject(new Error("503 ServerBusy"));
      await expect(attempt).rejects.toThrow("503");
    }
    clock.now += 4 * RETRY_AFTER_MS;
    const recovered = cache.current();
    service.pending.at(-1)?.resolve({} as UserDelegationKey);
    const key = await recovered;
    // The key has run out: the next failure waits the first, shortest, time again.
    clock.now = key.signedExpiresOn.getTime();
    const failed = cache.current();
    service.pending.at(-1)?.reject(new Error("503 ServerBusy"));
    await expect(failed).rejects.toThrow("503");
    clock.now += RETRY_AFTER_MS;
    const before = service.requests.length;
    void cache.current().catch(() => undefined);
    expect(service.requests).toHaveLength(before + 1);
  });

  test("reports each failed fetch as one event that names the cause and holds no credential", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const events: DelegationKeyFailure[] = [];
    const cache = new DelegationKeyCache({
      fetch: () =>
        Promise.reject(
          new RestError("AuthorizationPermissionMismatch Bearer eyJsecret", {
            statusCode: 403,
            code: "AuthorizationPermissionMismatch",
          }),
        ),
      longestTokenMs: 2 * HOUR,
      now: () => clock.now,
      onFailure: (event) => events.push(event),
    });
    await cache.current().catch(() => undefined);
    clock.now += RETRY_AFTER_MS;
    await cache.current().catch(() => undefined);
    await cache.current().catch(() => undefined);
    expect(events).toEqual([
      { event: "delegationKey.fetchFailed", cause: "storage answered 403", failures: 1, retryInSeconds: 10 },
      { event: "delegationKey.fetchFailed", cause: "storage answered 403", failures: 2, retryInSeconds: 20 },
    ]);
    expect(JSON.stringify(events)).not.toContain("eyJ");
  });
});
