// Row 14: how long after an upload its completion event reaches the application's webhook. Time from a PNG's
// Put Blob answered to the event's arrival at a receiver on loopback (local/eventsReceiver.ts), through the
// whole path: the Event Grid stand-in's BlobCreated event, the queue, the check, the verified copy and
// outcome row, the publish to the Event Grid topic stand-in over HTTPS, the handshake (once) and the delivery.
// The baseline, from the same uploads: the time until the verified blob is visible to a reader polling the
// verified container, which is what a backend without events would have to poll for. Uploads follow one another
// with the queue warm; what an idle queue adds is row 10's. Measured twice: with malware scanning off, and on
// (row 15) with the scanner stand-in reporting at once (delay 0), so that the gate's own cost shows: the
// result's queue message and the check it runs.
// Run alone: `npx tsx bench/completionEvents.ts [--smoke]`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BlobServiceClient } from "@azure/storage-blob";
import { SETTING } from "../function/contract/appSettings";
import { startEventsReceiver } from "../local/eventsReceiver";
import { freePort } from "../local/ports";
import { startLocalStack } from "../local/stack";
import { PNG } from "./checkLatency";
import { type BenchRow, figure, percentile, printRowsAlone, ratioOf, round } from "./results";

export interface CompletionEventsBenchOptions {
  /** Uploads timed (21 in a real run: at least 20, and odd, so the median is one of them). */
  uploads: number;
  /** The blob service's CORS rule needs an origin, though no browser takes part. */
  pageOrigin: string;
  /** With the malware scanning gate and its stand-in at delay 0. */
  scanning?: boolean;
}

const VISIBLE_POLL_MS = 10;
/** What events may add, at p95, to the time a reader would otherwise poll for. */
const TARGET_ADDED_P95_SECONDS = 0.5;

export async function benchCompletionEvents(options: CompletionEventsBenchOptions): Promise<BenchRow> {
  const dataDir = await mkdtemp(join(tmpdir(), "valet-bench-events-"));
  const receiver = await startEventsReceiver();
  const stack = await startLocalStack({
    blobPort: await freePort(),
    tablePort: await freePort(),
    queuePort: await freePort(),
    functionPort: await freePort(),
    allowedOrigins: [options.pageOrigin],
    dataDir,
    appSettings: { [SETTING.issuanceRatePerMinute]: "0", [SETTING.dailyUploadBytesPerClient]: "0" },
    completionEvents: { webhookUrl: receiver.url },
    ...(options.scanning && { malwareScanning: { delayMs: 0 } }),
  });
  try {
    const service = BlobServiceClient.fromConnectionString(stack.connectionString);
    const inbox = service.getContainerClient(stack.container);
    const verified = service.getContainerClient(stack.verifiedContainer);
    const toEvent: number[] = [];
    const toVisible: number[] = [];
    for (let upload = 1; upload <= options.uploads; upload++) {
      const name = `events-${upload}.png`;
      await inbox
        .getBlockBlobClient(name)
        .uploadData(PNG, { blobHTTPHeaders: { blobContentType: "image/png" } });
      const committed = performance.now();
      const visible = (async () => {
        while (!(await verified.getBlobClient(name).exists())) await sleep(VISIBLE_POLL_MS);
        return performance.now();
      })();
      await receiver.waitFor((received) =>
        received.some(({ event }) => event.subject === `/uploads/${name}`),
      );
      const arrived = receiver.received.find(({ event }) => event.subject === `/uploads/${name}`)?.at ?? 0;
      toEvent.push(round((arrived - committed) / 1000, 3));
      toVisible.push(round(((await visible) - committed) / 1000, 3));
    }
    const project = figure(toEvent);
    const baseline = figure(toVisible);
    const sortedEvent = [...toEvent].sort((a, b) => a - b);
    const sortedVisible = [...toVisible].sort((a, b) => a - b);
    const addedP95 = round(percentile(sortedEvent, 0.95) - percentile(sortedVisible, 0.95), 3);
    return {
      id: options.scanning ? "completionEventsScanned" : "completionEvents",
      title: options.scanning
        ? "15. Commit to completion event, malware scanning on (stand-in, delay 0)"
        : "14. Commit to completion event at the webhook",
      unit: "s p50",
      better: "lower",
      project,
      baseline,
      ratio: ratioOf(project.median, baseline.median, "lower"),
      target: `p95 adds ≤ ${TARGET_ADDED_P95_SECONDS} s`,
      targetMet: addedP95 <= TARGET_ADDED_P95_SECONDS,
      details: {
        uploads: options.uploads,
        eventP50Seconds: percentile(sortedEvent, 0.5),
        eventP95Seconds: percentile(sortedEvent, 0.95),
        verifiedVisibleP50Seconds: percentile(sortedVisible, 0.5),
        verifiedVisibleP95Seconds: percentile(sortedVisible, 0.95),
        addedP95Seconds: addedP95,
        handshakes: receiver.handshakes(),
        scanning: options.scanning === true,
      },
    };
  } finally {
    await stack.stop();
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const smoke = process.argv.includes("--smoke");
  const uploads = smoke ? 3 : 21;
  const pageOrigin = "http://127.0.0.1:4280";
  printRowsAlone(
    async () => [
      await benchCompletionEvents({ uploads, pageOrigin }),
      await benchCompletionEvents({ uploads, pageOrigin, scanning: true }),
    ],
    smoke,
  );
}
