// The queue trigger's settings as function/host.json gives them (function/contract/queueTrigger.ts): the figures
// the Functions host and the local runner both obey, the host's defaults where host.json is silent, and a
// bad value named.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  parseQueueTriggerSettings,
  parseTimeSpan,
  QUEUE_TRIGGER,
} from "../../function/contract/queueTrigger";

describe("function/host.json's queue trigger", () => {
  test("sets the three timings, read from the file the deployment package carries", () => {
    const queues = JSON.parse(readFileSync(join(__dirname, "../../function/host.json"), "utf8")).extensions
      .queues;
    expect(queues).toMatchObject({
      maxPollingInterval: "00:00:02",
      visibilityTimeout: "00:02:30",
      maxDequeueCount: 5,
    });
    expect(QUEUE_TRIGGER).toMatchObject({
      messageEncoding: "none",
      maxPollingIntervalMs: 2_000,
      visibilityTimeoutMs: 150_000,
      maxDequeueCount: 5,
    });
  });

  test("retries span the ten minutes a new role assignment may take to be effective", () => {
    expect((QUEUE_TRIGGER.maxDequeueCount - 1) * QUEUE_TRIGGER.visibilityTimeoutMs).toBeGreaterThanOrEqual(
      10 * 60_000,
    );
  });

  test("leaves out what host.json leaves out: the host's documented defaults", () => {
    expect(parseQueueTriggerSettings({ version: "2.0" })).toEqual({
      messageEncoding: "base64",
      batchSize: 16,
      maxPollingIntervalMs: 60_000,
      visibilityTimeoutMs: 0,
      maxDequeueCount: 5,
    });
  });

  test.each([
    ["00:00:02", 2_000],
    ["00:02:30", 150_000],
    ["00:00:00.100", 100],
    ["1.00:00:00", 86_400_000],
  ])("the time span %s is %d ms", (value, ms) => {
    expect(parseTimeSpan(value, "visibilityTimeout")).toBe(ms);
  });

  test.each([
    [{ maxPollingInterval: 2000 }, /extensions\.queues\.maxPollingInterval must be a time span/],
    [{ visibilityTimeout: "30s" }, /extensions\.queues\.visibilityTimeout must be a time span/],
    [{ maxDequeueCount: 0 }, /extensions\.queues\.maxDequeueCount must be a whole number from 1/],
    [{ batchSize: 64 }, /extensions\.queues\.batchSize must be a whole number from 1 to 32/],
    [{ messageEncoding: "utf8" }, /extensions\.queues\.messageEncoding must be "base64" or "none"/],
  ])("%j is refused by name", (queues, message) => {
    expect(() => parseQueueTriggerSettings({ extensions: { queues } })).toThrow(message);
  });
});
