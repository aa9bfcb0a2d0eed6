// The upload page: reads config.json, lets a person pick or drop images, and uploads each one straight
// to Blob Storage with its own token, showing progress and a plain-language outcome per file.
import type { PageConfig } from "./config";
import {
  checkFile,
  describeUploadError,
  formatBytes,
  isExpiryRefusal,
  isTokenRefusal,
  listTypes,
  TokenSource,
  UploadFailure,
  type UploadTarget,
  uploadTo,
} from "./uploads";

/** Files uploading at once; each also sends several blocks at a time. */
const PARALLEL_FILES = 2;

interface Upload {
  readonly file: File;
  readonly row: HTMLLIElement;
  readonly progress: HTMLProgressElement;
  readonly status: HTMLParagraphElement;
  readonly retry: HTMLButtonElement;
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
};

const queue: Upload[] = [];
let active = 0;

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
  const tokens = new TokenSource(config.apiUrl);
  elements.limits.textContent = `${listTypes(config.allowedContentTypes)} images, up to ${formatBytes(config.maxUploadBytes)} each.`;
  elements.input.accept = config.allowedContentTypes.join(",");
  elements.input.disabled = false;

  const add = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) enqueue(file, config, tokens);
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
    if (active > 0) event.preventDefault();
  });
}

async function loadConfig(): Promise<PageConfig> {
  const response = await fetch("config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`the server answered ${response.status}.`);
  const value = (await response.json()) as Partial<PageConfig>;
  const positive = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n > 0;
  if (
    typeof value.apiUrl !== "string" ||
    !Array.isArray(value.allowedContentTypes) ||
    !value.allowedContentTypes.every((type) => typeof type === "string") ||
    !positive(value.maxUploadBytes) ||
    !positive(value.blockSizeBytes) ||
    !positive(value.concurrency)
  ) {
    throw new Error("it needs apiUrl, allowedContentTypes, maxUploadBytes, blockSizeBytes and concurrency.");
  }
  return value as PageConfig;
}

function enqueue(file: File, config: PageConfig, tokens: TokenSource): void {
  const upload = addRow(file);
  const problem = checkFile(file, config);
  if (problem) {
    fail(upload, problem);
    return;
  }
  upload.retry.addEventListener("click", () => {
    upload.retry.hidden = true;
    schedule(upload, config, tokens);
  });
  schedule(upload, config, tokens);
}

function schedule(upload: Upload, config: PageConfig, tokens: TokenSource): void {
  setState(upload, "waiting", "Waiting…");
  upload.progress.value = 0;
  upload.announced = 0;
  queue.push(upload);
  pump(config, tokens);
}

function pump(config: PageConfig, tokens: TokenSource): void {
  while (active < PARALLEL_FILES && queue.length > 0) {
    const upload = queue.shift() as Upload;
    active++;
    run(upload, config, tokens).finally(() => {
      active--;
      pump(config, tokens);
    });
  }
}

async function run(upload: Upload, config: PageConfig, tokens: TokenSource): Promise<void> {
  setState(upload, "uploading", "Uploading…");
  announce(`${upload.file.name}: uploading.`);
  // One fresh token per attempt; a token storage refuses is replaced once, transparently.
  for (let attempt = 1; ; attempt++) {
    let target: UploadTarget | undefined;
    try {
      target = await tokens.targetFor(upload.file);
      await uploadTo(target, upload.file, {
        blockSizeBytes: config.blockSizeBytes,
        concurrency: config.concurrency,
        onProgress: (loaded) => showProgress(upload, loaded),
      });
      succeed(upload, target);
      return;
    } catch (error) {
      if (target && isTokenRefusal(error)) {
        tokens.discard(target);
        if (attempt === 1) {
          const reason = isExpiryRefusal(error, target) ? "expired" : "was refused";
          setState(upload, "uploading", `The upload token ${reason}; getting a new one…`);
          continue;
        }
      }
      const failure =
        error instanceof UploadFailure || !target
          ? asFailure(error)
          : await describeUploadError(error, target);
      fail(upload, failure);
      return;
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
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "retry";
  retry.textContent = "Retry";
  retry.setAttribute("aria-label", `Retry ${file.name}`);
  retry.hidden = true;
  row.append(head, progress, status, retry);
  elements.list.append(row);
  elements.heading.hidden = false;
  return { file, row, progress, status, retry, announced: 0 };
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

function succeed(upload: Upload, target: UploadTarget): void {
  upload.progress.value = 100;
  upload.row.dataset.blobName = target.blobName;
  upload.status.textContent = "Done: uploaded as ";
  const code = document.createElement("code");
  code.textContent = target.blobName;
  upload.status.append(code);
  upload.row.dataset.state = "done";
  announce(`${upload.file.name}: uploaded.`);
}

function fail(upload: Upload, failure: UploadFailure): void {
  setState(upload, "failed", `Failed: ${failure.message}`);
  upload.row.dataset.failure = failure.kind;
  upload.retry.hidden = !failure.retryable;
  announce(`${upload.file.name}: failed. ${failure.message}`);
}

function setState(upload: Upload, state: "waiting" | "uploading" | "failed", text: string): void {
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
