// Row 4: a large file uploaded to Azurite the way the page does it (a per-upload token from the function
// host, blocks of the page's size, the page's concurrency) against one Put Blob of the same bytes signed
// with the account key.
import { randomBytes } from "node:crypto";
import { AnonymousCredential, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
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
  // The project's time includes asking the function for the token, as the page's does.
  const project = () => uploadWithToken(data, options);
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

/** Asks the function for a per-upload token and uploads in blocks with it, as the page does. */
async function uploadWithToken(data: Buffer, options: UploadBenchOptions): Promise<string> {
  const query = new URLSearchParams({
    filename: "bench.jpg",
    contentType: CONTENT_TYPE,
    size: String(data.length),
  });
  const response = await fetch(`${options.credentialsUrl}?${query}`);
  const body = (await response.json()) as { blobName?: string; blobUrl?: string; sasKey?: string };
  if (!response.ok || !body.blobUrl || !body.sasKey || !body.blobName) {
    throw new Error(
      `the function refused a token for the upload: ${response.status} ${JSON.stringify(body)}`,
    );
  }
  const client = new BlockBlobClient(`${body.blobUrl}?${body.sasKey}`, new AnonymousCredential());
  await client.uploadData(data, {
    blockSize: options.blockSizeBytes,
    concurrency: options.concurrency,
    // As the page does for a per-upload token: anything larger than one block goes in blocks.
    maxSingleShotSize: options.blockSizeBytes,
    blobHTTPHeaders: { blobContentType: CONTENT_TYPE },
  });
  return body.blobName;
}
