// The shape of a benchmark run (what bench/results.json holds) and the arithmetic shared by its rows.
import { cpus } from "node:os";

export interface Figure {
  /** The median of `runs`. */
  median: number;
  runs: number[];
}

export interface BenchRow {
  id:
    | "issuance"
    | "http"
    | "coldStart"
    | "upload"
    | "rateLimit"
    | "shapedUpload"
    | "validationBytes"
    | "validationRate"
    | "keyless"
    | "photoProcessing"
    | "photoMemory"
    | "signIn"
    | "checkLatency"
    | "completionEvents"
    | "completionEventsScanned"
    | "clientSize";
  title: string;
  unit: string;
  /** Whether a larger figure is better (throughput) or a smaller one (time). */
  better: "higher" | "lower";
  project: Figure;
  baseline: Figure;
  /** The project relative to the baseline, oriented so that above 1 means the project does better. */
  ratio: number;
  target: string;
  targetMet: boolean;
  /** Further figures of the row (latency percentiles, package size), each project vs baseline. */
  details: Record<string, number | string | boolean>;
}

/**
 * Rows kept for information only: they time the project's own stand-ins (the handler in this process, the
 * local function host over loopback) rather than anything a person uploading waits on, so their targets
 * are not judged (docs/benchmarks.md, "Retired rows").
 */
export const RETIRED_ROWS: ReadonlySet<BenchRow["id"]> = new Set(["issuance", "http"]);

export interface BenchResults {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  platform: string;
  smoke: boolean;
  rows: BenchRow[];
}

/** A run's results: its rows, with the machine they were measured on. */
export function benchResults(rows: BenchRow[], smoke: boolean): BenchResults {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    platform: `${process.platform}-${process.arch}`,
    smoke,
    rows,
  };
}

/** For a row's script run alone (`npx tsx bench/<row>.ts`): prints its table, or its error and exit code 1. */
export function printRowsAlone(run: () => Promise<BenchRow[]>, smoke = false): void {
  run().then(
    (rows) => console.log(formatTable(benchResults(rows, smoke))),
    (error: unknown) => {
      console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The value at `fraction` (0.95 for p95) of values sorted in ascending order. */
export function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number;
}

export function figure(runs: readonly number[]): Figure {
  return { median: median(runs), runs: [...runs] };
}

/**
 * Measures project and baseline alternately, `runs` times each, so that whatever else the machine does
 * weighs on both alike; returns each side's figure, every run rounded to `digits`.
 */
export async function alternate(
  runs: number,
  measureProject: () => Promise<number>,
  measureBaseline: () => Promise<number>,
  digits: number,
): Promise<{ project: Figure; baseline: Figure }> {
  const projectRuns: number[] = [];
  const baselineRuns: number[] = [];
  for (let run = 0; run < runs; run++) {
    projectRuns.push(round(await measureProject(), digits));
    baselineRuns.push(round(await measureBaseline(), digits));
  }
  return { project: figure(projectRuns), baseline: figure(baselineRuns) };
}

/** Above 1 when the project does better than the baseline, whichever direction is better. */
export function ratioOf(project: number, baseline: number, better: BenchRow["better"]): number {
  return better === "higher" ? project / baseline : baseline / project;
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** One line per row: project, baseline, ratio and whether the target was met. */
export function formatTable(results: BenchResults): string {
  const header = ["row", "project", "baseline", "ratio", "target", "met"];
  const lines = results.rows.map((row) => [
    RETIRED_ROWS.has(row.id) ? `${row.title} (retired)` : row.title,
    `${formatNumber(row.project.median)} ${row.unit}`,
    `${formatNumber(row.baseline.median)} ${row.unit}`,
    `${row.ratio.toFixed(2)}x`,
    row.target,
    RETIRED_ROWS.has(row.id) ? "info" : row.targetMet ? "yes" : "NO",
  ]);
  const widths = header.map((_, column) =>
    Math.max(...[header, ...lines].map((line) => (line[column] ?? "").length)),
  );
  const render = (line: string[]) => line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ");
  const details = results.rows
    .filter((row) => Object.keys(row.details).length > 0)
    .map(
      (row) =>
        `  ${row.title}: ${Object.entries(row.details)
          .map(([key, value]) => `${key}=${typeof value === "number" ? formatNumber(value) : value}`)
          .join(", ")}`,
    );
  return [
    `valet benchmarks: Node ${results.node}, ${results.cpus} CPUs (${results.cpuModel}), ${results.date}` +
      (results.smoke ? " [smoke run: tiny sizes, figures meaningless]" : ""),
    render(header),
    ...lines.map(render),
    ...details,
  ].join("\n");
}

function formatNumber(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return String(round(value, 2));
}
