// Row 5: what the issuance limits cost a request. Per-upload tokens through the real handler, one after
// another from a rotating set of callers, with the limits on (a table write to Azurite per request) and off.
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import type { Environment } from "../function/contract/appSettings";
import { CREDENTIALS_ROUTE } from "../function/contract/routes";
import { httpFunctions } from "../function/functions";
import { configureInstance } from "../function/platform/instance";
import { alternate, type BenchRow, percentile, round } from "./results";

export interface RateLimitOptions {
  runs: number;
  /** Requests per run. */
  requests: number;
  /** The function's settings with the limits on (and their table) and with them off. */
  limitsOn: Environment;
  limitsOff: Environment;
}

/** The limits may add a table round trip; on loopback it should stay well under this. */
export const RATE_LIMIT_P99_TARGET_MS = 10;
/** Distinct callers the requests come from: each one's row is written again and again, as in use. */
const CALLERS = 100;

export async function benchRateLimit(options: RateLimitOptions): Promise<BenchRow> {
  const requests = Array.from(
    { length: CALLERS },
    (_, caller) =>
      new HttpRequest({
        method: "GET",
        url: `http://127.0.0.1:7071/api/${CREDENTIALS_ROUTE}?filename=bench.png&contentType=image/png&size=1024`,
        headers: { "x-forwarded-for": `198.18.${caller >> 8}.${caller & 255}` },
      }),
  );
  let sent = 0;
  const latencies = (env: Environment, count: number): Promise<number[]> => {
    configureInstance(env);
    return handlerLatencies(() => requests[sent++ % CALLERS] as HttpRequest, count);
  };
  const p99s = { on: [] as number[], off: [] as number[] };
  const measure = (side: "on" | "off") => async () => {
    // Warm up: the first requests of a fresh limiter insert or read each caller's row.
    await latencies(side === "on" ? options.limitsOn : options.limitsOff, CALLERS);
    const times = await latencies(side === "on" ? options.limitsOn : options.limitsOff, options.requests);
    p99s[side].push(percentile(times, 0.99));
    return percentile(times, 0.5);
  };
  const { project, baseline } = await alternate(options.runs, measure("on"), measure("off"), 4);
  const p99On = medianOf(p99s.on);
  const p99Off = medianOf(p99s.off);
  return {
    id: "rateLimit",
    title: "5. Issuance latency, limits on vs off",
    unit: "ms p50",
    better: "lower",
    project,
    baseline,
    // Below 1: the limits cost time (a table write on every request).
    ratio: round(baseline.median / project.median),
    target: `p99 <= ${RATE_LIMIT_P99_TARGET_MS} ms with limits on`,
    targetMet: p99On <= RATE_LIMIT_P99_TARGET_MS,
    details: {
      onP99Ms: round(p99On, 4),
      offP99Ms: round(p99Off, 4),
      p99Ratio: round(p99Off / p99On),
      addedP50Ms: round(project.median - baseline.median, 4),
    },
  };
}

/**
 * The credentials handler's time for each of `count` requests (`next` gives each), sorted; every one must
 * answer with a token.
 */
export async function handlerLatencies(next: () => HttpRequest, count: number): Promise<number[]> {
  const handler = httpFunctions.credentials.handler;
  const logHandler = () => undefined;
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const request = next();
    const context = new InvocationContext({ invocationId: "bench", functionName: "credentials", logHandler });
    const start = performance.now();
    const response = await handler(request, context);
    times.push(performance.now() - start);
    if (response instanceof HttpResponse || response.status !== 200) {
      throw new Error(`the handler answered ${response.status} instead of a token`);
    }
  }
  return times.sort((a, b) => a - b);
}

export function medianOf(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
