// Turns an upload the first-bytes check accepted into what may be published: the image re-encoded upright,
// without EXIF, XMP, IPTC, comments or embedded thumbnails but with its colour profile, and its renditions.
// Pure over bytes (sharp, no storage calls): photos/store.ts reads and writes the blobs.
import type sharpModule from "sharp";
import type { OutputInfo, Sharp, SharpOptions } from "sharp";
import type { ImageContentType } from "../contract/issuanceLimits";
import { SHARP_CONCURRENCY } from "../contract/photoMemory";
import type { PhotoSettings } from "../contract/photoSettings";
import {
  RENDITION_FORMATS,
  type Rendition,
  type RenditionExtension,
  type RenditionKind,
  renditionName,
} from "./names";
import { inflatesBeyondHeader } from "./pngInflation";

type SharpFactory = typeof sharpModule;
let loaded: Promise<SharpFactory> | undefined;

/**
 * sharp is loaded on the first photo, not when the instance starts: the HTTP functions never need libvips, and
 * loading it is a cost a cold start of theirs need not pay. Then: libvips' threads per image, and no operation
 * cache (a check handles one image at a time and never the same one twice, so the cache, by default up to
 * 50 MB and 100 operations kept after the check, only holds memory the next image needs).
 * https://sharp.pixelplumbing.com/api-utility#concurrency
 * https://sharp.pixelplumbing.com/api-utility#cache
 */
function loadSharp(): Promise<SharpFactory> {
  loaded ??= import("sharp").then((module) => {
    const sharp =
      (module as unknown as { default?: SharpFactory }).default ?? (module as unknown as SharpFactory);
    sharp.concurrency(SHARP_CONCURRENCY);
    sharp.cache(false);
    return sharp;
  });
  return loaded;
}

export interface EncodedImage {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
}

export interface EncodedRendition extends Rendition {
  readonly data: Buffer;
}

export type PhotoRejectionCode = "reservedName" | "notProcessable" | "undecodable" | "tooManyPixels";

export type ProcessedPhoto =
  | { readonly accepted: true; readonly image: EncodedImage; readonly renditions: EncodedRendition[] }
  | { readonly accepted: false; readonly code: PhotoRejectionCode; readonly reason: string };

export interface PhotoRules {
  readonly maxImagePixels: number;
  readonly photos: PhotoSettings;
}

/**
 * The formats re-encoded here, and how. Every format is re-encoded rather than stripped segment by segment:
 * applying the orientation changes the pixels anyway, one path for every format is one path to test, and a
 * decode is itself the check that the image is what its header says (a bomb fails here, not in a viewer).
 * JPEG, WebP and AVIF lose a generation at `quality`; PNG and GIF are lossless (GIF keeps its palette,
 * animations keep their frames). HEIC is not among them: sharp's prebuilt libvips reads AVIF only, not HEVC.
 * https://sharp.pixelplumbing.com/api-output#jpeg
 */
const ENCODERS: Partial<Record<ImageContentType, (image: Sharp, quality: number) => Sharp>> = {
  "image/jpeg": (image, quality) => image.jpeg({ quality }),
  "image/png": (image) => image.png({ compressionLevel: 9, adaptiveFiltering: true }),
  "image/webp": (image, quality) => image.webp({ quality }),
  "image/gif": (image) => image.gif({ reuse: true }),
  "image/avif": (image, quality) => image.avif({ quality }),
  "image/tiff": (image, quality) => image.tiff({ quality, compression: "lzw" }),
};

const ANIMATED: readonly ImageContentType[] = ["image/gif", "image/webp"];

export async function processPhoto(
  input: Buffer,
  contentType: ImageContentType,
  blobName: string,
  rules: PhotoRules,
): Promise<ProcessedPhoto> {
  const encode = ENCODERS[contentType];
  if (!encode) {
    return {
      accepted: false,
      code: "notProcessable",
      reason: `${contentType} images cannot be cleaned of their metadata here: upload a JPEG, PNG, WebP, GIF or AVIF`,
    };
  }
  // limitInputPixels refuses an image whose header claims more pixels before any of it is decoded (for an
  // animation, all frames together); failOn "warning" refuses pixel data a decoder complains about (a PNG
  // whose compressed data runs past its rows, a JPEG cut short) rather than publishing what it guessed.
  // https://sharp.pixelplumbing.com/api-constructor
  const options: SharpOptions = {
    limitInputPixels: rules.maxImagePixels,
    failOn: "warning",
    animated: ANIMATED.includes(contentType),
  };
  if (contentType === "image/png" && (await inflatesBeyondHeader(input))) {
    return {
      accepted: false,
      code: "undecodable",
      reason:
        "the PNG's compressed data inflates to far more than its dimensions need: it is a decompression bomb",
    };
  }
  const sharp = await loadSharp();
  try {
    // Oriented, then re-encoded. Without withMetadata/keepExif sharp writes no EXIF, XMP or IPTC; the ICC
    // profile is kept so that colours stay as the camera meant them.
    // https://sharp.pixelplumbing.com/api-output#keepiccprofile
    const pipeline = encode(sharp(input, options).autoOrient().keepIccProfile(), rules.photos.quality);
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    const image: EncodedImage = {
      bytes: data,
      contentType,
      width: info.width,
      height: info.pageHeight ?? info.height,
    };
    const renditions = await makeRenditions(
      sharp,
      input,
      { ...options, animated: false },
      blobName,
      rules.photos,
    );
    return { accepted: true, image, renditions };
  } catch (error) {
    return refusal(error, contentType);
  }
}

/**
 * The feed size is decoded once (JPEG and WebP decode straight at a fraction of full size), in sRGB, and both
 * sizes and both formats are encoded from it. Never larger than the image.
 */
async function makeRenditions(
  sharp: SharpFactory,
  input: Buffer,
  options: SharpOptions,
  blobName: string,
  photos: PhotoSettings,
): Promise<EncodedRendition[]> {
  const inside = (size: number) =>
    ({ width: size, height: size, fit: "inside", withoutEnlargement: true }) as const;
  const feed = await sharp(input, options)
    .autoOrient()
    .resize(inside(photos.feedSize))
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: feed.info.width, height: feed.info.height, channels: feed.info.channels } };
  const fallback: RenditionExtension = feed.info.channels === 4 ? "png" : "jpg";
  const renditions: EncodedRendition[] = [];
  for (const [kind, size] of [
    ["feed", photos.feedSize],
    ["thumb", photos.thumbnailSize],
  ] as const) {
    for (const extension of ["webp", fallback] as const) {
      const image = sharp(feed.data, raw).resize(inside(size));
      const encoded =
        extension === "webp"
          ? image.webp({ quality: photos.renditionQuality })
          : extension === "jpg"
            ? image.jpeg({ quality: photos.renditionQuality, mozjpeg: true })
            : image.png({ compressionLevel: 9 });
      const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
      renditions.push(rendition(blobName, kind, extension, data, info));
    }
  }
  return renditions;
}

function rendition(
  blobName: string,
  kind: RenditionKind,
  extension: RenditionExtension,
  data: Buffer,
  info: OutputInfo,
): EncodedRendition {
  return {
    name: renditionName(blobName, kind, extension),
    kind,
    width: info.width,
    height: info.height,
    contentType: RENDITION_FORMATS[extension],
    bytes: data.length,
    data,
  };
}

/** sharp's messages name the decoder's complaint (never a path: the input is a buffer). */
function refusal(error: unknown, contentType: ImageContentType): ProcessedPhoto {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return {
      accepted: false,
      code: "tooManyPixels",
      reason: "the image has more pixels than the limit once decoded",
    };
  }
  const detail = message.split("\n")[0]?.slice(0, 120) ?? "";
  return {
    accepted: false,
    code: "undecodable",
    reason: `the ${contentType.replace("image/", "").toUpperCase()} image cannot be decoded: ${detail}`,
  };
}
