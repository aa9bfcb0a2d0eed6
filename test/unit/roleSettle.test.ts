// The bounded wait for new role assignments (infra/roleSettle.ts): until ten minutes after the newest one,
// never longer, and not at all for assignments older than that.
import { describe, expect, test } from "vitest";
import { roleSettleProvider, settleWaitMs } from "../../infra/roleSettle";

const NOW = Date.parse("2026-12-06T12:00:00Z");
const minutes = (count: number) => count * 60_000;
const at = (minutesAgo: number) => new Date(NOW - minutes(minutesAgo)).toISOString();

describe("waiting for role assignments to take effect", () => {
  test("waits until ten minutes after the newest assignment", () => {
    expect(settleWaitMs({ assignedAt: [at(7), at(2)], settleMinutes: 10 }, NOW)).toBe(minutes(8));
  });

  test("does not wait for assignments made longer ago than that", () => {
    expect(settleWaitMs({ assignedAt: [at(30), at(11)], settleMinutes: 10 }, NOW)).toBe(0);
  });

  test("waits the whole bound, and never more, when a time is missing or in the future", () => {
    expect(settleWaitMs({ assignedAt: [at(30), ""], settleMinutes: 10 }, NOW)).toBe(minutes(10));
    expect(settleWaitMs({ assignedAt: [at(-60)], settleMinutes: 10 }, NOW)).toBe(minutes(10));
  });

  test("new assignments are waited for again, the same ones never", async () => {
    const olds = { assignedAt: [at(30)], settleMinutes: 10 };
    expect((await roleSettleProvider.diff?.("id", olds, olds))?.changes).toBe(false);
    const news = { assignedAt: [at(1)], settleMinutes: 10 };
    expect(await roleSettleProvider.diff?.("id", olds, news)).toMatchObject({
      changes: true,
      replaces: ["assignedAt"],
    });
  });
});
