// A PNG's image data must inflate to what its header says, and no more: a decoder stops reading once it has
// its rows, so a stream that inflates far beyond them (a few KiB on the wire, gigabytes inflated) would pass a
// decode, and burden whatever else reads the original. Counted while inflating, never held.
// https://www.w3.org/TR/png-3/#10CompressionOtherUses (the zlib datastream of the IDAT chunks)
import { createInflate } from "node:zlib";

/** Seven passes of Adam7: x start, y start, x step, y step. https://www.w3.org/TR/png-3/#8Interlace */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Room for an encoder's padding; a stream this much larger than its rows is no longer an image. */
const SLACK_BYTES = 1024;

/** Bytes the IDAT data must inflate to: per row a filter byte and the row's pixels. */
export function expectedInflatedBytes(png: Buffer): number | undefined {
  if (png.toString("latin1", 12, 16) !== "IHDR") return undefined;
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const bitDepth = png[24] ?? 0;
  const channels = CHANNELS[png[25] ?? -1];
  if (channels === undefined) return undefined;
  const rowBytes = (w: number) => 1 + Math.ceil((w * channels * bitDepth) / 8);
  if (png[28] !== 1) return height * rowBytes(width);
  let total = 0;
  for (const [xs, ys, dx, dy] of ADAM7) {
    const w = width > xs ? Math.ceil((width - xs) / dx) : 0;
    const h = height > ys ? Math.ceil((height - ys) / dy) : 0;
    if (w > 0 && h > 0) total += h * rowBytes(w);
  }
  return total;
}

/** Whether the PNG's image data inflates to more than its rows need (counted up to that point, then stopped). */
export async function inflatesBeyondHeader(png: Buffer): Promise<boolean> {
  const expected = expectedInflatedBytes(png);
  if (expected === undefined) return false;
  const limit = expected + SLACK_BYTES;
  const inflate = createInflate();
  let total = 0;
  const done = new Promise<boolean>((resolve) => {
    inflate.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        inflate.destroy();
        resolve(true);
      }
    });
    inflate.on("end", () => resolve(false));
    // A damaged stream is the decoder's to refuse, with its own reason.
    inflate.on("error", () => resolve(false));
  });
  for (let at = 8; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    if (type === "IDAT") inflate.write(png.subarray(at + 8, at + 8 + length));
    if (type === "IEND") break;
    at += 12 + length;
  }
  inflate.end();
  return done;
}
