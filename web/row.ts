// One file's row on the upload page: its name and size, progress, status line, Retry and Cancel buttons, and
// what the row says as the upload moves on. DOM only: the upload's course is main.ts's.
import type { ValetUploadError } from "../client";
import { formatBytes } from "./format";

export interface UploadRow {
  readonly file: File;
  readonly row: HTMLLIElement;
  readonly progress: HTMLProgressElement;
  readonly status: HTMLParagraphElement;
  readonly retry: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
  /** The last progress milestone announced (0, 25, 50, 75). */
  announced: number;
  /** Tells assistive technology (the page's live region). */
  readonly announce: (message: string) => void;
}

/** A new row for `file`, at the end of `list`; `announce` tells assistive technology of its changes. */
export function addRow(list: HTMLUListElement, file: File, announce: (message: string) => void): UploadRow {
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
  list.append(row);
  return { file, row, progress, status, retry, cancel, announced: 0, announce };
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

export function showProgress(upload: UploadRow, loadedBytes: number): void {
  // 100 is kept for the moment storage has committed the blob.
  const percent = Math.min(99, Math.floor((loadedBytes / upload.file.size) * 100));
  if (percent <= upload.progress.value) return;
  upload.progress.value = percent;
  upload.status.textContent = `Uploading… ${percent}%`;
  const milestone = Math.floor(percent / 25) * 25;
  if (milestone > upload.announced) {
    upload.announced = milestone;
    upload.announce(`${upload.file.name}: ${milestone}% uploaded.`);
  }
}

/** Stored: the row names the blob the upload became. */
export function showDone(upload: UploadRow, blobName: string): void {
  upload.progress.value = 100;
  upload.row.dataset.blobName = blobName;
  upload.status.textContent = "Done: uploaded as ";
  const code = document.createElement("code");
  code.textContent = blobName;
  upload.status.append(code);
  upload.row.dataset.state = "done";
  upload.cancel.hidden = true;
  upload.announce(`${upload.file.name}: uploaded.`);
}

/** The accepted photo as stored, from a read URL. */
export function showPreview(upload: UploadRow, url: string): void {
  const image = document.createElement("img");
  image.className = "upload-preview";
  image.alt = `${upload.file.name}, as stored`;
  image.src = url;
  upload.row.append(image);
}

/**
 * Cancelled: its requests were aborted before the block list was committed, so no blob exists; blocks
 * already sent stay uncommitted and storage discards them within a week.
 * https://learn.microsoft.com/rest/api/storageservices/put-block#remarks
 */
export function cancelled(upload: UploadRow): void {
  setState(upload, "cancelled", "Cancelled");
  upload.cancel.hidden = true;
  upload.retry.hidden = true;
  upload.announce(`${upload.file.name}: cancelled.`);
}

export function fail(upload: UploadRow, failure: ValetUploadError): void {
  setState(upload, "failed", `Failed: ${failure.message}`);
  upload.row.dataset.failure = failure.kind;
  upload.retry.hidden = !failure.retryable;
  upload.cancel.hidden = true;
  upload.announce(`${upload.file.name}: failed. ${failure.message}`);
}

export function setState(
  upload: UploadRow,
  state: "waiting" | "uploading" | "failed" | "cancelled",
  text: string,
): void {
  upload.row.dataset.state = state;
  delete upload.row.dataset.failure;
  upload.status.textContent = text;
}
