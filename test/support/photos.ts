// Photos as phones and editors write them, made here: personal metadata in each format's own place (EXIF with
// GPS and a serial, XMP, PNG text chunks, a GIF comment), an Orientation tag, a colour profile; and the readers
// that prove what a processed file still carries (parsed, never grepped).
import { crc32, deflateSync } from "node:zlib";
import exifReader from "exif-reader";
import sharp from "sharp";

export const OWNER = "Jane Q. Photographer";
export const SERIAL = "SN-4242-SECRET";
/** 48°51'29.4"N 2°17'40.2"E: a street corner anyone could find. */
const GPS = {
  GPSLatitudeRef: "N",
  GPSLatitude: "48/1 51/1 294/10",
  GPSLongitudeRef: "E",
  GPSLongitude: "2/1 17/1 402/10",
};
const XMP = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:exif="http://ns.adobe.com/exif/1.0/"><dc:creator>${OWNER}</dc:creator><exif:GPSLatitude>48,51.49N</exif:GPSLatitude></rdf:Description></rdf:RDF></x:xmpmeta>`;

const EXIF = {
  IFD0: { Make: "PhoneCo", Model: "Phone 15", Artist: OWNER, Copyright: OWNER },
  IFD2: { BodySerialNumber: SERIAL, CameraOwnerName: OWNER },
  IFD3: GPS,
};

/**
 * Stored pixels `width` × `height`, left half red and right half blue. Shown with Orientation 6 (turn 90°
 * clockwise) the picture is `height` wide and `width` tall, red on top: what "upright" means in the tests.
 */
export function sideBySide(width: number, height: number): sharp.Sharp {
  const half = Math.floor(width / 2);
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      if (x < half) pixels[at] = 220;
      else pixels[at + 2] = 220;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** A phone's portrait JPEG: Orientation 6, EXIF with GPS, serial and owner, XMP, a Display P3 profile. */
export async function phoneJpeg(width = 400, height = 300): Promise<Buffer> {
  return sideBySide(width, height)
    .withMetadata({ orientation: 6 })
    .withIccProfile("p3")
    .withExif(EXIF)
    .withXmp(XMP)
    .jpeg({ quality: 92 })
    .toBuffer();
}

/** A WebP with EXIF (GPS, Orientation 6) and XMP chunks. */
export async function phoneWebp(): Promise<Buffer> {
  return sideBySide(200, 100)
    .withMetadata({ orientation: 6 })
    .withExif(EXIF)
    .withXmp(XMP)
    .webp({ quality: 90 })
    .toBuffer();
}

/** A PNG with an sRGB-tagged ICC profile, an eXIf chunk (GPS, Orientation 6) and tEXt/iTXt chunks. */
export async function taggedPng(): Promise<Buffer> {
  const png = await sideBySide(120, 80).withIccProfile("p3").png().toBuffer();
  const exif = await exifOf(await phoneJpeg(8, 8));
  const chunks = [
    pngChunk("eXIf", exif),
    pngChunk("tEXt", Buffer.from(`Author\0${OWNER}`, "latin1")),
    pngChunk("iTXt", Buffer.from(`XML:com.adobe.xmp\0\0\0\0\0${XMP}`, "utf8")),
  ];
  return insertBeforeIdat(png, chunks);
}

/** A GIF with a comment extension naming its owner. */
export async function commentedGif(): Promise<Buffer> {
  const gif = await sideBySide(60, 40).gif().toBuffer();
  const flags = gif[10] ?? 0;
  const tableEnd = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
  const text = Buffer.from(`Owner: ${OWNER}`, "latin1");
  const comment = Buffer.concat([Buffer.from([0x21, 0xfe, text.length]), text, Buffer.from([0])]);
  return Buffer.concat([gif.subarray(0, tableEnd), comment, gif.subarray(tableEnd)]);
}

/**
 * A PNG bomb of the second kind: its header says 64 × 64, and its IDAT inflates to 64 MiB, a thousand times what
 * those rows need. Small on the wire (about 64 KiB), within every pixel cap.
 */
export function inflatingPng(): Buffer {
  const width = 64;
  const height = 64;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const raw = Buffer.alloc(64 * 1024 * 1024);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw, { level: 9 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The EXIF a JPEG carries, without JPEG's `Exif\0\0` prefix (the TIFF structure itself). */
export async function exifOf(jpeg: Buffer): Promise<Buffer> {
  const { exif } = await sharp(jpeg).metadata();
  if (!exif) throw new Error("the fixture has no EXIF");
  return exif.subarray(6);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function insertBeforeIdat(png: Buffer, chunks: Buffer[]): Buffer {
  for (let at = 8; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString("latin1", at + 4, at + 8) === "IDAT") {
      return Buffer.concat([png.subarray(0, at), ...chunks, png.subarray(at)]);
    }
    at += 12 + length;
  }
  throw new Error("no IDAT");
}

/** The labels of a GIF's extension blocks (0xFE: comment, 0xFF: application, as XMP uses), in order. */
export function gifExtensionLabels(gif: Buffer): number[] {
  const table = (flags: number) => (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
  const skipSubBlocks = (from: number) => {
    let at = from;
    while ((gif[at] ?? 0) !== 0) at += 1 + (gif[at] ?? 0);
    return at + 1;
  };
  const labels: number[] = [];
  let at = 13 + table(gif[10] ?? 0);
  while (at < gif.length && gif[at] !== 0x3b) {
    if (gif[at] === 0x21) {
      labels.push(gif[at + 1] ?? 0);
      at = skipSubBlocks(at + 2);
    } else if (gif[at] === 0x2c) {
      at = skipSubBlocks(at + 10 + table(gif[at + 9] ?? 0) + 1);
    } else {
      throw new Error(`not a GIF block at ${at}`);
    }
  }
  return labels;
}

/** The names of a PNG's chunks, in order. */
export function pngChunkTypes(png: Buffer): string[] {
  const types: string[] = [];
  for (let at = 8; at + 8 <= png.length; ) {
    types.push(png.toString("latin1", at + 4, at + 8));
    at += 12 + png.readUInt32BE(at);
  }
  return types;
}

/** What a processed image still says about itself: every metadata block sharp finds, EXIF parsed. */
export async function metadataOf(image: Buffer) {
  const meta = await sharp(image).metadata();
  return {
    /** As a viewer shows it: after the Orientation tag, if any. */
    width: meta.autoOrient?.width ?? meta.width,
    height: meta.autoOrient?.height ?? meta.height,
    format: meta.format,
    orientation: meta.orientation,
    hasIcc: meta.icc !== undefined,
    iccDescription: meta.icc ? iccDescription(meta.icc) : undefined,
    exif: meta.exif ? exifReader(meta.exif) : undefined,
    xmp: meta.xmp,
    iptc: meta.iptc,
    comments: meta.comments,
  };
}

/** The profile's `desc` tag text (ICC.1 `mluc` or `desc` type): enough to tell Display P3 from sRGB. */
function iccDescription(icc: Buffer): string {
  const count = icc.readUInt32BE(128);
  for (let i = 0; i < count; i++) {
    const at = 132 + i * 12;
    if (icc.toString("latin1", at, at + 4) !== "desc") continue;
    const offset = icc.readUInt32BE(at + 4);
    const size = icc.readUInt32BE(at + 8);
    return icc
      .subarray(offset, offset + size)
      .toString("latin1")
      .replace(/[^\x20-\x7e]/g, "");
  }
  return "";
}

/** The mean colour of the top and bottom tenth of an image, as [r, g, b]. */
export async function topAndBottom(image: Buffer): Promise<{ top: number[]; bottom: number[] }> {
  const { data, info } = await sharp(image)
    .autoOrient()
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const band = Math.max(1, Math.floor(info.height / 10));
  const mean = (fromRow: number) => {
    const sum = [0, 0, 0];
    for (let y = fromRow; y < fromRow + band; y++) {
      for (let x = 0; x < info.width; x++) {
        const at = (y * info.width + x) * info.channels;
        for (let c = 0; c < 3; c++) sum[c] = (sum[c] ?? 0) + (data[at + c] ?? 0);
      }
    }
    return sum.map((value) => Math.round(value / (band * info.width)));
  };
  return { top: mean(0), bottom: mean(info.height - band) };
}

/**
 * Whether two images have the same pixels once decoded: the verified container holds a re-encode, so which
 * upload it came from shows in its pixels (exactly, for the lossless formats), not in its bytes.
 */
export async function samePixels(a: Buffer, b: Buffer): Promise<boolean> {
  const [x, y] = await Promise.all([a, b].map((image) => sharp(image).autoOrient().raw().toBuffer()));
  return x !== undefined && y !== undefined && x.equals(y);
}
