// The upload page: reads config.json, lets a person pick or drop images, and uploads each one straight
// to Blob Storage with its own token, showing progress, a Cancel button and a plain-language outcome per
// file. While the browser is offline, uploads wait and carry on once it is back.
import { requestsInFlight, uploadTo } from "./blockUpload";
import { checkFile } from "./checks";
import { CONFIG_FILE, type PageConfig, parsePageConfig } from "./config";
import { browserConnectivity, type Connectivity, whileOnline } from "./connectivity";
import { describeUploadError, isExpiryRefusal, isTokenRefusal, UploadFailure } from "./failures";
import { formatBytes, formatWait, listTypes } from "./format";
import { HumanCheck, turnstileSolver } from "./humanCheck";
import { UploadQueue } from "./queue";
import { TokenSource, type UploadTarget } from "./tokens";
import { followVerification, verificationLine } from "./verification";

/**
 * Upload requests in flight at once, over all files: as many as two large files of four blocks each. Small
 * files send one request each, so up to this many of them run together and one file's token request and
 * CORS preflight overlap other files' bytes instead of leaving the link idle.
 */
const MAX_REQUESTS_IN_FLIGHT = 8;

interface Upload {
  readonly file: File;
  readonly row: HTMLLIElement;
  readonly progress: HTMLProgressElement;
  readonly status: HTMLParagraphElement;
  readonly retry: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
  /** The last progress milestone announced (0, 25, 50, 75). */
  announced: number;
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
  const tokens = new TokenSource(config, undefined, undefined, undefined, humanCheck);
  const connectivity = browserConnectivity();
  const queue = new UploadQueue<Upload>(
    MAX_REQUESTS_IN_FLIGHT,
    (upload, signal) => run(upload, signal, config, tokens, connectivity),
    (upload) => requestsInFlight(upload.file.size, config),
  );
  elements.limits.textContent = `${listTypes(config.allowedContentTypes)} images, up to ${formatBytes(config.maxUploadBytes)} each.`;
  elements.input.accept = config.allowedContentTypes.join(",");
  elements.input.disabled = false;

  const add = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) enqueue(file, config, queue);
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

async function loadConfig(): Promise<PageConfig> {
  const response = await fetch(CONFIG_FILE, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the server answered ${response.status}.`);
  return parsePageConfig(await response.json());
}

function enqueue(file: File, config: PageConfig, queue: UploadQueue<Upload>): void {
  const upload = addRow(file);
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
    if (queue.cancel(upload) === "waiting") cancelled(upload);
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

async function run(
  upload: Upload,
  signal: AbortSignal,
  config: PageConfig,
  tokens: TokenSource,
  connectivity: Connectivity,
): Promise<void> {
  announce(`${upload.file.name}: uploading.`);
  try {
    const target = await whileOnline((attemptSignal) => tryUpload(upload, attemptSignal, config, tokens), {
      signal,
      connectivity,
      onWaiting: () => setState(upload, "waiting", "Offline: waiting for the network to come back…"),
    });
    succeed(upload, target, config.apiUrl);
  } catch (error) {
    if (signal.aborted) cancelled(upload);
    else fail(upload, asFailure(error));
  }
}

/** One try at the upload: a fresh token, then the bytes; a token storage refuses is replaced once, transparently. */
async function tryUpload(
  upload: Upload,
  signal: AbortSignal,
  config: PageConfig,
  tokens: TokenSource,
): Promise<UploadTarget> {
  setState(upload, "uploading", "Uploading…");
  for (let tokenTry = 1; ; tokenTry++) {
    let target: UploadTarget | undefined;
    try {
      let waited = false;
      target = await tokens.targetFor(upload.file, signal, (seconds) => {
        waited = true;
        setState(
          upload,
          "waiting",
          `The upload service asked to wait; trying again in ${formatWait(seconds)}…`,
        );
      });
      if (waited) setState(upload, "uploading", "Uploading…");
      await uploadTo(target, upload.file, {
        contentType: upload.file.type,
        blockSizeBytes: config.blockSizeBytes,
        concurrency: config.concurrency,
        onProgress: (loaded) => showProgress(upload, loaded),
        abortSignal: signal,
      });
      return target;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (target && isTokenRefusal(error)) {
        tokens.discard(target);
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

function asFailure(error: unknown): UploadFailure {
  return error instanceof UploadFailure
    ? error
    : new UploadFailure("unknown", `The upload failed: ${(error as Error)?.message ?? String(error)}`);
}

function addRow(file: File): Upload {
  const row = document.createElement("li");
  row.className = "upload";
  const head = document.createElement("div");
  head.className = "upload-head";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
  const size = document.createElement("span");
  size.className = "upload-size";
  size.textContent = formatBytes(file.size);
  head.append(name, size);
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
  const status = document.createElement("p");
  status.className = "upload-status";
  const retry = rowButton("Retry", file);
  const cancel = rowButton("Cancel", file);
  row.append(head, progress, status, retry, cancel);
  elements.list.append(row);
  elements.heading.hidden = false;
  return { file, row, progress, status, retry, cancel, announced: 0 };
}

/** A hidden button of a file's row, named for the file so that each row's buttons can be told apart. */
function rowButton(label: "Retry" | "Cancel", file: File): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = label.toLowerCase();
  button.textContent = label;
  button.setAttribute("aria-label", `${label} ${file.name}`);
  button.hidden = true;
  return button;
}

function showProgress(upload: Upload, loadedBytes: number): void {
  // 100 is kept for the moment storage has committed the blob.
  const percent = Math.min(99, Math.floor((loadedBytes / upload.file.size) * 100));
  if (percent <= upload.progress.value) return;
  upload.progress.value = percent;
  upload.status.textContent = `Uploading… ${percent}%`;
  const milestone = Math.floor(percent / 25) * 25;
  if (milestone > upload.announced) {
    upload.announced = milestone;
    announce(`${upload.file.name}: ${milestone}% uploaded.`);
  }
}

function succeed(upload: Upload, target: UploadTarget, apiUrl: string): void {
  upload.progress.value = 100;
  upload.row.dataset.blobName = target.blobName;
  upload.status.textContent = "Done: uploaded as ";
  const code = document.createElement("code");
  code.textContent = target.blobName;
  upload.status.append(code);
  upload.row.dataset.state = "done";
  upload.cancel.hidden = true;
  announce(`${upload.file.name}: uploaded.`);
  // Stored is not yet usable: valet checks the bytes, and the row follows that check.
  const show = verificationLine(upload.row, (message) => announce(`${upload.file.name}: ${message}`));
  void followVerification(apiUrl, target.blobName, show);
}

/**
 * Cancelled: its requests were aborted before the block list was committed, so no blob exists; blocks
 * already sent stay uncommitted and storage discards them within a week.
 * https://learn.microsoft.com/rest/api/storageservices/put-block#remarks
 */
function cancelled(upload: Upload): void {
  setState(upload, "cancelled", "Cancelled");
  upload.cancel.hidden = true;
  upload.retry.hidden = true;
  announce(`${upload.file.name}: cancelled.`);
}

function fail(upload: Upload, failure: UploadFailure): void {
  setState(upload, "failed", `Failed: ${failure.message}`);
  upload.row.dataset.failure = failure.kind;
  upload.retry.hidden = !failure.retryable;
  upload.cancel.hidden = true;
  announce(`${upload.file.name}: failed. ${failure.message}`);
}

function setState(
  upload: Upload,
  state: "waiting" | "uploading" | "failed" | "cancelled",
  text: string,
): void {
  upload.row.dataset.state = state;
  delete upload.row.dataset.failure;
  upload.status.textContent = text;
}

function announce(message: string): void {
  elements.announcer.textContent = message;
}

function showPageError(message: string): void {
  elements.pageError.textContent = message;
  elements.pageError.hidden = false;
}

void start();
