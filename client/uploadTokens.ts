// Where each upload goes: asks the SAS endpoint for a token for one file, keeps a container token for more
// files while it lives, and turns the endpoint's answer into a target (blob URL and token).

import type { CredentialsBody, UploadCredentialsBody } from "../function/contract/credentialsProtocol.js";
import { RESUME_SECRET_HEADER, type ResumeRefusal } from "../function/contract/resumeProtocol.js";
import { errorMessageOf, ValetUploadError } from "./errors.js";
import type { Answer, HumanPassKeeper } from "./humanPass.js";
import { abortableSleep, type OnWait, retryAfterOf, type Sleep } from "./retry.js";
import type { FileFacts, UploadTarget } from "./types.js";

/** What the SAS endpoint answers: a per-upload token (with blobName/blobUrl) or a container token. */
export type Credentials = CredentialsBody | UploadCredentialsBody;

/** What asks for a fresh token for a blob this page started: its name and the first token's secret. */
export interface ResumeRequest {
  readonly blobName: string;
  readonly secret: string;
}

/** The endpoint refused to resume an upload; `reason` is its `resume` field. */
export class ResumeRefusedError extends Error {
  override name = "ResumeRefusedError";
  constructor(
    readonly reason: Exclude<ResumeRefusal, "unavailable">,
    message: string,
  ) {
    super(message);
  }
}

/** A cached token is used again only while it has at least this long to live. */
export const REFRESH_MARGIN_MS = 60_000;
/** Fresh tokens asked for in a row before concluding that this device's clock is wrong. */
const MAX_TOKEN_REQUESTS = 3;

/**
 * Hands out tokens. A per-upload token names one blob, so it serves exactly one upload attempt; a
 * container token (the endpoint's older answer) is kept for further files while it has more than
 * REFRESH_MARGIN_MS to live. No token is used after its expiresOn.
 */
export class TokenSource {
  private cachedContainerToken: Credentials | undefined;

  constructor(
    /** The SAS endpoint, and the extension per type for a blob a container token leaves to the client to name. */
    private readonly config: {
      readonly apiUrl: string;
      readonly extensions: Readonly<Record<string, string>>;
    },
    private readonly now: () => number = Date.now,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
    private readonly sleep: Sleep = abortableSleep,
    /** When the endpoint requires the human check: sends requests through it and keeps the pass. */
    private readonly humanCheck?: HumanPassKeeper,
  ) {}

  /**
   * A target for this file; `signal` aborts the request for a token (the abort reason is thrown). When the
   * endpoint answers 429, this waits as long as it says (telling `onWait`) and asks again: being told to
   * slow down is not a failure of the file.
   */
  async targetFor(file: FileFacts, signal?: AbortSignal, onWait?: OnWait): Promise<UploadTarget> {
    const cached = this.cachedContainerToken;
    if (cached && Date.parse(cached.expiresOn) - this.now() > REFRESH_MARGIN_MS) {
      return targetOf(cached, file, this.config.extensions);
    }
    this.cachedContainerToken = undefined;
    return await this.fresh(file, undefined, signal, onWait);
  }

  /**
   * A fresh token for a blob this page started uploading, presenting its resume secret; throws
   * ResumeRefusedError when the endpoint will not resume it (the secret expired, the upload is finished…).
   */
  async resumeTargetFor(
    file: FileFacts,
    resume: ResumeRequest,
    signal?: AbortSignal,
    onWait?: OnWait,
  ): Promise<UploadTarget> {
    return await this.fresh(file, resume, signal, onWait);
  }

  private async fresh(
    file: FileFacts,
    resume: ResumeRequest | undefined,
    signal: AbortSignal | undefined,
    onWait: OnWait | undefined,
  ): Promise<UploadTarget> {
    for (let request = 0; request < MAX_TOKEN_REQUESTS; request++) {
      const credentials = await this.request(file, resume, signal, onWait);
      // A token that arrives already expired (by this device's clock) is never used; ask again.
      if (Date.parse(credentials.expiresOn) <= this.now()) continue;
      if (!("blobUrl" in credentials)) this.cachedContainerToken = credentials;
      return targetOf(credentials, file, this.config.extensions);
    }
    throw new ValetUploadError(
      "clock",
      "Every upload token arrived already expired. Check that this device's date and time are correct, then try again.",
    );
  }

  /** Storage refused this token: never hand it out again. */
  discard(target: UploadTarget): void {
    if (this.cachedContainerToken?.sasKey === target.sasKey) this.cachedContainerToken = undefined;
  }

  private async request(
    file: FileFacts,
    resume: ResumeRequest | undefined,
    signal: AbortSignal | undefined,
    onWait: OnWait | undefined,
  ): Promise<Credentials> {
    for (;;) {
      const ask = (headers: Record<string, string>) => this.ask(file, resume, signal, headers);
      const { response, body } = this.humanCheck ? await this.humanCheck.send(ask, signal) : await ask({});
      if (response.status === 429) {
        const seconds = retryAfterOf(body, response);
        onWait?.(seconds, errorMessageOf(body) ?? "The upload service asked this page to slow down.");
        await this.sleep(seconds * 1000, signal);
        continue;
      }
      const refusal = (body as { resume?: unknown } | undefined)?.resume;
      if (!response.ok && (refusal === "invalid" || refusal === "expired" || refusal === "finished")) {
        throw new ResumeRefusedError(
          refusal,
          errorMessageOf(body) ?? `The upload cannot be resumed (${refusal}).`,
        );
      }
      if (!response.ok) {
        const reason = errorMessageOf(body);
        const message = reason ?? `it answered with status ${response.status}`;
        throw new ValetUploadError("server", `The upload service refused the request: ${message}`, true, {
          ...(reason && { reason }),
        });
      }
      if (!isCredentials(body)) {
        throw new ValetUploadError(
          "server",
          "The upload service sent an answer this page does not understand.",
        );
      }
      return body;
    }
  }

  private async ask(
    file: FileFacts,
    resume: ResumeRequest | undefined,
    signal: AbortSignal | undefined,
    headers: Record<string, string>,
  ): Promise<Answer> {
    const query = new URLSearchParams({
      filename: file.name,
      contentType: file.type,
      size: String(file.size),
      ...(resume && { blobName: resume.blobName }),
    });
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.config.apiUrl}?${query}`, {
        cache: "no-store",
        credentials: "omit",
        // The secret goes in a header: request URLs are kept by the endpoint's logs and any proxy's.
        headers: resume ? { ...headers, [RESUME_SECRET_HEADER]: resume.secret } : headers,
        signal,
      });
    } catch {
      if (signal?.aborted) throw signal.reason;
      throw new ValetUploadError(
        "network",
        "Could not reach the upload service. Check your connection and try again.",
      );
    }
    const body: unknown = await response.json().catch(() => undefined);
    return { response, body };
  }
}

function isCredentials(body: unknown): body is Credentials {
  if (typeof body !== "object" || body === null) return false;
  const value = body as Record<string, unknown>;
  const text = (key: string) => typeof value[key] === "string" && value[key] !== "";
  return (
    text("sasKey") &&
    text("url") &&
    text("container") &&
    text("expiresOn") &&
    !Number.isNaN(Date.parse(value.expiresOn as string)) &&
    (value.blobUrl === undefined || (text("blobUrl") && text("blobName")))
  );
}

/**
 * The endpoint chooses the blob name; only a container token leaves it to the page: a random id and the
 * extension the client is given for the file's type, as the function would name it.
 */
export function targetOf(
  credentials: Credentials,
  file: FileFacts,
  extensions: Readonly<Record<string, string>>,
): UploadTarget {
  const expiresOn = new Date(credentials.expiresOn);
  if ("blobUrl" in credentials) {
    return {
      blobName: credentials.blobName,
      blobUrl: credentials.blobUrl,
      sasKey: credentials.sasKey,
      expiresOn,
      perUpload: true,
      ...(typeof credentials.owner === "string" && { owner: credentials.owner }),
      ...(credentials.resumeSecret &&
        credentials.resumableUntil && {
          resume: { secret: credentials.resumeSecret, until: new Date(credentials.resumableUntil) },
        }),
    };
  }
  const blobName = `${randomId()}.${extensions[file.type.toLowerCase()] ?? "bin"}`;
  return {
    blobName,
    blobUrl: `${credentials.url}/${encodeURIComponent(credentials.container)}/${blobName}`,
    sasKey: credentials.sasKey,
    expiresOn,
    perUpload: false,
  };
}

function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
