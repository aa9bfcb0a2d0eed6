// Rows 11 and 12: what processing a photo costs. The time to strip, orient and make the renditions of a 12 MP
// phone JPEG (against a server-side copy of the same blob, which is what publishing cost before), with the
// images a second of a batch of 50; and the peak memory of a check of the largest image the pixel cap allows,
// with the queue's batch in flight, in a process of its own, against the instance's memory.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import sharp from "sharp";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../function/contract/check";
import { CHECK_BATCH_SIZE, CHECK_NEW_BATCH_THRESHOLD } from "../function/contract/photoMemory";
import { parsePhotoSettings } from "../function/contract/photoSettings";
import { processPhoto } from "../function/photos/process";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface PhotoBenchOptions {
  runs: number;
  /** The phone photo's size: 4000 × 3000 in a real run. */
  width: number;
  height: number;
  /** Images in the batch row. */
  batch: number;
  /** The pixels of the memory row's image: the default cap in a real run. */
  largestPixels: number;
  /** The instance size the memory row is judged against (Flex Consumption's default, 2048 MB). */
  instanceMemoryMB: number;
  connectionString: string;
}

const MB = 1000 * 1000;

export async function benchPhotos(options: PhotoBenchOptions): Promise<BenchRow[]> {
  return [await processingRow(options), memoryRow(options)];
}

/**
 * A phone's photo: noise over a gradient (so that it compresses as a photo does, not as a flat colour), stored
 * sideways with Orientation 6, EXIF with GPS, a serial and an owner, XMP and a Display P3 profile.
 */
export async function phonePhoto(width: number, height: number): Promise<Buffer> {
  const noise = await sharp({
    create: {
      width,
      height,
      channels: 3,
      background: "#000",
      noise: { type: "gaussian", mean: 128, sigma: 30 },
    },
  })
    .blur(1.2)
    .raw()
    .toBuffer();
  return sharp(noise, { raw: { width, height, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .withIccProfile("p3")
    .withExif({
      IFD0: { Make: "PhoneCo", Model: "Phone 15", Artist: "Jane Q. Photographer" },
      IFD2: { BodySerialNumber: "SN-4242" },
      IFD3: {
        GPSLatitudeRef: "N",
        GPSLatitude: "48/1 51/1 294/10",
        GPSLongitudeRef: "E",
        GPSLongitude: "2/1 17/1 402/10",
      },
    })
    .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function processingRow(options: PhotoBenchOptions): Promise<BenchRow> {
  const photo = await phonePhoto(options.width, options.height);
  const rules = { maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS, photos: parsePhotoSettings({}) };
  const service = BlobServiceClient.fromConnectionString(options.connectionString);
  const container = service.getContainerClient(`bench-photos-${Date.now()}`);
  await container.create();
  const source = container.getBlockBlobClient("photo.jpg");
  await source.uploadData(photo);
  let copies = 0;
  const copy = async () => {
    const target = container.getBlobClient(`copy-${copies++}.jpg`);
    await (await target.beginCopyFromURL(source.url)).pollUntilDone();
  };
  const process = async () => {
    const result = await processPhoto(photo, "image/jpeg", "photo.jpg", rules);
    if (!result.accepted) throw new Error(`the bench photo was refused: ${result.reason}`);
  };
  const timed = (work: () => Promise<void>, count: number) => async () => {
    const started = performance.now();
    for (let i = 0; i < count; i++) await work();
    return (performance.now() - started) / count;
  };
  try {
    const single = await alternate(options.runs, timed(process, 1), timed(copy, 1), 1);
    // The batch: one image after another, as one instance checks them (batchSize 1).
    const batchProcess = await timed(process, options.batch)();
    const batchCopy = await timed(copy, options.batch)();
    const megabytes = photo.length / MB;
    return {
      id: "photoProcessing",
      title: `11. Processing a ${round((options.width * options.height) / 1e6, 1)} MP phone JPEG (strip, orient, 4 renditions)`,
      unit: "ms",
      better: "lower",
      ...single,
      ratio: ratioOf(single.project.median, single.baseline.median, "lower"),
      target: "information: the price of publishing a photo without its metadata",
      targetMet: true,
      details: {
        photoBytes: photo.length,
        processMBps: round(megabytes / (single.project.median / 1000), 1),
        copyMBps: round(megabytes / (single.baseline.median / 1000), 1),
        batch: options.batch,
        batchImagesPerSecond: round(1000 / batchProcess, 2),
        batchCopiesPerSecond: round(1000 / batchCopy, 2),
      },
    };
  } finally {
    await container.delete();
  }
}

/**
 * In a child process, so that nothing else this run holds counts: its peak resident set (getrusage's maxrss)
 * after loading sharp, then while checking the batch's worth of the largest image the cap allows (stored
 * sideways, so that turning it upright holds it whole), against the instance's memory.
 */
function memoryRow(options: PhotoBenchOptions): BenchRow {
  const side = Math.floor(Math.sqrt(options.largestPixels));
  const dir = mkdtempSync(join(tmpdir(), "valet-photo-memory-"));
  try {
    const runs = Array.from({ length: options.runs }, () => {
      const output = execFileSync(
        process.execPath,
        ["--import", "tsx", join(__dirname, "photoMemory.ts"), String(side), dir],
        { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
      );
      return JSON.parse(output) as { idleMB: number; peakMB: number; inFlight: number };
    });
    const peaks = runs.map((run) => run.peakMB);
    const idle = runs.map((run) => run.idleMB);
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const half = options.instanceMemoryMB / 2;
    return {
      id: "photoMemory",
      title: `12. Peak memory of a check of a ${round((side * side) / 1e6, 0)} MP image, ${CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD} in flight`,
      unit: "MB",
      better: "lower",
      project: { median: median(peaks), runs: peaks },
      baseline: { median: options.instanceMemoryMB, runs: [options.instanceMemoryMB] },
      ratio: ratioOf(median(peaks), options.instanceMemoryMB, "lower"),
      target: `< ${half} MB (half of a ${options.instanceMemoryMB} MB instance)`,
      targetMet: median(peaks) < half,
      details: { pixels: side * side, idleMB: median(idle), inFlight: runs[0]?.inFlight ?? 0 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For the child: the largest image, written once per run (flat colour: memory, not compression, is measured). */
export async function writeLargestImage(side: number, dir: string): Promise<string> {
  const file = join(dir, `largest-${side}.jpg`);
  const bytes = await sharp({ create: { width: side, height: side, channels: 3, background: "#808890" } })
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 90 })
    .toBuffer();
  writeFileSync(file, bytes);
  return file;
}
