// After an upload's bytes are stored, valet checks them before anyone may use them. This asks the status
// endpoint (GET <api>/uploads/{blobName}) how that check went, waiting longer between each try and giving
// up after a bounded number of them.
import { errorMessageOf } from "./errors.js";
import { abortableSleep, retryAfterOf, type Sleep } from "./retry.js";

/** What the client learned: the check's verdict, or why it has none. */
export type CheckStatus =
  /** `renditions`: what valet made of an accepted photo, as the endpoint lists them (none for other files). */
  | { readonly state: "accepted"; readonly url: string; readonly renditions: readonly Rendition[] }
  | { readonly state: "rejected"; readonly reason: string }
  /** Still pending after the last try: the check may yet finish. */
  | { readonly state: "pending" }
  /** No verdict could be had: the endpoint refused the name, did not know it, or could not be reached. */
  | { readonly state: "unconfirmed"; readonly problem: string };

/** One rendition of an accepted photo, as the status endpoint lists it; served at renditionUrl(apiUrl, name). */
export interface Rendition {
  readonly name: string;
  /** `feed` or `thumb`. */
  readonly kind: string;
  readonly contentType: string;
  readonly width?: number;
  readonly height?: number;
}

/** How the client polls: the first wait, how each wait grows, its ceiling, and how many tries in all. */
export interface PollTiming {
  readonly firstDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  readonly maxTries: number;
}

/**
 * A check takes a few seconds once Event Grid has delivered the event (typically within seconds) and the
 * app has started; a cold Flex Consumption instance adds several more. 1, 2, 4, 8 s and then every 10 s,
 * 12 tries in all: about a minute and a half before the client stops asking.
 */
export const DEFAULT_POLL_TIMING: PollTiming = {
  firstDelayMs: 1000,
  factor: 2,
  maxDelayMs: 10_000,
  maxTries: 12,
};

/** The status endpoint for a blob: beside the SAS endpoint, under the same `api` prefix. */
export function statusUrl(apiUrl: string, blobName: string): string {
  // Signed in, a name has its owner's segment first: each segment is encoded, the slash kept.
  return new URL(`uploads/${blobName.split("/").map(encodeURIComponent).join("/")}`, apiUrl).toString();
}

/** A rendition, served by the function: beside the status endpoint, under the same `api` prefix. */
export function renditionUrl(apiUrl: string, name: string): string {
  return new URL(`renditions/${encodeURIComponent(name)}`, apiUrl).toString();
}

/** The wait before try `attempt` (1-based). */
export function delayBefore(attempt: number, timing: PollTiming): number {
  return Math.min(timing.maxDelayMs, timing.firstDelayMs * timing.factor ** (attempt - 1));
}

export interface PollOptions {
  readonly timing?: PollTiming;
  readonly fetchImpl?: typeof fetch;
  readonly sleep?: Sleep;
  /** Aborts the polling; the abort reason is thrown. */
  readonly signal?: AbortSignal;
}

type Answer =
  | { readonly kind: "verdict"; readonly status: CheckStatus }
  | { readonly kind: "again"; readonly problem: string; readonly waitMs?: number };

/**
 * Asks until the check has a verdict or the tries run out. A name the endpoint refuses (400) ends the
 * polling at once; an unknown name (404: the event may not have reached the app yet), a server error, a
 * network failure and a 429 are tried again, the last one no sooner than it asks.
 */
export async function pollCheckStatus(
  apiUrl: string,
  blobName: string,
  options: PollOptions = {},
): Promise<CheckStatus> {
  const timing = options.timing ?? DEFAULT_POLL_TIMING;
  const sleep = options.sleep ?? abortableSleep;
  const fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));
  const url = statusUrl(apiUrl, blobName);
  let last: Answer | undefined;
  for (let attempt = 1; attempt <= timing.maxTries; attempt++) {
    await sleep(
      Math.max(delayBefore(attempt, timing), last?.kind === "again" ? (last.waitMs ?? 0) : 0),
      options.signal,
    );
    last = await ask(url, fetchImpl, options.signal);
    if (last.kind === "verdict" && last.status.state !== "pending") return last.status;
  }
  return last?.kind === "again" ? { state: "unconfirmed", problem: last.problem } : { state: "pending" };
}

async function ask(url: string, fetchImpl: typeof fetch, signal: AbortSignal | undefined): Promise<Answer> {
  let response: Response;
  try {
    response = await fetchImpl(url, {
      cache: "no-store",
      credentials: "omit",
      headers: { Accept: "application/json" },
      signal,
    });
  } catch {
    if (signal?.aborted) throw signal.reason;
    return { kind: "again", problem: "the check service could not be reached" };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.status === 400) {
    const problem = errorMessageOf(body) ?? "the check service refused this upload's name";
    return { kind: "verdict", status: { state: "unconfirmed", problem } };
  }
  if (response.status === 404)
    return { kind: "again", problem: "the check service does not know this upload" };
  if (response.status === 429) {
    return {
      kind: "again",
      problem: "the check service asked this page to slow down",
      waitMs: retryAfterOf(body, response) * 1000,
    };
  }
  if (!response.ok) {
    return { kind: "again", problem: `the check service answered with status ${response.status}` };
  }
  const status = statusOf(body);
  return status
    ? { kind: "verdict", status }
    : { kind: "again", problem: "the check service sent an answer this page does not understand" };
}

/** The endpoint's 200 body, or undefined when it is not one the page understands. */
function statusOf(body: unknown): CheckStatus | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const value = body as { state?: unknown; reason?: unknown; url?: unknown; renditions?: unknown };
  if (value.state === "pending") return { state: "pending" };
  if (value.state === "accepted" && typeof value.url === "string") {
    return { state: "accepted", url: value.url, renditions: renditionsOf(value.renditions) };
  }
  if (value.state === "rejected") {
    // The endpoint's own words, kept short; a rejection without them is still a rejection.
    const reason =
      typeof value.reason === "string" && value.reason !== "" ? value.reason.slice(0, 500) : undefined;
    return { state: "rejected", reason: reason ?? "the file did not pass the check" };
  }
  return undefined;
}

/** The renditions the endpoint lists, those it names fully; an unknown shape is no renditions. */
function renditionsOf(renditions: unknown): Rendition[] {
  if (!Array.isArray(renditions)) return [];
  return renditions.flatMap((entry: unknown) => {
    const value = entry as Partial<Record<keyof Rendition, unknown>> | null;
    if (typeof value?.name !== "string" || typeof value.kind !== "string") return [];
    if (typeof value.contentType !== "string") return [];
    const size = (n: unknown) => (typeof n === "number" ? n : undefined);
    const width = size(value.width);
    const height = size(value.height);
    return [
      {
        name: value.name,
        kind: value.kind,
        contentType: value.contentType,
        ...(width !== undefined && { width }),
        ...(height !== undefined && { height }),
      },
    ];
  });
}
