// The upload page: reads config.json, lets a person pick or drop images, and uploads each one through valet's
// browser client (`client/`), showing progress, a Cancel button, a plain-language outcome and valet's check
// per file. Everything about tokens, blocks, resuming, retries and the check is the client's; this file only
// wires its callbacks to the page.
import {
  type CheckStatus,
  createUploader,
  type Uploader,
  type UploadStatus,
  ValetUploadError,
} from "../client";
import { accessTokenHook } from "./accessTokenHook";
import { checkFile } from "./checks";
import { CONFIG_FILE, type PageConfig, parsePageConfig } from "./config";
import { formatBytes, formatWait, listTypes } from "./format";
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
import { turnstileSolver } from "./turnstileWidget";
import { CHECKING, checkLine, describeCheck } from "./verdictLine";

/** A file's row, and the Cancel of its current try. */
interface Upload extends UploadRow {
  controller?: AbortController;
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
  const getAccessToken = accessTokenHook(config.signInStandInTokenUrl);
  const uploader = createUploader({
    apiUrl: config.apiUrl,
    ...(getAccessToken && { getAccessToken }),
    ...(config.turnstileSiteKey && {
      solveHumanCheck: turnstileSolver(
        config.turnstileSiteKey,
        elements.humanCheck,
        config.turnstileScriptUrl,
      ),
    }),
    blockSizeBytes: config.blockSizeBytes,
    concurrency: config.concurrency,
    extensions: config.extensions,
  });
  // Not awaited: storage that is slow to open must not hold up new uploads.
  void showUnfinished(uploader);
  elements.limits.textContent = `${listTypes(config.allowedContentTypes)} images, up to ${formatBytes(config.maxUploadBytes)} each.`;
  elements.input.accept = config.allowedContentTypes.join(",");
  elements.input.disabled = false;

  const add = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) enqueue(file, config, uploader);
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
    if (uploader.active > 0) event.preventDefault();
  });
}

/** The uploads a previous visit left unfinished, for the person to choose again (or discard). */
async function showUnfinished(uploader: Uploader): Promise<void> {
  let unfinished: Awaited<ReturnType<Uploader["unfinished"]>>;
  try {
    unfinished = await uploader.unfinished();
  } catch {
    return; // Storage the page may not use: nothing to resume, and nothing to stop new uploads.
  }
  for (const upload of unfinished) {
    const item = document.createElement("li");
    item.dataset.blobName = upload.blobName;
    const text = document.createElement("span");
    text.className = "unfinished-name";
    text.textContent = upload.fileName;
    const facts = document.createElement("span");
    facts.textContent = ` (${formatBytes(upload.size)}, ${Math.floor(upload.sentShare * 100)}% sent)`;
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "discard";
    discard.textContent = "Discard";
    discard.setAttribute("aria-label", `Discard the unfinished upload of ${upload.fileName}`);
    discard.addEventListener("click", () => {
      void uploader.discard(upload.blobName).catch(() => undefined);
      hideUnfinished(upload.blobName);
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

function enqueue(file: File, config: PageConfig, uploader: Uploader): void {
  const upload: Upload = addRow(elements.list, file, announce);
  elements.heading.hidden = false;
  const problem = checkFile(file, config);
  if (problem) {
    fail(upload, problem);
    return;
  }
  upload.retry.addEventListener("click", () => {
    upload.retry.hidden = true;
    void run(upload, uploader);
  });
  upload.cancel.addEventListener("click", () => upload.controller?.abort());
  void run(upload, uploader);
}

/** One try at the file through the client, shown on its row; the client's errors become the row's failure. */
async function run(upload: Upload, uploader: Uploader): Promise<void> {
  const controller = new AbortController();
  upload.controller = controller;
  upload.progress.value = 0;
  upload.announced = 0;
  upload.cancel.hidden = false;
  let stored = false;
  let showCheck: ((status: CheckStatus) => void) | undefined;
  try {
    const result = await uploader.upload(upload.file, {
      signal: controller.signal,
      onProgress: ({ bytesUploaded }) => showProgress(upload, bytesUploaded),
      onStatus: (status) => {
        if (status.kind === "stored") {
          stored = true;
          showCheck = succeed(upload, status.blobName, uploader);
        } else showStatus(upload, status);
      },
    });
    showCheck?.(
      result.state === "accepted"
        ? { state: "accepted", url: result.url ?? "", renditions: result.renditions }
        : result.state === "pending"
          ? { state: "pending" }
          : { state: "unconfirmed", problem: result.problem ?? "no verdict came" },
    );
    // Signed in, the owner may see the accepted photo, through a read URL that lasts minutes.
    if (result.state !== "accepted" || !result.blobName.includes("/")) return;
    const url = await uploader.readUrl(result.blobName);
    if (url) showPreview(upload, url);
  } catch (error) {
    if (controller.signal.aborted && !stored) cancelled(upload);
    else if (error instanceof ValetUploadError && error.kind === "rejected") {
      showCheck?.({ state: "rejected", reason: error.reason ?? error.message });
    } else if (stored) {
      showCheck?.({ state: "unconfirmed", problem: "the page could not ask for it" });
    } else {
      fail(
        upload,
        error instanceof ValetUploadError
          ? error
          : new ValetUploadError("unknown", `The upload failed: ${String(error)}`),
      );
    }
  }
}

/** What the row says while the client works on the file. */
function showStatus(upload: Upload, status: Exclude<UploadStatus, { kind: "stored" }>): void {
  switch (status.kind) {
    case "waiting":
      setState(upload, "waiting", "Waiting…");
      return;
    case "uploading":
      if (upload.row.dataset.state !== "uploading") announce(`${upload.file.name}: uploading.`);
      if (status.resumes) hideUnfinished(status.resumes);
      setState(upload, "uploading", status.resumes ? "Resuming…" : "Uploading…");
      return;
    case "offline":
      setState(upload, "waiting", "Offline: waiting for the network to come back…");
      return;
    case "reconnecting":
      setState(
        upload,
        "waiting",
        `The connection was lost; trying again in ${formatWait(Math.ceil(status.delayMs / 1000))}…`,
      );
      return;
    case "slowed-down":
      setState(
        upload,
        "waiting",
        `The upload service asked to wait; trying again in ${formatWait(status.seconds)}…`,
      );
      return;
    case "token-replaced":
      setState(
        upload,
        "uploading",
        `The upload token ${status.expired ? "expired" : "was refused"}; getting a new one…`,
      );
      return;
  }
}

/**
 * Stored: the row names the blob and says "Checking…" until the client has valet's verdict. Signed in, a name
 * starts with its owner, and the owner's photo comes through a read URL; anonymous, the row shows the
 * thumbnail from the renditions endpoint.
 */
function succeed(upload: Upload, blobName: string, uploader: Uploader): (status: CheckStatus) => void {
  showDone(upload, blobName);
  const signedIn = blobName.includes("/");
  const show = checkLine(
    upload.row,
    (message) => announce(`${upload.file.name}: ${message}`),
    signedIn ? undefined : (name) => uploader.renditionUrl(name),
    upload.file.name,
  );
  show(CHECKING);
  return (status) => show(describeCheck(status));
}

function announce(message: string): void {
  elements.announcer.textContent = message;
}

function showPageError(message: string): void {
  elements.pageError.textContent = message;
  elements.pageError.hidden = false;
}

void start();
