// A smoke run of the benchmark (every row once, tiny sizes): it still works and reports what it
// promises. Figures are never asserted on: they depend on the machine.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type BenchResults, formatTable } from "../../bench/results";
import { runBenchmarks } from "../../bench/run";
import { QUEUE_TRIGGER } from "../../function/contract/queueTrigger";
import { trustedCertificate } from "../support/tls";

let dir: string;
let results: BenchResults;
let written: BenchResults;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "valet-bench-test-"));
  const outFile = join(dir, "results.json");
  results = await runBenchmarks({ smoke: true, outFile, certificate: await trustedCertificate() });
  written = JSON.parse(await readFile(outFile, "utf8"));
}, 300_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a smoke run of the benchmark", () => {
  test("writes the results it returns, with the machine's Node version and CPU count", () => {
    expect(written).toEqual(JSON.parse(JSON.stringify(results)));
    expect(written.node).toBe(process.version);
    expect(written.cpus).toBeGreaterThan(0);
    expect(written.smoke).toBe(true);
    expect(Number.isNaN(Date.parse(written.date))).toBe(false);
  });

  test("has the issuance, HTTP, cold-start, upload and rate-limit rows in order, then the shaped uploads, the check, photos, keyless, sign-in, the check's latency, the completion events' latency and the client's size", () => {
    expect(written.rows.map((row) => row.id)).toEqual([
      "issuance",
      "http",
      "coldStart",
      "upload",
      "rateLimit",
      "shapedUpload",
      "shapedUpload",
      "shapedUpload",
      "validationBytes",
      "validationRate",
      "photoProcessing",
      "photoMemory",
      "keyless",
      "signIn",
      "checkLatency",
      "completionEvents",
      "completionEventsScanned",
      "clientSize",
    ]);
  });

  test("gives every row a project figure, a baseline figure, their ratio, a target and a verdict", () => {
    for (const row of written.rows) {
      for (const side of [row.project, row.baseline]) {
        expect(side.runs.length).toBeGreaterThan(0);
        expect(side.median).toBeGreaterThan(0);
        expect(side.runs).toContain(side.median);
      }
      const expected =
        row.better === "higher"
          ? row.project.median / row.baseline.median
          : row.baseline.median / row.project.median;
      expect(row.ratio).toBeCloseTo(expected, 2);
      expect(row.unit).not.toBe("");
      expect(row.target).not.toBe("");
      expect(typeof row.targetMet).toBe("boolean");
    }
  });

  test("compares the handler with a baseline that signs the very same token, and the handler logged it", () => {
    const issuance = written.rows.find((row) => row.id === "issuance");
    expect(issuance?.details).toMatchObject({ sameToken: true, issuanceLogged: true });
  });

  test("reports latency percentiles for both HTTP servers", () => {
    const http = written.rows.find((row) => row.id === "http");
    for (const key of ["projectP50Ms", "projectP99Ms", "baselineP50Ms", "baselineP99Ms", "p99Ratio"]) {
      expect(typeof http?.details[key]).toBe("number");
    }
  });

  test("times the cold start in milliseconds, lower being better, and reports the package's zipped size", () => {
    const coldStart = written.rows.find((row) => row.id === "coldStart");
    expect(coldStart).toMatchObject({ unit: "ms", better: "lower" });
    expect(coldStart?.details.packageZipBytes).toBeGreaterThan(0);
  });
});

describe("the rate-limit row", () => {
  test("times issuance with the limits on against off in milliseconds, lower being better, with both p99s", () => {
    const row = written.rows.find((candidate) => candidate.id === "rateLimit");
    expect(row).toMatchObject({ unit: "ms p50", better: "lower" });
    for (const key of ["onP99Ms", "offP99Ms", "p99Ratio", "addedP50Ms"]) {
      expect(typeof row?.details[key]).toBe("number");
    }
    expect(row?.details.onP99Ms).toBeGreaterThan(0);
  });
});

describe("the keyless row", () => {
  test("times the first token of a fresh keyless instance against an account-key one, and both steady states", () => {
    const row = written.rows.find((candidate) => candidate.id === "keyless");
    expect(row).toMatchObject({ unit: "ms", better: "lower" });
    for (const key of [
      "firstTokenAddedMs",
      "steadyIdentityPerSecond",
      "steadyAccountKeyPerSecond",
      "steadyRatio",
    ]) {
      expect(typeof row?.details[key]).toBe("number");
    }
    expect(row?.details.steadyIdentityPerSecond).toBeGreaterThan(0);
    expect(row?.details.steadyAccountKeyPerSecond).toBeGreaterThan(0);
  });
});

describe("the shaped upload rows", () => {
  const shaped = () => written.rows.filter((row) => row.id === "shapedUpload");

  test("time a few photos, many small ones and one large file on the page, against the link's limit", () => {
    expect(shaped().map((row) => [row.details.files, row.details.fileBytes])).toEqual([
      [3, 50_000],
      [6, 20_000],
      [1, 2_000_000],
    ]);
    for (const row of shaped()) {
      expect(row).toMatchObject({ unit: "Mbit/s", better: "higher" });
      expect(row.baseline.median).toBe(row.details.upMbps);
      expect(row.details.seconds).toBeGreaterThan(0);
      expect(row.details.linkSeconds).toBeGreaterThan(0);
    }
  });

  test("count each file's requests to the function and to storage, a preflight and a PUT at least", () => {
    for (const row of shaped()) {
      expect(row.details.functionRequestsPerFile).toBeGreaterThanOrEqual(1);
      // One token per file (none refused here); the status polls are the rest of the function's requests.
      expect(row.details.tokenRequestsPerFile).toBe(1);
      expect(
        (row.details.tokenRequestsPerFile as number) + (row.details.statusRequestsPerFile as number),
      ).toBeCloseTo(row.details.functionRequestsPerFile as number, 1);
      expect(row.details.storagePreflightsPerFile).toBeGreaterThanOrEqual(1);
      expect(row.details.storageRequestsPerFile).toBeGreaterThanOrEqual(2);
      expect(row.details.bytesUp).toBeGreaterThan(
        (row.details.files as number) * (row.details.fileBytes as number),
      );
    }
  });
});

test("the printed table marks the retired rows as information, without judging their targets", () => {
  const lines = formatTable(results).split("\n");
  const line = (id: string) => {
    const title = results.rows.find((row) => row.id === id)?.title ?? id;
    return lines.find((candidate) => candidate.startsWith(title)) ?? "";
  };
  for (const id of ["issuance", "http"]) {
    expect(line(id)).toContain("(retired)");
    expect(line(id).trimEnd().endsWith("info")).toBe(true);
  }
  expect(line("coldStart")).not.toContain("(retired)");
  expect(line("coldStart")).toMatch(/(yes|NO)\s*$/);
});

describe("the rows of the check of stored uploads", () => {
  test("count the bytes read of a large upload from the storage requests: at most 128 KiB, against the whole blob", () => {
    const row = written.rows.find((candidate) => candidate.id === "validationBytes");
    expect(row).toMatchObject({ unit: "KiB", better: "lower", target: "≤ 128 KiB" });
    expect(row?.project.median).toBeGreaterThan(0);
    expect(row?.project.median).toBeLessThanOrEqual(128);
    expect(row?.baseline.median).toBe((row?.details.uploadBytes as number) / 1024);
    expect(row?.title).toMatch(/^7\. Bytes read per rejected upload, a [\d.]+ MiB upload$/);
  });

  test("time uploads checked through the local queue, reported beside issuance over HTTP", () => {
    const row = written.rows.find((candidate) => candidate.id === "validationRate");
    const http = written.rows.find((candidate) => candidate.id === "http");
    expect(row).toMatchObject({ title: "8. Validations per second, local queue", better: "higher" });
    expect(row?.details.issuancePerSecond).toBe(Math.round(http?.project.median ?? 0));
    expect(row?.details.uploadsPerRun).toBeGreaterThan(0);
  });
});

describe("the rows of photo processing", () => {
  test("time a phone photo's processing against a server-side copy, and a batch's images a second", () => {
    const row = written.rows.find((candidate) => candidate.id === "photoProcessing");
    expect(row).toMatchObject({ unit: "ms", better: "lower" });
    expect(row?.project.median).toBeGreaterThan(0);
    expect(row?.baseline.median).toBeGreaterThan(0);
    expect(row?.details.batchImagesPerSecond).toBeGreaterThan(0);
    expect(row?.details.processMBps).toBeGreaterThan(0);
  });

  test("measure a check's peak memory in a process of its own, against the instance's memory", () => {
    const row = written.rows.find((candidate) => candidate.id === "photoMemory");
    expect(row).toMatchObject({
      unit: "MB",
      better: "lower",
      target: "< 1024 MB (half of a 2048 MB instance)",
    });
    expect(row?.baseline.median).toBe(2048);
    expect(row?.project.median).toBeGreaterThan(row?.details.idleMB as number);
    expect(row?.details.inFlight).toBe(1);
  });
});

describe("the check's latency row", () => {
  test("times commit to verdict in seconds after an idle queue, with host.json's timings and both p95s", () => {
    const row = written.rows.find((candidate) => candidate.id === "checkLatency");
    expect(row).toMatchObject({ unit: "s p50", better: "lower", target: "p95 ≤ 3 s" });
    expect(row?.details).toMatchObject({
      maxPollingIntervalMs: QUEUE_TRIGGER.maxPollingIntervalMs,
      visibilityTimeoutMs: QUEUE_TRIGGER.visibilityTimeoutMs,
    });
    expect(row?.details.idleAtLeastMs).toBeGreaterThan(QUEUE_TRIGGER.maxPollingIntervalMs);
    for (const key of ["idleP50Seconds", "idleP95Seconds", "warmP50Seconds", "warmP95Seconds"]) {
      expect(row?.details[key]).toBeGreaterThan(0);
    }
  });
});

describe("the browser client's size row", () => {
  test("weighs the client bundled with the storage SDK against the SDK alone, and names the client's and the plugin's own share", () => {
    const row = written.rows.find((candidate) => candidate.id === "clientSize");
    expect(row).toMatchObject({ unit: "KiB", better: "lower", target: "adds ≤ 16 KiB" });
    // The client carries the SDK, so it weighs more than the SDK alone, by its own code at most.
    expect(row?.project.median).toBeGreaterThan(row?.baseline.median as number);
    const own = row?.details.clientOwnGzipKiB as number;
    expect(own).toBeGreaterThan(0);
    expect(row?.details.uppyPluginGzipKiB).toBeGreaterThan(0);
    expect(row?.details.uppyPluginWithClientGzipKiB).toBeGreaterThan(own);
  });
});
