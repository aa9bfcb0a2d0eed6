// valet's browser client: `createUploader({ apiUrl }).upload(file)` uploads one file straight to Blob Storage
// with tokens from valet's endpoint and resolves with valet's check of it. Framework-free, no DOM rendering,
// no Node built-ins; published as the package's `./client` entry.
export type { AccessTokenHook } from "./bearer.js";
export type { CheckStatus, PollTiming, Rendition } from "./checkStatus.js";
export type { Connectivity } from "./connectivity.js";
export { type FailureKind, ValetUploadError } from "./errors.js";
export {
  createUploader,
  type UnfinishedUpload,
  type Uploader,
  type UploaderOptions,
  type UploadOptions,
  type UploadResult,
  type UploadStatus,
} from "./uploader.js";
export { MemoryRecordStore, type RecordStore, type UploadRecord } from "./uploadRecords.js";
