// Row 10: how long a person waits for the check. Time from a blob's commit (its Put Blob answered) to its
// verdict in the status endpoint, on the local stack with function/host.json's queue timings, after the
// queue has been idle for longer than `maxPollingInterval` (the project), against the same upload sent
// right after a verdict, while the queue runner still polls at its quickest (the baseline): the ratio is
// what a quiet spell costs. The Event Grid stand-in lists the inbox every 200 ms; what Azure adds on top
// (Event Grid's delivery, a Flex app's scale-out from zero) is in docs/benchmarks.md.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BlobServiceClient } from "@azure/storage-blob";
import { SETTING } from "../function/contract/appSettings";
import { QUEUE_TRIGGER } from "../function/contract/queueTrigger";
import { freePort } from "../local/ports";
import { FIRST_POLL_WAIT_MS } from "../local/queueRunner";
import { startLocalStack } from "../local/stack";
import { type BenchRow, figure, percentile, ratioOf, round } from "./results";

export interface CheckLatencyBenchOptions {
  /** Uploads timed on each side (21 in a real run: at least 20, and odd, so the median is one of them). */
  uploads: number;
  /** The blob service's CORS rule needs an origin, though no browser takes part. */
  pageOrigin: string;
}

/** The 8 × 8 PNG of the test fixtures: a small upload the check accepts. */
export const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000080000000808020000004b" +
    "6d29dc0000002549444154789c6360606050505070707048484868686858" +
    "b060c18103071e3c78c030b424005899540167f0518b0000000049454e44" +
    "ae426082",
  "hex",
);
const STATUS_POLL_MS = 25;
const TARGET_P95_SECONDS = 3;

export async function benchCheckLatency(options: CheckLatencyBenchOptions): Promise<BenchRow> {
  const dataDir = await mkdtemp(join(tmpdir(), "valet-bench-check-"));
  const stack = await startLocalStack({
    blobPort: await freePort(),
    tablePort: await freePort(),
    queuePort: await freePort(),
    functionPort: await freePort(),
    allowedOrigins: [options.pageOrigin],
    dataDir,
    // No queueBehaviour: the runner takes every figure from function/host.json, as Azure's host does.
    appSettings: { [SETTING.issuanceRatePerMinute]: "0", [SETTING.dailyUploadBytesPerClient]: "0" },
  });
  try {
    const inbox = BlobServiceClient.fromConnectionString(stack.connectionString).getContainerClient(
      stack.container,
    );
    let count = 0;
    const commitToVerdict = async (): Promise<number> => {
      const name = `latency-${++count}.png`;
      await inbox
        .getBlockBlobClient(name)
        .uploadData(PNG, { blobHTTPHeaders: { blobContentType: "image/png" } });
      const committed = performance.now();
      for (;;) {
        const body = (await (await fetch(stack.statusUrl(name))).json()) as { state?: string };
        if (body.state === "accepted") return (performance.now() - committed) / 1000;
        if (body.state !== "pending") throw new Error(`${name}: the check answered ${JSON.stringify(body)}`);
        await sleep(STATUS_POLL_MS);
      }
    };
    // The runner's backoff doubles up to maxPollingInterval: idle past that, plus a random part of
    // one interval, so that uploads land anywhere in the poll cycle.
    const saturated = backoffSaturationMs(QUEUE_TRIGGER.maxPollingIntervalMs);
    const idle: number[] = [];
    const warm: number[] = [];
    for (let upload = 0; upload < options.uploads; upload++) {
      await sleep(saturated + Math.random() * QUEUE_TRIGGER.maxPollingIntervalMs);
      idle.push(round(await commitToVerdict(), 3));
      warm.push(round(await commitToVerdict(), 3));
    }
    const project = figure(idle);
    const baseline = figure(warm);
    const sortedIdle = [...idle].sort((a, b) => a - b);
    const sortedWarm = [...warm].sort((a, b) => a - b);
    const p95 = percentile(sortedIdle, 0.95);
    return {
      id: "checkLatency",
      title: "10. Commit to verdict after an idle queue",
      unit: "s p50",
      better: "lower",
      project,
      baseline,
      ratio: ratioOf(project.median, baseline.median, "lower"),
      target: `p95 ≤ ${TARGET_P95_SECONDS} s`,
      targetMet: p95 <= TARGET_P95_SECONDS,
      details: {
        uploads: options.uploads,
        idleP50Seconds: percentile(sortedIdle, 0.5),
        idleP95Seconds: p95,
        warmP50Seconds: percentile(sortedWarm, 0.5),
        warmP95Seconds: percentile(sortedWarm, 0.95),
        idleAtLeastMs: saturated,
        maxPollingIntervalMs: QUEUE_TRIGGER.maxPollingIntervalMs,
        visibilityTimeoutMs: QUEUE_TRIGGER.visibilityTimeoutMs,
        maxDequeueCount: QUEUE_TRIGGER.maxDequeueCount,
      },
    };
  } finally {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** How long an empty queue takes to push the runner's backoff up to `maxMs`, plus `maxMs`. */
function backoffSaturationMs(maxMs: number): number {
  let total = 0;
  for (let wait = FIRST_POLL_WAIT_MS; wait < maxMs; wait *= 2) total += wait;
  return total + maxMs;
}
