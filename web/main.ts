// The upload page: reads config.json, lets a person pick or drop images, and uploads each one straight
// to Blob Storage with its own token, showing progress, a Cancel button and a plain-language outcome per
// file. While the browser is offline, uploads wait and carry on once it is back; a large file's upload is
// recorded as it goes, so that after a lost connection or a reload it sends only what storage lacks.
import { goesInBlocks, requestsInFlight, type StagedBlocks, uploadTo } from "./blockUpload";
import { checkFile } from "./checks";
import { CONFIG_FILE, type PageConfig, parsePageConfig } from "./config";
import { browserConnectivity, type Connectivity, whileOnline } from "./connectivity";
import { describeUploadError, isExpiryRefusal, isTokenRefusal, UploadFailure } from "./failures";
import { formatBytes, formatWait, listTypes } from "./format";
import { HumanCheck, turnstileSolver } from "./humanCheck";
import { UploadQueue } from "./queue";
import {
  addRow,
  cancelled,
  fail,
  setState,
  showDone,
  showPreview,
  showProgress,
  type UploadRow,
} from "./row";
import { accessTokenHook, fetchWithToken, readUrlOf } from "./signIn";
import { REFRESH_MARGIN_MS, ResumeRefusedError, TokenSource } from "./tokens";
import type { UploadTarget } from "./types";
import {
  indexedDbStore,
  MemoryRecordStore,
  stagedShare,
  type UploadRecord,
  UploadRecords,
  withStaged,
} from "./uploadRecords";
import { followVerification, verificationLine } from "./verification";

/**
 * Upload requests in flight at once, over all files: as many as two large files of four blocks each. Small
 * files send one request each, so up to this many of them run together and one file's token request and
 * CORS preflight overlap other files' bytes instead of leaving the link idle.
 */
const MAX_REQUESTS_IN_FLIGHT = 8;
/**
 * Files next in line whose tokens are asked for while earlier files upload, so that their bytes start as
 * soon as they do instead of a round trip later. As many as can start at once; a token lives minutes, far
 * longer than one round of files takes.
 */
const TOKENS_AHEAD = MAX_REQUESTS_IN_FLIGHT;
/**
 * Pauses before trying an upload again when storage or the endpoint cannot be reached although the browser
 * says it is online: 1, 2, 4 … seconds, at most 30, about five minutes in all before the person is asked.
 */
const NETWORK_RETRIES = 12;
const MAX_NETWORK_RETRY_DELAY_MS = 30_000;

/** A file's upload: its row, and what a later try reuses. */
interface Upload extends UploadRow {
  /** What is recorded of its block upload, once it has one: what a later try resumes. */
  record?: UploadRecord;
  /** The per-upload token of the last try (or fetched ahead), used by the next try while it lives. */
  target?: UploadTarget;
  /** The token being fetched ahead while the file waits its turn (settles without failing). */
  fetchedAhead?: Promise<void>;
  /** Aborts the token fetched ahead when the file is cancelled while it waits. */
  readonly ahead: AbortController;
}

/** Everything a file's upload needs beside the file. */
interface Uploader {
  readonly config: PageConfig;
  /** fetch with the signed-in user's bearer token, for every request to the function. */
  readonly authorizedFetch: typeof fetch;
  readonly tokens: TokenSource;
  readonly connectivity: Connectivity;
  readonly records: UploadRecords;
}

const elements = {
  input: byId<HTMLInputElement>("file-input"),
  dropZone: byId<HTMLDivElement>("drop-zone"),
  limits: byId<HTMLParagraphElement>("limits"),
  pageError: byId<HTMLParagraphElement>("page-error"),
  heading: byId<HTMLHeadingElement>("uploads-heading"),
  list: byId<HTMLUListElement>("uploads"),
  announcer: byId<HTMLDivElement>("announcer"),
  humanCheck: byId<HTMLDivElement>("human-check"),
  unfinished: byId<HTMLElement>("unfinished"),
  unfinishedList: byId<HTMLUListElement>("unfinished-list"),
};

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`The page is missing #${id}.`);
  return element as T;
}

async function start(): Promise<void> {
  let config: PageConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    elements.limits.textContent = "Uploads are not available.";
    showPageError(`The page could not load its settings (config.json): ${(error as Error).message}`);
    return;
  }
  const humanCheck = config.turnstileSiteKey
    ? new HumanCheck(turnstileSolver(config.turnstileSiteKey, elements.humanCheck, config.turnstileScriptUrl))
    : undefined;
  // Every request to the function carries the signed-in user's token, when the page has a hook for one.
  const authorizedFetch = fetchWithToken(accessTokenHook(config.signInStandInTokenUrl));
  const uploader: Uploader = {
    config,
    authorizedFetch,
    tokens: new TokenSource(config, undefined, authorizedFetch, undefined, humanCheck),
    connectivity: browserConnectivity(),
    // Without IndexedDB (some private modes) an upload still resumes after a lost connection, not a reload.
    records: new UploadRecords(typeof indexedDB === "undefined" ? new MemoryRecordStore() : indexedDbStore()),
  };
  const queue = new UploadQueue<Upload>(
    MAX_REQUESTS_IN_FLIGHT,
    (upload, signal) => {
      fetchAhead(queue.upcoming(TOKENS_AHEAD), uploader);
      return run(upload, signal, uploader);
    },
    (upload) => requestsInFlight(upload.file.size, config),
  );
  // Not awaited: storage that is slow to open must not hold up new uploads.
  void showUnfinished(uploader.records);
  elements.limits.textContent = `${listTypes(config.allowedContentTypes)} images, up to ${formatBytes(config.maxUploadBytes)} each.`;
  elements.input.accept = config.allowedContentTypes.join(",");
  elements.input.disabled = false;

  const add = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) enqueue(file, config, queue);
    fetchAhead(queue.upcoming(TOKENS_AHEAD), uploader);
  };
  elements.input.addEventListener("change", () => {
    add(elements.input.files);
    // Choosing the same file again should add it again.
    elements.input.value = "";
  });
  elements.dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    elements.dropZone.classList.add("dragging");
  });
  elements.dropZone.addEventListener("dragleave", () => elements.dropZone.classList.remove("dragging"));
  elements.dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    elements.dropZone.classList.remove("dragging");
    add(event.dataTransfer?.files ?? null);
  });
  // A file dropped next to the zone must not make the browser navigate away from running uploads.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  window.addEventListener("beforeunload", (event) => {
    // Files wait only while others run, so this counts them too.
    if (queue.active > 0) event.preventDefault();
  });
}

/** The uploads a previous visit left unfinished, for the person to choose again (or discard). */
async function showUnfinished(records: UploadRecords): Promise<void> {
  let unfinished: UploadRecord[];
  try {
    unfinished = await records.unfinished();
  } catch {
    return; // Storage the page may not use: nothing to resume, and nothing to stop new uploads.
  }
  for (const record of unfinished) {
    const item = document.createElement("li");
    item.dataset.blobName = record.blobName;
    const text = document.createElement("span");
    text.className = "unfinished-name";
    text.textContent = record.file.name;
    const facts = document.createElement("span");
    facts.textContent = ` (${formatBytes(record.file.size)}, ${Math.floor(stagedShare(record) * 100)}% sent)`;
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "discard";
    discard.textContent = "Discard";
    discard.setAttribute("aria-label", `Discard the unfinished upload of ${record.file.name}`);
    discard.addEventListener("click", () => {
      void records.remove(record.blobName).catch(() => undefined);
      hideUnfinished(record.blobName);
    });
    item.append(text, facts, discard);
    elements.unfinishedList.append(item);
  }
  elements.unfinished.hidden = unfinished.length === 0;
}

function hideUnfinished(blobName: string): void {
  for (const item of elements.unfinishedList.querySelectorAll("li")) {
    if (item.dataset.blobName === blobName) item.remove();
  }
  elements.unfinished.hidden = elements.unfinishedList.childElementCount === 0;
}

async function loadConfig(): Promise<PageConfig> {
  const response = await fetch(CONFIG_FILE, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the server answered ${response.status}.`);
  return parsePageConfig(await response.json());
}

function enqueue(file: File, config: PageConfig, queue: UploadQueue<Upload>): void {
  const upload: Upload = { ...addRow(elements.list, file, announce), ahead: new AbortController() };
  elements.heading.hidden = false;
  const problem = checkFile(file, config);
  if (problem) {
    fail(upload, problem);
    return;
  }
  upload.retry.addEventListener("click", () => {
    upload.retry.hidden = true;
    schedule(upload, queue);
  });
  upload.cancel.addEventListener("click", () => {
    // A running upload is settled by run() once its requests have stopped.
    if (queue.cancel(upload) === "waiting") {
      upload.ahead.abort();
      cancelled(upload);
    }
  });
  schedule(upload, queue);
}

function schedule(upload: Upload, queue: UploadQueue<Upload>): void {
  setState(upload, "waiting", "Waiting…");
  upload.progress.value = 0;
  upload.announced = 0;
  upload.cancel.hidden = false;
  queue.add(upload);
}

async function run(upload: Upload, signal: AbortSignal, uploader: Uploader): Promise<void> {
  announce(`${upload.file.name}: uploading.`);
  try {
    // A file chosen again that a previous visit left unfinished goes on from its record. Each record keeps
    // the block size its upload was cut with, which may not be this page's any more, so every file looks.
    upload.record ??= await uploader.records.find(upload.file).catch(() => undefined);
    if (upload.record) hideUnfinished(upload.record.blobName);
    const blobName = await whileOnline((attemptSignal) => tryUpload(upload, attemptSignal, uploader), {
      signal,
      connectivity: uploader.connectivity,
      onWaiting: () => setState(upload, "waiting", "Offline: waiting for the network to come back…"),
      retryDelay: networkRetryDelay,
      onRetrying: (delayMs) =>
        setState(
          upload,
          "waiting",
          `The connection was lost; trying again in ${formatWait(Math.ceil(delayMs / 1000))}…`,
        ),
    });
    forget(upload, uploader.records);
    succeed(upload, blobName, uploader.config.apiUrl, uploader.authorizedFetch);
  } catch (error) {
    if (signal.aborted) {
      forget(upload, uploader.records);
      cancelled(upload);
    } else fail(upload, asFailure(error));
  }
}

/**
 * Asks for the tokens of files waiting their turn. Only files of one block: a larger file's round trip is
 * small against its upload time, and it may have a record to resume from. A failure here is no failure of
 * the file: its own try asks again.
 */
function fetchAhead(waiting: Upload[], uploader: Uploader): void {
  for (const upload of waiting) {
    if (upload.fetchedAhead || upload.target || upload.file.size > uploader.config.blockSizeBytes) continue;
    upload.fetchedAhead = uploader.tokens
      .targetFor(upload.file, upload.ahead.signal, (seconds) =>
        setState(
          upload,
          "waiting",
          `The upload service asked to wait; trying again in ${formatWait(seconds)}…`,
        ),
      )
      .then(
        (target) => {
          upload.target ??= target;
        },
        () => undefined,
      );
  }
}

/** A lost connection (while the browser says it is online) is tried again after a growing pause. */
function networkRetryDelay(error: unknown, retry: number): number | undefined {
  if (!(error instanceof UploadFailure && error.kind === "network") || retry >= NETWORK_RETRIES)
    return undefined;
  return Math.min(MAX_NETWORK_RETRY_DELAY_MS, 1000 * 2 ** retry);
}

/** Nothing left to resume: the record goes (a failure to delete it only leaves it to expire). */
function forget(upload: Upload, records: UploadRecords): void {
  if (upload.record) void records.remove(upload.record.blobName).catch(() => undefined);
  upload.record = undefined;
  upload.target = undefined;
}

/**
 * One try at the upload: a token (the last one while it lives, a resumed one for a recorded upload, else a
 * fresh one), then the bytes storage does not hold yet; a token storage refuses is replaced once,
 * transparently. Resolves with the blob's name.
 */
async function tryUpload(upload: Upload, signal: AbortSignal, uploader: Uploader): Promise<string> {
  const { config, records } = uploader;
  setState(upload, "uploading", upload.record ? "Resuming…" : "Uploading…");
  for (let tokenTry = 1; ; tokenTry++) {
    let target: UploadTarget | undefined;
    try {
      const outcome = await targetFor(upload, signal, uploader);
      if (outcome.kind === "finished") return outcome.blobName;
      target = outcome.target;
      upload.target = target;
      const { file } = upload;
      if (!upload.record && target.resume && goesInBlocks(target, file.size, config.blockSizeBytes)) {
        upload.record = await records
          .start(
            {
              blobName: target.blobName,
              blobUrl: target.blobUrl,
              resumeSecret: target.resume.secret,
              resumableUntil: target.resume.until.getTime(),
              file: { name: file.name, size: file.size, lastModified: file.lastModified, type: file.type },
              blockSizeBytes: config.blockSizeBytes,
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
          blockSizeBytes: upload.record?.blockSizeBytes ?? config.blockSizeBytes,
          concurrency: config.concurrency,
          onProgress: (loaded) => showProgress(upload, loaded),
          abortSignal: signal,
        },
        stagedBlocksOf(upload, records),
      );
      return target.blobName;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (target && isTokenRefusal(error)) {
        uploader.tokens.discard(target);
        upload.target = undefined;
        if (tokenTry === 1) {
          const reason = isExpiryRefusal(error, target) ? "expired" : "was refused";
          setState(upload, "uploading", `The upload token ${reason}; getting a new one…`);
          continue;
        }
      }
      throw error instanceof UploadFailure || !target
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
  upload: Upload,
  signal: AbortSignal,
  uploader: Uploader,
): Promise<{ kind: "upload"; target: UploadTarget } | { kind: "finished"; blobName: string }> {
  await upload.fetchedAhead;
  // Only a per-upload token: a container token's blob name is the page's, and a create-only token cannot
  // write a name again should the lost try have stored it after all.
  // A token fetched ahead for a file that then turned out to have a record names another blob: unused.
  const last = upload.target;
  const forRecord = !upload.record || last?.blobName === upload.record.blobName;
  if (last?.perUpload && forRecord && last.expiresOn.getTime() - Date.now() > REFRESH_MARGIN_MS) {
    return { kind: "upload", target: last };
  }
  const onWait = (seconds: number) =>
    setState(upload, "waiting", `The upload service asked to wait; trying again in ${formatWait(seconds)}…`);
  const record = upload.record;
  if (record) {
    try {
      const target = await uploader.tokens.resumeTargetFor(
        upload.file,
        { blobName: record.blobName, secret: record.resumeSecret },
        signal,
        onWait,
      );
      setState(upload, "uploading", "Resuming…");
      return { kind: "upload", target };
    } catch (error) {
      if (!(error instanceof ResumeRefusedError)) throw error;
      forget(upload, uploader.records);
      if (error.reason === "finished") return { kind: "finished", blobName: record.blobName };
    }
  }
  const target = await uploader.tokens.targetFor(upload.file, signal, onWait);
  setState(upload, "uploading", "Uploading…");
  return { kind: "upload", target };
}

/** The blocks recorded as staged; each block staged is recorded as it lands. */
function stagedBlocksOf(upload: Upload, records: UploadRecords): StagedBlocks {
  const save = (record: UploadRecord) => {
    upload.record = record;
    // A record that cannot be written costs only the resume after a reload, never the upload itself.
    void records.save(record).catch(() => undefined);
  };
  return {
    staged: new Set(upload.record?.staged ?? []),
    onStaged: (index) => {
      if (upload.record) save(withStaged(upload.record, index));
    },
    onLost: () => {
      if (upload.record) save({ ...upload.record, staged: [] });
    },
  };
}

function asFailure(error: unknown): UploadFailure {
  return error instanceof UploadFailure
    ? error
    : new UploadFailure("unknown", `The upload failed: ${(error as Error)?.message ?? String(error)}`);
}

function succeed(upload: Upload, blobName: string, apiUrl: string, authorizedFetch: typeof fetch): void {
  showDone(upload, blobName);
  // Stored is not yet usable: valet checks the bytes, and the row follows that check.
  // Signed in, a name starts with its owner, and the owner's photo comes through a read URL (below); anonymous,
  // the row shows the thumbnail from the renditions endpoint.
  const signedIn = blobName.includes("/");
  const show = verificationLine(
    upload.row,
    (message) => announce(`${upload.file.name}: ${message}`),
    signedIn ? "" : apiUrl,
    upload.file.name,
  );
  void followVerification(apiUrl, blobName, show, { fetchImpl: authorizedFetch }).then(async ({ state }) => {
    // Signed in, the owner may see the accepted photo, through a read URL that lasts minutes.
    if (state !== "verified" || !signedIn) return;
    const url = await readUrlOf(apiUrl, blobName, authorizedFetch);
    if (!url) return;
    showPreview(upload, url);
  });
}

function announce(message: string): void {
  elements.announcer.textContent = message;
}

function showPageError(message: string): void {
  elements.pageError.textContent = message;
  elements.pageError.hidden = false;
}

void start();
