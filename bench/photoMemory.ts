// The child process of row 12 (bench/photos.ts): writes the largest image, then checks the queue's batch of it
// at once as the function would, and prints its resident set before and at its peak (getrusage's maxrss).
import { readFileSync } from "node:fs";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../function/contract/check";
import { CHECK_BATCH_SIZE, CHECK_NEW_BATCH_THRESHOLD } from "../function/contract/photoMemory";
import { parsePhotoSettings } from "../function/contract/photoSettings";
import { processPhoto } from "../function/photos/process";
import { writeLargestImage } from "./photos";

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const [side, dir] = [Number(process.argv[2]), String(process.argv[3])];
  const file = await writeLargestImage(side, dir);
  // Made in a process of its own: writing it must not count towards the check's peak.
  if (process.argv[4] !== "--measure") {
    const { execFileSync } = await import("node:child_process");
    process.stdout.write(
      execFileSync(process.execPath, ["--import", "tsx", __filename, String(side), dir, "--measure"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    return;
  }
  const input = readFileSync(file);
  const rules = { maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS, photos: parsePhotoSettings({}) };
  // sharp loaded and warmed on a small image first: the idle figure is the worker before any photo.
  await processPhoto(readFileSync(file).subarray(0, 0), "image/jpeg", "warm.jpg", rules).catch(
    () => undefined,
  );
  const idleMB = process.memoryUsage().rss / MB;
  const inFlight = CHECK_BATCH_SIZE + CHECK_NEW_BATCH_THRESHOLD;
  const results = await Promise.all(
    Array.from({ length: inFlight }, () => processPhoto(input, "image/jpeg", "largest.jpg", rules)),
  );
  if (results.some((result) => !result.accepted)) throw new Error("the largest image was refused");
  const peakMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ idleMB: Math.round(idleMB), peakMB: Math.round(peakMB), inFlight }));
}

void main();
