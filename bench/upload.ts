// Row 4: a large file uploaded to Azurite with the page's own code (its token source asking the function
// host, its block upload with the page's block size and concurrency) against one Put Blob of the same bytes
// signed with the account key.
import { randomBytes } from "node:crypto";
import { ContainerClient } from "@azure/storage-blob";
import { uploadTo } from "../client/blockUpload";
import { TokenSource } from "../client/uploadTokens";
import { pageConfig } from "../web/config";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface UploadBenchOptions {
  runs: number;
  bytes: number;
  blockSizeBytes: number;
  concurrency: number;
  /** The function host's credentials endpoint. */
  credentialsUrl: string;
  /** Account-key connection string of the same blob service, for the baseline. */
  connectionString: string;
  container: string;
}

const CONTENT_TYPE = "image/jpeg";
const MIB = 1024 * 1024;

export async function benchUpload(options: UploadBenchOptions): Promise<BenchRow> {
  const data = randomBytes(options.bytes);
  const container = new ContainerClient(options.connectionString, options.container);
  const tokens = new TokenSource(
    pageConfig(options.credentialsUrl, { allowedContentTypes: [CONTENT_TYPE], maxUploadBytes: data.length }),
  );
  // The project's time includes asking the function for the token, as the page's does.
  const project = () => uploadWithToken(data, tokens, options);
  const baseline = async () => {
    const blob = container.getBlockBlobClient(`bench-put-${Date.now()}.jpg`);
    await blob.upload(data, data.length, { blobHTTPHeaders: { blobContentType: CONTENT_TYPE } });
    return blob.name;
  };
  // Each upload is checked (the stored size) and removed afterwards, outside the timed part.
  const timed = async (upload: () => Promise<string>): Promise<number> => {
    const start = performance.now();
    const blobName = await upload();
    const seconds = (performance.now() - start) / 1000;
    const blob = container.getBlockBlobClient(blobName);
    const { contentLength } = await blob.getProperties();
    if (contentLength !== data.length) {
      throw new Error(`${blobName} holds ${contentLength} bytes, not the ${data.length} uploaded`);
    }
    await blob.delete();
    return data.length / MIB / seconds;
  };
  await timed(project);
  await timed(baseline);
  const { project: projectFigure, baseline: baselineFigure } = await alternate(
    options.runs,
    () => timed(project),
    () => timed(baseline),
    1,
  );
  const ratio = ratioOf(projectFigure.median, baselineFigure.median, "higher");
  return {
    id: "upload",
    title: "4. Upload",
    unit: "MiB/s",
    better: "higher",
    project: projectFigure,
    baseline: baselineFigure,
    ratio: round(ratio),
    target: ">= 1x single PUT",
    targetMet: ratio >= 1,
    details: {
      fileMiB: round(options.bytes / MIB, 2),
      blockMiB: round(options.blockSizeBytes / MIB, 2),
      concurrency: options.concurrency,
    },
  };
}

/** Uploads as the page does: a token for this file from the function, then the bytes in blocks. */
async function uploadWithToken(
  data: Buffer,
  tokens: TokenSource,
  options: UploadBenchOptions,
): Promise<string> {
  const target = await tokens.targetFor({ name: "bench.jpg", type: CONTENT_TYPE, size: data.length });
  if (!target.perUpload) {
    throw new Error(
      "the function handed out a container token: this row measures per-upload tokens in blocks",
    );
  }
  await uploadTo(target, data, {
    contentType: CONTENT_TYPE,
    blockSizeBytes: options.blockSizeBytes,
    concurrency: options.concurrency,
    onProgress: () => undefined,
  });
  return target.blobName;
}
