// The uploader: one call per file, `upload(file)`, resolving once valet's check has a verdict. Inside, files
// wait their turn (a bounded number of requests in flight), tokens are fetched ahead for the next small files,
// large files go in blocks recorded as they land (so a lost connection or a reload sends only what storage
// lacks), a lost network is waited out, a refused token is replaced once, a 429 is waited out, the human
// check is passed through the caller's solver, and every request to the function carries the caller's
// bearer token. No DOM rendering: what a page shows comes from the callbacks.

import { type AccessTokenHook, fetchWithToken, readUrlOf } from "./bearer.js";
import { goesInBlocks, requestsInFlight, type StagedBlocks, uploadTo } from "./blockUpload.js";
import { type PollTiming, pollCheckStatus, type Rendition, renditionUrl } from "./checkStatus.js";
import { browserConnectivity, type Connectivity, whileOnline } from "./connectivity.js";
import { describeUploadError, isExpiryRefusal, isTokenRefusal, ValetUploadError } from "./errors.js";
import { HumanPassKeeper, type Solve } from "./humanPass.js";
import type { UploadTarget } from "./types.js";
import { UploadQueue } from "./uploadQueue.js";
import {
  indexedDbStore,
  MemoryRecordStore,
  type RecordStore,
  stagedShare,
  type UploadRecord,
  UploadRecords,
  withStaged,
} from "./uploadRecords.js";
import { REFRESH_MARGIN_MS, ResumeRefusedError, TokenSource } from "./uploadTokens.js";

/** Blocks of 4 MiB, four in flight per file: what the page has always used. */
const DEFAULT_BLOCK_SIZE_BYTES = 4 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;
/**
 * Upload requests in flight at once, over all files: as many as two large files of four blocks each. Small
 * files send one request each, so up to this many of them run together and one file's token request and
 * CORS preflight overlap other files' bytes instead of leaving the link idle.
 */
const DEFAULT_REQUESTS_IN_FLIGHT = 8;
/**
 * Pauses before trying an upload again when storage or the endpoint cannot be reached although the browser
 * says it is online: 1, 2, 4 … seconds, at most 30, about five minutes in all before the caller is told.
 */
const NETWORK_RETRIES = 12;
const MAX_NETWORK_RETRY_DELAY_MS = 30_000;

export interface UploaderOptions {
  /** The SAS endpoint, e.g. `https://<app>.azurewebsites.net/api/credentials`. */
  readonly apiUrl: string;
  /** With sign-in: the signed-in user's access token, asked for before every request to the function. */
  readonly getAccessToken?: AccessTokenHook;
  /** With the human check: solves one challenge (Turnstile's widget, say) and returns its token. */
  readonly solveHumanCheck?: Solve;
  /** Block size of a block upload (4 MiB); a file up to one block goes in a single Put Blob. */
  readonly blockSizeBytes?: number;
  /** Blocks of one file in flight at once (4). */
  readonly concurrency?: number;
  /** Upload requests in flight over all files (8); the rest wait their turn, in order. */
  readonly maxRequestsInFlight?: number;
  /** For an endpoint that issues container tokens only: the extension of a blob the client names, by type. */
  readonly extensions?: Readonly<Record<string, string>>;
  /** Where block uploads are recorded for resuming: IndexedDB by default, memory where there is none. */
  readonly recordStore?: RecordStore;
  /** The network's state: the browser's (`navigator.onLine` and the window's events) by default. */
  readonly connectivity?: Connectivity;
  /** How the status endpoint is asked for the check's verdict (1, 2, 4, 8 s, then every 10 s, 12 times). */
  readonly checkTiming?: PollTiming;
}

/** Where an upload is, for a page to say so. */
export type UploadStatus =
  /** Waiting for its turn. */
  | { readonly kind: "waiting" }
  /** Sending bytes; `resumes` names the blob of an upload a previous visit left unfinished. */
  | { readonly kind: "uploading"; readonly resumes?: string }
  /** The browser is offline: it goes on by itself once it is back. */
  | { readonly kind: "offline" }
  /** Storage or the endpoint could not be reached: trying again after `delayMs`. */
  | { readonly kind: "reconnecting"; readonly delayMs: number }
  /** The endpoint asked to slow down (429): waiting `seconds`, with its words. */
  | { readonly kind: "slowed-down"; readonly seconds: number; readonly message: string }
  /** Storage refused the token (`expired` or not): a new one is on its way. */
  | { readonly kind: "token-replaced"; readonly expired: boolean }
  /** Stored as `blobName`; valet's check of it has begun. */
  | { readonly kind: "stored"; readonly blobName: string };

export interface UploadOptions {
  /** Cancels the upload: a waiting file never starts, a running one is aborted before its commit. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: { readonly bytesUploaded: number; readonly bytesTotal: number }) => void;
  readonly onStatus?: (status: UploadStatus) => void;
}

/** A stored upload and valet's check of it; a rejection is thrown (ValetUploadError, kind `rejected`). */
export interface UploadResult {
  readonly blobName: string;
  /** `accepted`, or, when the check gave no verdict in time, `pending` or `unconfirmed` (with `problem`). */
  readonly state: "accepted" | "pending" | "unconfirmed";
  /** The verified blob's URL, when accepted. */
  readonly url?: string;
  /** What valet made of an accepted photo; read each at `renditionUrl(name)`. */
  readonly renditions: readonly Rendition[];
  readonly problem?: string;
}

/** An upload a previous visit left unfinished: choosing its file again sends only what is missing. */
export interface UnfinishedUpload {
  readonly blobName: string;
  readonly fileName: string;
  readonly size: number;
  /** The share of its bytes already stored, 0 to 1. */
  readonly sentShare: number;
}

export interface Uploader {
  /** Uploads one file; resolves once valet's check has answered, or rejects with a ValetUploadError. */
  upload(file: File, options?: UploadOptions): Promise<UploadResult>;
  /** Block uploads a previous visit left unfinished and still resumable, oldest first. */
  unfinished(): Promise<UnfinishedUpload[]>;
  /** Forgets an unfinished upload. */
  discard(blobName: string): Promise<void>;
  /** Signed in: a short-lived URL reading the owner's verified upload, or undefined. */
  readUrl(blobName: string): Promise<string | undefined>;
  /** Where a rendition the result lists is served. */
  renditionUrl(name: string): string;
  /** Uploads waiting or sending bytes now. */
  readonly active: number;
}

/** What one file's tries share, kept per file so that trying the same File again reuses it. */
interface FileState {
  /** What is recorded of its block upload, once it has one: what a later try resumes. */
  record?: UploadRecord;
  /** The per-upload token of the last try (or fetched ahead), used by the next try while it lives. */
  target?: UploadTarget;
}

interface Job {
  readonly file: File;
  readonly options: UploadOptions;
  readonly state: FileState;
  /** The token being fetched ahead while the file waits its turn (settles without failing). */
  fetchedAhead?: Promise<void>;
  /** Aborts the token fetched ahead when the file is cancelled while it waits. */
  readonly ahead: AbortController;
  readonly resolve: (blobName: string) => void;
  readonly reject: (error: unknown) => void;
}

export function createUploader(options: UploaderOptions): Uploader {
  const apiUrl = options.apiUrl;
  const blockSizeBytes = options.blockSizeBytes ?? DEFAULT_BLOCK_SIZE_BYTES;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const limit = options.maxRequestsInFlight ?? DEFAULT_REQUESTS_IN_FLIGHT;
  const authorizedFetch = fetchWithToken(options.getAccessToken);
  const tokens = new TokenSource(
    { apiUrl, extensions: options.extensions ?? {} },
    undefined,
    authorizedFetch,
    undefined,
    options.solveHumanCheck ? new HumanPassKeeper(options.solveHumanCheck) : undefined,
  );
  const connectivity = options.connectivity ?? browserConnectivity();
  // Without IndexedDB (some private modes) an upload still resumes after a lost connection, not a reload.
  const records = new UploadRecords(
    options.recordStore ?? (typeof indexedDB === "undefined" ? new MemoryRecordStore() : indexedDbStore()),
  );
  const states = new WeakMap<Blob, FileState>();
  const tell = (job: Job, status: UploadStatus) => job.options.onStatus?.(status);

  const queue = new UploadQueue<Job>(
    limit,
    (job, signal) => {
      fetchAhead();
      return run(job, signal);
    },
    (job) => requestsInFlight(job.file.size, { blockSizeBytes, concurrency }),
  );

  /**
   * Asks for the tokens of files waiting their turn, as many as can start at once. Only files of one block:
   * a larger file's round trip is small against its upload time, and it may have a record to resume from. A
   * failure here is no failure of the file: its own try asks again.
   */
  function fetchAhead(): void {
    for (const job of queue.upcoming(limit)) {
      if (job.fetchedAhead || job.state.target || job.file.size > blockSizeBytes) continue;
      job.fetchedAhead = tokens
        .targetFor(job.file, job.ahead.signal, (seconds, message) =>
          tell(job, { kind: "slowed-down", seconds, message }),
        )
        .then(
          (target) => {
            job.state.target ??= target;
          },
          () => undefined,
        );
    }
  }

  async function run(job: Job, signal: AbortSignal): Promise<void> {
    try {
      // A file chosen again that a previous visit left unfinished goes on from its record. Each record keeps
      // the block size its upload was cut with, which may not be this one any more, so every file looks.
      job.state.record ??= await records.find(job.file).catch(() => undefined);
      const blobName = await whileOnline((attemptSignal) => tryUpload(job, attemptSignal), {
        signal,
        connectivity,
        onWaiting: () => tell(job, { kind: "offline" }),
        retryDelay: networkRetryDelay,
        onRetrying: (delayMs) => tell(job, { kind: "reconnecting", delayMs }),
      });
      forget(job.state);
      job.resolve(blobName);
    } catch (error) {
      if (signal.aborted) {
        forget(job.state);
        job.reject(job.options.signal?.reason ?? signal.reason);
      } else job.reject(asFailure(error));
    }
  }

  /** Nothing left to resume: the record goes (a failure to delete it only leaves it to expire). */
  function forget(state: FileState): void {
    if (state.record) void records.remove(state.record.blobName).catch(() => undefined);
    state.record = undefined;
    state.target = undefined;
  }

  /**
   * One try at the upload: a token (the last one while it lives, a resumed one for a recorded upload, else a
   * fresh one), then the bytes storage does not hold yet; a token storage refuses is replaced once,
   * transparently. Resolves with the blob's name.
   */
  async function tryUpload(job: Job, signal: AbortSignal): Promise<string> {
    const { file, state } = job;
    tell(job, { kind: "uploading", ...(state.record && { resumes: state.record.blobName }) });
    for (let tokenTry = 1; ; tokenTry++) {
      let target: UploadTarget | undefined;
      try {
        const outcome = await targetFor(job, signal);
        if (outcome.kind === "finished") return outcome.blobName;
        target = outcome.target;
        state.target = target;
        if (!state.record && target.resume && goesInBlocks(target, file.size, blockSizeBytes)) {
          state.record = await records
            .start(
              {
                blobName: target.blobName,
                blobUrl: target.blobUrl,
                resumeSecret: target.resume.secret,
                resumableUntil: target.resume.until.getTime(),
                file: { name: file.name, size: file.size, lastModified: file.lastModified, type: file.type },
                blockSizeBytes,
              },
              file,
            )
            .catch(() => undefined);
        }
        await uploadTo(
          target,
          file,
          {
            contentType: file.type,
            blockSizeBytes: state.record?.blockSizeBytes ?? blockSizeBytes,
            concurrency,
            onProgress: (loaded) =>
              job.options.onProgress?.({ bytesUploaded: loaded, bytesTotal: file.size }),
            abortSignal: signal,
          },
          stagedBlocksOf(state),
        );
        return target.blobName;
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (target && isTokenRefusal(error)) {
          tokens.discard(target);
          state.target = undefined;
          if (tokenTry === 1) {
            tell(job, { kind: "token-replaced", expired: isExpiryRefusal(error, target) });
            continue;
          }
        }
        throw error instanceof ValetUploadError || !target
          ? asFailure(error)
          : await describeUploadError(error, target);
      }
    }
  }

  /**
   * Where this try uploads: the last per-upload token while it has time to live, a fresh token for the
   * recorded blob, or a fresh upload. A recorded upload the endpoint will not resume starts afresh, unless it
   * is finished (its blob is stored): then there is nothing left to send.
   */
  async function targetFor(
    job: Job,
    signal: AbortSignal,
  ): Promise<{ kind: "upload"; target: UploadTarget } | { kind: "finished"; blobName: string }> {
    await job.fetchedAhead;
    const { state } = job;
    // Only a per-upload token: a container token's blob name is the client's, and a create-only token cannot
    // write a name again should the lost try have stored it after all.
    // A token fetched ahead for a file that then turned out to have a record names another blob: unused.
    const last = state.target;
    const forRecord = !state.record || last?.blobName === state.record.blobName;
    if (last?.perUpload && forRecord && last.expiresOn.getTime() - Date.now() > REFRESH_MARGIN_MS) {
      return { kind: "upload", target: last };
    }
    const onWait = (seconds: number, message: string) => tell(job, { kind: "slowed-down", seconds, message });
    const record = state.record;
    if (record) {
      try {
        const target = await tokens.resumeTargetFor(
          job.file,
          { blobName: record.blobName, secret: record.resumeSecret },
          signal,
          onWait,
        );
        tell(job, { kind: "uploading", resumes: record.blobName });
        return { kind: "upload", target };
      } catch (error) {
        if (!(error instanceof ResumeRefusedError)) throw error;
        forget(state);
        if (error.reason === "finished") return { kind: "finished", blobName: record.blobName };
      }
    }
    const target = await tokens.targetFor(job.file, signal, onWait);
    tell(job, { kind: "uploading" });
    return { kind: "upload", target };
  }

  /** The blocks recorded as staged; each block staged is recorded as it lands. */
  function stagedBlocksOf(state: FileState): StagedBlocks {
    const save = (record: UploadRecord) => {
      state.record = record;
      // A record that cannot be written costs only the resume after a reload, never the upload itself.
      void records.save(record).catch(() => undefined);
    };
    return {
      staged: new Set(state.record?.staged ?? []),
      onStaged: (index) => {
        if (state.record) save(withStaged(state.record, index));
      },
      onLost: () => {
        if (state.record) save({ ...state.record, staged: [] });
      },
    };
  }

  /** The bytes, once it is this file's turn; rejects with the signal's reason when cancelled. */
  function store(file: File, options: UploadOptions): Promise<string> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let state = states.get(file);
    if (!state) {
      state = {};
      states.set(file, state);
    }
    const fileState = state;
    return new Promise<string>((resolve, reject) => {
      const cancel = () => {
        // A running upload is settled by run() once its requests have stopped.
        if (queue.cancel(job) === "waiting") {
          job.ahead.abort();
          job.reject(signal?.reason);
        }
      };
      const job: Job = {
        file,
        options,
        state: fileState,
        ahead: new AbortController(),
        resolve: (blobName) => {
          signal?.removeEventListener("abort", cancel);
          resolve(blobName);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", cancel);
          reject(error);
        },
      };
      signal?.addEventListener("abort", cancel, { once: true });
      tell(job, { kind: "waiting" });
      queue.add(job);
      fetchAhead();
    });
  }

  return {
    async upload(file, uploadOptions = {}) {
      const blobName = await store(file, uploadOptions);
      uploadOptions.onStatus?.({ kind: "stored", blobName });
      // Stored is not yet usable: valet checks the bytes first.
      const status = await pollCheckStatus(apiUrl, blobName, {
        fetchImpl: authorizedFetch,
        ...(options.checkTiming && { timing: options.checkTiming }),
        ...(uploadOptions.signal && { signal: uploadOptions.signal }),
      });
      switch (status.state) {
        case "accepted":
          return { blobName, state: "accepted", url: status.url, renditions: status.renditions };
        case "rejected":
          throw new ValetUploadError("rejected", `Rejected: ${status.reason}`, false, {
            reason: status.reason,
            blobName,
          });
        case "pending":
          return { blobName, state: "pending", renditions: [] };
        case "unconfirmed":
          return { blobName, state: "unconfirmed", renditions: [], problem: status.problem };
      }
    },
    async unfinished() {
      return (await records.unfinished()).map((record) => ({
        blobName: record.blobName,
        fileName: record.file.name,
        size: record.file.size,
        sentShare: stagedShare(record),
      }));
    },
    discard: (blobName) => records.remove(blobName),
    readUrl: (blobName) => readUrlOf(apiUrl, blobName, authorizedFetch),
    renditionUrl: (name) => renditionUrl(apiUrl, name),
    get active() {
      return queue.active + queue.queued;
    },
  };
}

/** A lost connection (while the browser says it is online) is tried again after a growing pause. */
function networkRetryDelay(error: unknown, retry: number): number | undefined {
  if (!(error instanceof ValetUploadError && error.kind === "network") || retry >= NETWORK_RETRIES)
    return undefined;
  return Math.min(MAX_NETWORK_RETRY_DELAY_MS, 1000 * 2 ** retry);
}

function asFailure(error: unknown): ValetUploadError {
  return error instanceof ValetUploadError
    ? error
    : new ValetUploadError("unknown", `The upload failed: ${(error as Error)?.message ?? String(error)}`);
}
