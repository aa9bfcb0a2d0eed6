// Row 13: what sign-in costs a request. Per-upload tokens through the real handler, from a rotating set of
// signed-in people (a bearer token each, verified with the issuer stand-in's key set, fetched once and kept)
// against the same requests anonymous. The limits are off on both sides: row 5 times those.
import { HttpRequest } from "@azure/functions";
import { type Environment, SETTING } from "../function/contract/appSettings";
import { CREDENTIALS_ROUTE } from "../function/contract/routes";
import { configureInstance } from "../function/platform/instance";
import { startIssuerStandIn } from "../local/issuer";
import { handlerLatencies, medianOf } from "./rateLimit";
import { alternate, type BenchRow, percentile, round } from "./results";

export interface SignInOptions {
  runs: number;
  /** Requests per run. */
  requests: number;
  /** The function's settings, anonymous and with the limits off. */
  appSettings: Environment;
}

/** Verifying a JWT with a kept key set is local work (one RSA signature check): at most this much at p99. */
export const SIGN_IN_ADDED_P99_TARGET_MS = 2;
const PEOPLE = 100;

export async function benchSignIn(options: SignInOptions): Promise<BenchRow> {
  const issuer = await startIssuerStandIn();
  try {
    const signedIn: Environment = {
      ...options.appSettings,
      [SETTING.authIssuer]: issuer.issuer,
      [SETTING.authAudience]: issuer.audience,
      [SETTING.dailyUploadBytesPerOwner]: "0",
    };
    const url = `http://127.0.0.1:7071/api/${CREDENTIALS_ROUTE}?filename=bench.png&contentType=image/png&size=1024`;
    const anonymous = new HttpRequest({ method: "GET", url });
    const withTokens = Array.from(
      { length: PEOPLE },
      (_, person) =>
        new HttpRequest({
          method: "GET",
          url,
          headers: { authorization: `Bearer ${issuer.mint(`person-${person}`)}` },
        }),
    );
    let sent = 0;
    const latencies = (side: "signedIn" | "anonymous", count: number): Promise<number[]> => {
      configureInstance(side === "signedIn" ? signedIn : options.appSettings);
      return handlerLatencies(
        () => (side === "signedIn" ? (withTokens[sent++ % PEOPLE] as HttpRequest) : anonymous),
        count,
      );
    };
    const p99s = { signedIn: [] as number[], anonymous: [] as number[] };
    const measure = (side: "signedIn" | "anonymous") => async () => {
      // Warm up (JIT; signed in, the first request reads the discovery document and the key set).
      await latencies(side, PEOPLE);
      const times = await latencies(side, options.requests);
      p99s[side].push(percentile(times, 0.99));
      return percentile(times, 0.5);
    };
    const { project, baseline } = await alternate(options.runs, measure("signedIn"), measure("anonymous"), 4);
    const p99SignedIn = medianOf(p99s.signedIn);
    const p99Anonymous = medianOf(p99s.anonymous);
    const addedP99 = p99SignedIn - p99Anonymous;
    return {
      id: "signIn",
      title: "13. Issuance latency, signed in vs anonymous",
      unit: "ms p50",
      better: "lower",
      project,
      baseline,
      ratio: round(baseline.median / project.median),
      target: `p99 adds <= ${SIGN_IN_ADDED_P99_TARGET_MS} ms`,
      targetMet: addedP99 <= SIGN_IN_ADDED_P99_TARGET_MS,
      details: {
        signedInP99Ms: round(p99SignedIn, 4),
        anonymousP99Ms: round(p99Anonymous, 4),
        addedP50Ms: round(project.median - baseline.median, 4),
        addedP99Ms: round(addedP99, 4),
        // The key set was fetched once for all of it: verification used the kept keys.
        keySetFetches: issuer.keySetFetches(),
      },
    };
  } finally {
    configureInstance(options.appSettings);
    await issuer.stop();
  }
}
