// After an upload's bytes are stored, valet checks them before anyone may use them. This asks the status
// endpoint (GET <api>/uploads/{blobName}) how that check went, waiting longer between each try and giving
// up after a bounded number of them, and puts the answer into words for the upload's row.
import { errorMessageOf } from "./failures";
import { abortableSleep, retryAfterOf, type Sleep } from "./retry";

/** What the page learned: the check's verdict, or why it has none. */
export type Verification =
  /** `thumbnail`: the thumbnail renditions' names, WebP and its fallback, when the endpoint lists them. */
  | { readonly state: "accepted"; readonly url: string; readonly thumbnail?: Thumbnail }
  | { readonly state: "rejected"; readonly reason: string }
  /** Still pending after the last try: the check may yet finish. */
  | { readonly state: "pending" }
  /** No verdict could be had: the endpoint refused the name, did not know it, or could not be reached. */
  | { readonly state: "unconfirmed"; readonly problem: string };

/** A thumbnail's two renditions: WebP, and the JPEG or PNG for a browser without it. */
export interface Thumbnail {
  readonly webp: string;
  readonly fallback: string;
}

/** How the page polls: the first wait, how each wait grows, its ceiling, and how many tries in all. */
export interface PollTiming {
  readonly firstDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  readonly maxTries: number;
}

/**
 * A check takes a few seconds once Event Grid has delivered the event (typically within seconds) and the
 * app has started; a cold Flex Consumption instance adds several more. 1, 2, 4, 8 s and then every 10 s,
 * 12 tries in all: about a minute and a half before the page stops asking.
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
  | { readonly kind: "verdict"; readonly verification: Verification }
  | { readonly kind: "again"; readonly problem: string; readonly waitMs?: number };

/**
 * Asks until the check has a verdict or the tries run out. A name the endpoint refuses (400) ends the
 * polling at once; an unknown name (404: the event may not have reached the app yet), a server error, a
 * network failure and a 429 are tried again, the last one no sooner than it asks.
 */
export async function pollVerification(
  apiUrl: string,
  blobName: string,
  options: PollOptions = {},
): Promise<Verification> {
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
    if (last.kind === "verdict" && last.verification.state !== "pending") return last.verification;
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
    return { kind: "verdict", verification: { state: "unconfirmed", problem } };
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
  const verification = verificationOf(body);
  return verification
    ? { kind: "verdict", verification }
    : { kind: "again", problem: "the check service sent an answer this page does not understand" };
}

/** The endpoint's 200 body, or undefined when it is not one the page understands. */
function verificationOf(body: unknown): Verification | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const value = body as { state?: unknown; reason?: unknown; url?: unknown; renditions?: unknown };
  if (value.state === "pending") return { state: "pending" };
  if (value.state === "accepted" && typeof value.url === "string") {
    const thumbnail = thumbnailOf(value.renditions);
    return { state: "accepted", url: value.url, ...(thumbnail && { thumbnail }) };
  }
  if (value.state === "rejected") {
    // The endpoint's own words, kept short; a rejection without them is still a rejection.
    const reason =
      typeof value.reason === "string" && value.reason !== "" ? value.reason.slice(0, 500) : undefined;
    return { state: "rejected", reason: reason ?? "the file did not pass the check" };
  }
  return undefined;
}

/** The thumbnail's names in the endpoint's list of renditions, when it has both. */
function thumbnailOf(renditions: unknown): Thumbnail | undefined {
  if (!Array.isArray(renditions)) return undefined;
  const names = renditions.flatMap((entry: unknown) => {
    const value = entry as { kind?: unknown; name?: unknown; contentType?: unknown } | null;
    return value?.kind === "thumb" && typeof value.name === "string" && typeof value.contentType === "string"
      ? [{ name: value.name, contentType: value.contentType }]
      : [];
  });
  const webp = names.find((entry) => entry.contentType === "image/webp");
  const fallback = names.find((entry) => entry.contentType !== "image/webp");
  return webp && fallback ? { webp: webp.name, fallback: fallback.name } : undefined;
}

/** What a row shows: `checking`, `verified`, `rejected` or `unconfirmed` (for styles and tests), and the words. */
export interface VerificationText {
  readonly state: "checking" | "verified" | "rejected" | "unconfirmed";
  readonly text: string;
  readonly thumbnail?: Thumbnail;
}

export const CHECKING: VerificationText = { state: "checking", text: "Checking…" };

export function describeVerification(verification: Verification): VerificationText {
  switch (verification.state) {
    case "accepted":
      return {
        state: "verified",
        text: "Verified",
        ...(verification.thumbnail && { thumbnail: verification.thumbnail }),
      };
    case "rejected":
      return { state: "rejected", text: `Rejected: ${verification.reason}` };
    case "pending":
      return {
        state: "unconfirmed",
        text: "Still being checked: this is taking longer than usual. The check goes on; reload later to see its result.",
      };
    case "unconfirmed":
      // The endpoint's own words may already end a sentence.
      return {
        state: "unconfirmed",
        text: `The check could not be confirmed: ${verification.problem.replace(/[.!?]*$/, ".")}`,
      };
  }
}

/**
 * Shows "Checking…" at once, then the verdict, through `show`; resolves with what was shown last. A
 * failure of the polling itself (other than an abort) is shown as unconfirmed, never thrown.
 */
export async function followVerification(
  apiUrl: string,
  blobName: string,
  show: (text: VerificationText) => void,
  options: PollOptions = {},
): Promise<VerificationText> {
  show(CHECKING);
  let outcome: VerificationText;
  try {
    outcome = describeVerification(await pollVerification(apiUrl, blobName, options));
  } catch (error) {
    if (options.signal?.aborted) throw error;
    outcome = describeVerification({ state: "unconfirmed", problem: "the page could not ask for it" });
  }
  show(outcome);
  return outcome;
}

/**
 * The row's line for the check, added under its status; `announce` tells screen readers the verdict. Once
 * verified, the row shows the thumbnail valet made (upright and without the photo's metadata), from `apiUrl`.
 */
export function verificationLine(
  row: HTMLElement,
  announce: (message: string) => void,
  apiUrl = "",
  label = "the upload",
): (text: VerificationText) => void {
  const line = document.createElement("p");
  line.className = "upload-verification";
  row.append(line);
  return ({ state, text, thumbnail }) => {
    row.dataset.verification = state;
    line.textContent = text;
    if (thumbnail && apiUrl) row.append(thumbnailPicture(apiUrl, thumbnail, label));
    if (state !== "checking") announce(text);
  };
}

function thumbnailPicture(apiUrl: string, thumbnail: Thumbnail, label: string): HTMLElement {
  const picture = document.createElement("picture");
  picture.className = "upload-thumbnail";
  const source = document.createElement("source");
  source.type = "image/webp";
  source.srcset = renditionUrl(apiUrl, thumbnail.webp);
  const image = document.createElement("img");
  image.src = renditionUrl(apiUrl, thumbnail.fallback);
  image.alt = `Thumbnail of ${label}`;
  image.decoding = "async";
  picture.append(source, image);
  return picture;
}
