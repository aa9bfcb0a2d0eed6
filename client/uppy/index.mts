// An Uppy uploader that sends each file through valet's browser client: a token per file, blocks, resume,
// retries and the check, with progress in Uppy's state and valet's refusals as Uppy's upload errors.
// Published as the package's `./uppy` entry; @uppy/core is a peer dependency. Uppy's plugin API: a BasePlugin
// of type "uploader" registers a function with addUploader that gets the file ids of each upload and
// reports through the events upload-start, upload-progress, upload-success and upload-error; removing a file
// emits file-removed and cancelling all emits cancel-all.
// https://uppy.io/docs/guides/building-plugins/
import { BasePlugin, type Body, type Meta, type PluginOpts, type Uppy, type UppyFile } from "@uppy/core";
import {
  createUploader,
  type Uploader,
  type UploaderOptions,
  type UploadResult,
  ValetUploadError,
} from "../index.js";

/** The client's options (apiUrl, getAccessToken, solveHumanCheck…) and Uppy's own (`id`, `locale`). */
export interface ValetOptions extends PluginOpts, UploaderOptions {}

/** What a verified file's Uppy response body holds: the client's result. */
export type ValetBody = UploadResult & Body;

export default class Valet<M extends Meta, B extends Body> extends BasePlugin<ValetOptions, M, B> {
  static VERSION = "0.1.0";
  readonly #uploader: Uploader;
  /** The running uploads, by Uppy file id, to abort when a file is removed or all are cancelled. */
  readonly #running = new Map<string, AbortController>();

  constructor(uppy: Uppy<M, B>, opts: ValetOptions) {
    super(uppy, opts);
    if (!opts?.apiUrl) throw new Error("The Valet plugin needs apiUrl, valet's SAS endpoint.");
    this.id = opts.id ?? "Valet";
    this.type = "uploader";
    this.#uploader = createUploader(opts);
  }

  override install(): void {
    this.uppy.addUploader(this.#upload);
    this.uppy.on("file-removed", this.#onFileRemoved);
    this.uppy.on("cancel-all", this.#onCancelAll);
  }

  override uninstall(): void {
    this.uppy.removeUploader(this.#upload);
    this.uppy.off("file-removed", this.#onFileRemoved);
    this.uppy.off("cancel-all", this.#onCancelAll);
    this.#onCancelAll();
  }

  readonly #onFileRemoved = (file: UppyFile<M, B>): void => {
    this.#running.get(file.id)?.abort(new DOMException("The file was removed.", "AbortError"));
  };

  readonly #onCancelAll = (): void => {
    for (const controller of this.#running.values()) {
      controller.abort(new DOMException("The upload was cancelled.", "AbortError"));
    }
  };

  readonly #upload = async (fileIDs: string[]): Promise<void> => {
    const files = this.uppy.getFilesByIds(fileIDs).filter((file) => !this.#running.has(file.id));
    if (files.length === 0) return;
    this.uppy.emit("upload-start", files);
    // The client queues them: a bounded number of requests in flight, tokens fetched ahead.
    await Promise.allSettled(files.map((file) => this.#uploadFile(file)));
  };

  async #uploadFile(file: UppyFile<M, B>): Promise<void> {
    const controller = new AbortController();
    this.#running.set(file.id, controller);
    const started = Date.now();
    const current = () => this.uppy.getFile(file.id);
    try {
      if (file.isRemote || !file.data) {
        throw new ValetUploadError(
          "unknown",
          "Valet uploads local files only; add this file again from this device.",
          false,
        );
      }
      // Progress from the start, so the Dashboard offers Cancel (and Retry, should it fail) before any byte.
      this.uppy.emit("upload-progress", current(), {
        uploadStarted: started,
        bytesUploaded: 0,
        bytesTotal: file.data.size,
      });
      const result = await this.#uploader.upload(fileOf(file.name, file.type, file.data), {
        signal: controller.signal,
        onProgress: ({ bytesUploaded, bytesTotal }) =>
          this.uppy.emit("upload-progress", current(), { uploadStarted: started, bytesUploaded, bytesTotal }),
        onStatus: (status) => {
          // Stored is not yet usable: Uppy shows the check as post-processing until the verdict.
          if (status.kind === "stored") {
            this.uppy.emit("postprocess-progress", current(), {
              mode: "indeterminate",
              message: "Checking…",
            });
          }
        },
      });
      if (!current()) return;
      this.uppy.emit("upload-success", current(), {
        status: 200,
        body: { ...result } as unknown as B,
        ...(result.url && { uploadURL: result.url }),
      });
    } catch (error) {
      // A removed file or a cancelled upload is no failure to show.
      if (controller.signal.aborted || !current()) return;
      const failure =
        error instanceof ValetUploadError
          ? error
          : new ValetUploadError("unknown", `The upload failed: ${String(error)}`);
      this.uppy.emit("upload-error", current(), failure);
    } finally {
      this.#running.delete(file.id);
    }
  }
}

/**
 * The client matches a file chosen again to its resume record by name, size and last modification (and the
 * hashes of its first and last blocks): Uppy's file, as Golden Retriever brings it back from IndexedDB after
 * a reload, is the same File. A bare Blob is named and dated 0, the same on every try.
 */
function fileOf(name: string, type: string, data: Blob): File {
  if (data instanceof File) return data;
  return new File([data], name, { type, lastModified: 0 });
}
