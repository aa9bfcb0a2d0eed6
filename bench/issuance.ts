// Row 1: container tokens per second through the real handler (an @azure/functions request in, the JSON
// response out) against bare node:crypto signing of the same string-to-sign.
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { CREDENTIALS_ROUTE } from "../function/contract/routes";
import { httpFunctions } from "../function/functions";
import { instance } from "../function/platform/instance";
import { policyId } from "../function/signing/accessPolicies";
import { type BaselineAccount, type BaselineSigner, baselineSigner } from "./baseline";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface IssuanceOptions {
  runs: number;
  /** How long each run issues tokens for. */
  runMs: number;
  /** Account key of the uploads account (the same one the function's settings hold). */
  accountKey: string;
}

export const ISSUANCE_TARGET = 0.8;

type Issue = () => Promise<string> | string;

export async function benchIssuance(options: IssuanceOptions): Promise<BenchRow> {
  const signer = signerForSettings(options.accountKey);
  const handler = httpFunctions.credentials.handler;
  // One request object, as the host hands the handler; a fresh context per invocation, as the host makes.
  const request = new HttpRequest({ method: "GET", url: `http://127.0.0.1:7071/api/${CREDENTIALS_ROUTE}` });
  let logLines = 0;
  // The log lines are counted, not kept; one handler for all invocations, as the local host has.
  const logHandler = () => {
    logLines++;
  };
  const project: Issue = async () => {
    const context = new InvocationContext({ invocationId: "bench", functionName: "credentials", logHandler });
    const response = await handler(request, context);
    if (response instanceof HttpResponse || response.status !== 200) {
      throw new Error(`the handler answered ${response.status} instead of a JSON body`);
    }
    return JSON.stringify(response.jsonBody);
  };
  const baseline: Issue = () => signer.responseBody(Date.now());

  const sameToken = await issuesSameToken(project, signer);
  // Warm both paths up (JIT), then alternate them so drift in the machine's speed hits both alike.
  await perSecond(project, Math.min(200, options.runMs));
  await perSecond(baseline, Math.min(200, options.runMs));
  const issuedBefore = logLines;
  const { project: projectFigure, baseline: baselineFigure } = await alternate(
    options.runs,
    () => perSecond(project, options.runMs),
    () => perSecond(baseline, options.runMs),
    0,
  );
  const ratio = ratioOf(projectFigure.median, baselineFigure.median, "higher");
  return {
    id: "issuance",
    title: "1. Issuance, in process",
    unit: "tokens/s",
    better: "higher",
    project: projectFigure,
    baseline: baselineFigure,
    ratio: round(ratio),
    target: `>= ${ISSUANCE_TARGET}x baseline`,
    targetMet: ratio >= ISSUANCE_TARGET,
    details: {
      sameToken,
      // Every token issued while measuring was logged, as in production.
      issuanceLogged: logLines - issuedBefore > 0,
    },
  };
}

/** The account, container, protocol and lifetime the function's settings hold, for a baseline. */
export function baselineAccount(accountKey: string): BaselineAccount {
  const settings = instance().settings();
  return {
    accountName: settings.uploads.accountName,
    accountKey,
    blobServiceUrl: settings.uploads.blobServiceUrl,
    container: settings.container,
    protocol: settings.uploads.protocol,
    lifetimeMinutes: settings.tokenLifetimeMinutes,
    identifier: policyId(settings.tokenGeneration, "container"),
  };
}

export function signerForSettings(accountKey: string): BaselineSigner {
  return baselineSigner(baselineAccount(accountKey));
}

/**
 * The comparison is only fair if both sides produce the same bytes: the handler's body must equal the
 * baseline's for the same moment (recovered from the token's expiry).
 */
async function issuesSameToken(project: Issue, signer: BaselineSigner): Promise<boolean> {
  const body = await project();
  const { expiresOn } = JSON.parse(body) as { expiresOn: string };
  const lifetimeMs = instance().settings().tokenLifetimeMinutes * 60_000;
  const expected = signer.responseBody(Date.parse(expiresOn) - lifetimeMs);
  if (body !== expected) {
    throw new Error(`the baseline does not sign the handler's token: handler ${body}, baseline ${expected}`);
  }
  return true;
}

/** Calls `issue` back to back for `ms` milliseconds; returns calls per second. */
export async function perSecond(issue: Issue, ms: number): Promise<number> {
  let count = 0;
  let sink = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 64; i++) {
      const result = issue();
      sink += (typeof result === "string" ? result : await result).length;
    }
    count += 64;
    now = performance.now();
  }
  if (sink === 0) throw new Error("no tokens were issued");
  return (count * 1000) / (now - start);
}
