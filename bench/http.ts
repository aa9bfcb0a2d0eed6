// Row 2: GET /api/credentials on the local function host under concurrent load (autocannon) against a
// bare node:http server answering with a token signed the same way. Each server runs in its own process.
import { fork } from "node:child_process";
import { join } from "node:path";
import autocannon from "autocannon";
import { stopChild } from "../local/lifecycle";
import { type BenchRow, figure, ratioOf, round } from "./results";
import type { ServerKind } from "./server";

export interface HttpOptions {
  runs: number;
  connections: number;
  /** Seconds per run; or, when `amount` is set, requests per run. */
  durationSeconds: number;
  amount?: number;
  /** The environment the servers read their settings from. */
  env: NodeJS.ProcessEnv;
}

export const HTTP_THROUGHPUT_TARGET = 0.7;
export const HTTP_P99_TARGET = 2;

interface Sample {
  rps: number;
  p50: number;
  p99: number;
}

export async function benchHttp(options: HttpOptions): Promise<BenchRow> {
  const servers = await Promise.all([
    startServer("project", options.env),
    startServer("baseline", options.env),
  ]);
  try {
    const [project, baseline] = servers;
    const load = (url: string, warmUp = false) =>
      loadTest(url, warmUp ? { ...options, durationSeconds: 1, amount: options.amount } : options);
    await load(project.url, true);
    await load(baseline.url, true);
    const projectSamples: Sample[] = [];
    const baselineSamples: Sample[] = [];
    for (let run = 0; run < options.runs; run++) {
      projectSamples.push(await load(project.url));
      baselineSamples.push(await load(baseline.url));
    }
    const projectRps = figure(projectSamples.map((sample) => round(sample.rps, 0)));
    const baselineRps = figure(baselineSamples.map((sample) => round(sample.rps, 0)));
    const ratio = ratioOf(projectRps.median, baselineRps.median, "higher");
    const projectP99 = figure(projectSamples.map((sample) => sample.p99)).median;
    const baselineP99 = figure(baselineSamples.map((sample) => sample.p99)).median;
    // autocannon records whole milliseconds; a p99 of 0 ms is counted as 1 so the ratio stays finite.
    const p99Ratio = Math.max(projectP99, 1) / Math.max(baselineP99, 1);
    return {
      id: "http",
      title: "2. Issuance over HTTP",
      unit: "req/s",
      better: "higher",
      project: projectRps,
      baseline: baselineRps,
      ratio: round(ratio),
      target: `>= ${HTTP_THROUGHPUT_TARGET}x baseline, p99 <= ${HTTP_P99_TARGET}x`,
      targetMet: ratio >= HTTP_THROUGHPUT_TARGET && p99Ratio <= HTTP_P99_TARGET,
      details: {
        connections: options.connections,
        projectP50Ms: figure(projectSamples.map((sample) => sample.p50)).median,
        projectP99Ms: projectP99,
        baselineP50Ms: figure(baselineSamples.map((sample) => sample.p50)).median,
        baselineP99Ms: baselineP99,
        p99Ratio: round(p99Ratio),
      },
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function loadTest(url: string, options: HttpOptions): Promise<Sample> {
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.durationSeconds,
    amount: options.amount,
  });
  if (result.errors > 0 || result.non2xx > 0 || result["2xx"] === 0) {
    throw new Error(
      `load test of ${url} failed: ${result["2xx"]} OK, ${result.non2xx} other statuses, ${result.errors} errors`,
    );
  }
  return { rps: result["2xx"] / result.duration, p50: result.latency.p50, p99: result.latency.p99 };
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** A server of `kind` in its own process, reading its settings from `env` as an instance on Azure does. */
export function startServer(kind: ServerKind, env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const child = fork(join(__dirname, "server.ts"), [kind], {
    execArgv: ["--import", "tsx"],
    env,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("message", (message: { url: string }) => {
      resolve({ url: message.url, stop: () => stopChild(child) });
    });
    child.once("exit", (code) => reject(new Error(`the ${kind} server exited (${code}): ${stderr.trim()}`)));
  });
}
