// The pure core of the check of a stored upload: reads a BlobCreated event off the queue, and judges a blob
// from its properties and its first bytes. No storage calls here: queuedCheck.ts does those.
import { imageSize } from "image-size";
import { BLOB_CREATED, HEAD_BYTES } from "../contract/check";
import { IMAGE_EXTENSIONS, type ImageContentType, isImageContentType } from "../contract/issuanceLimits";
import { eventInMessage } from "../contract/queueTrigger";

/**
 * The fields of a Microsoft.Storage.BlobCreated event the check uses (Event Grid schema; the CloudEvents
 * schema's `type` is read as `eventType`).
 * https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage#microsoftstorageblobcreated-event
 */
export interface BlobCreatedEvent {
  readonly id: string;
  readonly container: string;
  readonly blobName: string;
  /** The operation that created the blob: PutBlob, PutBlockList, CopyBlob, … */
  readonly api: string;
  readonly contentType: string;
  readonly contentLength: number;
  /** BlockBlob, PageBlob or AppendBlob. */
  readonly blobType: string;
  readonly eTag: string;
  readonly url: string;
  /**
   * Orders the events of one blob name by plain string comparison; empty when the event has none.
   * https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage#event-properties (sequencer)
   */
  readonly sequencer: string;
}

/** The message is not a BlobCreated event: retrying cannot change that. */
export class EventMessageError extends Error {
  override name = "EventMessageError";
}

/**
 * The event in a queue message, in any form it reaches the function: an object (the Node worker parses a
 * message that is JSON), JSON text, or base64 of JSON text. Event Grid has been reported to write both
 * plain and base64 text to queues. host.json sets the trigger's messageEncoding to "none", so both forms reach
 * the function (with the default, base64, a plain message is poisoned without the function being called:
 * Azure/azure-sdk-for-net#21449, #28799).
 * https://github.com/Azure/azure-sdk-for-net/issues/21449
 * https://github.com/Azure/azure-sdk-for-net/issues/28799
 * https://github.com/MicrosoftDocs/azure-docs/issues/69702
 * https://github.com/MicrosoftDocs/azure-docs/issues/102923
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json (messageEncoding)
 */
export function parseBlobCreatedMessage(message: unknown): BlobCreatedEvent {
  const read = eventInMessage(message);
  if ("problem" in read) {
    throw new EventMessageError(
      read.problem === "notJson"
        ? "the message is neither JSON nor base64 of JSON"
        : "the message is not a JSON object: expected one Event Grid event",
    );
  }
  const { event } = read;
  const type = event.eventType ?? event.type;
  if (type !== BLOB_CREATED) {
    throw new EventMessageError(`the event's type is ${describe(type)}, not ${BLOB_CREATED}`);
  }
  const subject = typeof event.subject === "string" ? event.subject : "";
  const path = /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/.exec(subject);
  if (!path?.[1] || !path[2]) {
    throw new EventMessageError(
      "the event's subject is not /blobServices/default/containers/<container>/blobs/<name>",
    );
  }
  const data = event.data;
  if (typeof data !== "object" || data === null) throw new EventMessageError("the event has no data");
  const field = (name: string): string => {
    const text = (data as Record<string, unknown>)[name];
    if (typeof text !== "string" || text === "") {
      throw new EventMessageError(`the event's data.${name} is missing or not text`);
    }
    return text;
  };
  const contentLength = (data as Record<string, unknown>).contentLength;
  if (typeof contentLength !== "number" || !Number.isSafeInteger(contentLength) || contentLength < 0) {
    throw new EventMessageError("the event's data.contentLength is not a whole number of bytes");
  }
  return {
    id: typeof event.id === "string" ? event.id : "",
    container: path[1],
    blobName: path[2],
    api: field("api"),
    contentType:
      typeof (data as Record<string, unknown>).contentType === "string" ? field("contentType") : "",
    contentLength,
    blobType: field("blobType"),
    eTag: field("eTag"),
    url: field("url"),
    sequencer:
      typeof (data as Record<string, unknown>).sequencer === "string"
        ? ((data as Record<string, unknown>).sequencer as string)
        : "",
  };
}

function describe(value: unknown): string {
  if (typeof value !== "string") return "missing";
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** Why an upload was refused, as a stable code for logs and the plain-language reason for people. */
export type Rejection = { readonly code: RejectionCode; readonly reason: string };
export type RejectionCode =
  | "malware"
  | "notScanned"
  | "blobType"
  | "empty"
  | "tooLarge"
  | "overDeclared"
  | "extension"
  | "notImage"
  | "typeNotAllowed"
  | "typeMismatch"
  | "svg"
  | "unreadableHeader"
  | "unreadableBlob"
  | "truncated"
  | "trailingData"
  | "noImage"
  | "gifText"
  | "tooManyPixels";

export type Verdict =
  | {
      readonly accepted: true;
      readonly contentType: ImageContentType;
      readonly width: number;
      readonly height: number;
    }
  | ({ readonly accepted: false } & Rejection);

const reject = (code: RejectionCode, reason: string): Verdict => ({ accepted: false, code, reason });

/** What the check needs to know about the blob before reading it: the event's and the blob's own word. */
export interface StoredBlob {
  readonly blobType: string | undefined;
  readonly contentLength: number;
  /** The size its token declared (uploadNames.ts declaredSize), when the name carries one. */
  readonly declaredBytes?: number;
  /** The blob's access tier (Hot, Cool, Cold, Archive), when its properties name one. */
  readonly accessTier?: string;
  /** Whether it is encrypted with a key of the uploader's (a customer-provided key). */
  readonly customerKey?: boolean;
}

/**
 * Blobs the check cannot read, whatever it tries: their bytes can never be judged, so they are refused
 * (and deleted) rather than retried until the message is poisoned and the upload stays pending. An uploader
 * may put a blob straight into the Archive tier (Put Blob's x-ms-access-tier), which refuses reads (409
 * BlobArchived) until rehydrated; or encrypt it with a key of its own (x-ms-encryption-key), without which
 * reads are refused (409 BlobUsesCustomerSpecifiedEncryption).
 * https://learn.microsoft.com/rest/api/storageservices/put-blob#request-headers (x-ms-access-tier)
 * https://learn.microsoft.com/azure/storage/blobs/archive-rehydrate-overview
 * https://learn.microsoft.com/azure/storage/blobs/encryption-customer-provided-keys
 * https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes
 */
const UNREADABLE = {
  archived: "the file was stored in the Archive tier, where it cannot be read: upload it without a tier",
  customerKey:
    "the file is encrypted with a key of the uploader's, which the check does not have: upload it without one",
} as const;

/** The refusal for a read the storage service refused for good (by its error code), if it is one. */
export function judgeReadRefusal(code: string | undefined): Verdict | undefined {
  if (code === "BlobArchived") return reject("unreadableBlob", UNREADABLE.archived);
  if (code === "BlobUsesCustomerSpecifiedEncryption") return reject("unreadableBlob", UNREADABLE.customerKey);
  return undefined;
}

/**
 * Steps 1 and 2, from properties alone: block blobs only (a page blob can be sparse and terabytes large, an
 * append blob keeps growing after it was checked), within the size limit and the size its token declared,
 * so a large blob is refused without a byte of it being read. Undefined: read the first bytes and judge them.
 */
export function judgeProperties(blob: StoredBlob, maxUploadBytes: number): Verdict | undefined {
  if (blob.blobType !== "BlockBlob") {
    const kind =
      blob.blobType === "PageBlob"
        ? "a page blob"
        : blob.blobType === "AppendBlob"
          ? "an append blob"
          : "not a block blob";
    return reject(
      "blobType",
      `the file is ${kind}: only block blobs, as a browser uploads them, are accepted`,
    );
  }
  if (blob.contentLength === 0) return reject("empty", "the file is empty");
  if (blob.accessTier?.toLowerCase() === "archive") return reject("unreadableBlob", UNREADABLE.archived);
  if (blob.customerKey) return reject("unreadableBlob", UNREADABLE.customerKey);
  if (blob.contentLength > maxUploadBytes) {
    return reject(
      "tooLarge",
      `the file is ${blob.contentLength} bytes, over the limit of ${maxUploadBytes} bytes`,
    );
  }
  // The daily allowance counted the declared size: a larger blob would be stored beyond it. Blob Storage
  // has no condition on a SAS upload's length (what S3's content-length-range does), so the check is it.
  if (blob.declaredBytes !== undefined && blob.contentLength > blob.declaredBytes) {
    return reject(
      "overDeclared",
      `the file is ${blob.contentLength} bytes, more than the ${blob.declaredBytes} bytes declared for its token`,
    );
  }
  return undefined;
}

export interface ContentRules {
  readonly allowedContentTypes: readonly ImageContentType[];
  readonly maxImagePixels: number;
}

/**
 * Steps 3 and 4, from the first bytes (at most HEAD_BYTES): the real type, detected from the bytes by
 * `file-type`, must be allowed and match the name's extension; SVG never passes (it can carry script); the
 * header must give dimensions (`image-size`), and the canvas they make with every frame (canvasOf) must be
 * within the pixel cap, which stops decompression bombs before anything decodes them.
 */
export async function judgeContent(
  blobName: string,
  /** The first bytes, or all of them for a file no larger than HEAD_BYTES or whose frames lie throughout. */
  head: Uint8Array,
  rules: ContentRules,
  /**
   * The whole file's size, or `true` when `head` is the whole file: then its end is checked too (for WebP
   * and ISO-BMFF files, whose structure states their length, also when only their first bytes were read).
   */
  fileSize: number | boolean = false,
): Promise<Verdict> {
  // Type and header from the first bytes; frames and the end from all that was read.
  const bytes = head.subarray(0, HEAD_BYTES);
  const extension = blobName.includes(".") ? (blobName.split(".").pop()?.toLowerCase() ?? "") : "";
  const named = typeForExtension(extension);
  if (!named || !rules.allowedContentTypes.includes(named)) {
    const allowed = rules.allowedContentTypes.flatMap((type) =>
      IMAGE_EXTENSIONS[type].map((ext) => `.${ext}`),
    );
    return reject(
      "extension",
      // The name is the uploader's: only its letters and digits are repeated.
      `the file name ${extension ? `ends in .${extension.slice(0, 20).replace(/[^a-z0-9]/g, "?")}` : "has no extension"}, not one of ${allowed.join(", ")}`,
    );
  }
  const label = TYPE_LABELS[named];
  const detected = await detectType(bytes);
  if (detected.kind === "svg")
    return reject("svg", `the file is not ${label}: its bytes are SVG, which is never accepted`);
  if (detected.kind !== "image") {
    return reject("notImage", `the file is not ${label}: its bytes are ${detected.description}`);
  }
  if (!rules.allowedContentTypes.includes(detected.type)) {
    return reject("typeNotAllowed", `the file is ${TYPE_LABELS[detected.type]}, which is not allowed`);
  }
  if (detected.type !== named) {
    return reject("typeMismatch", `the file is not ${label}: its bytes are ${TYPE_LABELS[detected.type]}`);
  }
  const size = dimensions(bytes);
  const kind = label.replace(/^an? /, "");
  if (!size) {
    return reject(
      "unreadableHeader",
      `the ${kind}'s header cannot be read: the file is damaged or cut short`,
    );
  }
  const read = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const total = fileSize === true ? read.length : fileSize === false ? undefined : fileSize;
  const ending = total === undefined ? "complete" : endOf(detected.type, read, total);
  if (ending === "truncated") {
    return reject("truncated", `the ${kind} is cut short: it does not end as such a file ends`);
  }
  if (ending === "trailing") {
    return reject(
      "trailingData",
      `the ${kind} has data after its end: other content may be hidden behind the image`,
    );
  }
  if (detected.type === "image/gif" && total !== undefined && total <= read.length) {
    const gif = walkGif(read);
    if (gif.frames.length === 0) return reject("noImage", "the GIF image holds no image, only its header");
    if (gif.texts.some((text) => !isPlainText(text))) {
      return reject(
        "gifText",
        "the GIF image carries text with characters of markup or script in a comment or extension: only plain words are accepted there",
      );
    }
  }
  const canvas = canvasOf(detected.type, read, size);
  if (canvas.width * canvas.height > rules.maxImagePixels) {
    return reject(
      "tooManyPixels",
      `the image is ${canvas.width} × ${canvas.height} pixels, over the limit of ${rules.maxImagePixels} pixels`,
    );
  }
  return { accepted: true, contentType: detected.type, ...canvas };
}

const TYPE_LABELS: Record<ImageContentType, string> = {
  "image/jpeg": "a JPEG image",
  "image/png": "a PNG image",
  "image/gif": "a GIF image",
  "image/webp": "a WebP image",
  "image/avif": "an AVIF image",
  "image/heic": "a HEIC image",
  "image/heif": "a HEIF image",
  "image/bmp": "a BMP image",
  "image/tiff": "a TIFF image",
};

function typeForExtension(extension: string): ImageContentType | undefined {
  for (const [type, extensions] of Object.entries(IMAGE_EXTENSIONS)) {
    if ((extensions as readonly string[]).includes(extension) && isImageContentType(type)) return type;
  }
  return undefined;
}

type Detected =
  | { kind: "image"; type: ImageContentType }
  | { kind: "svg" }
  | { kind: "other"; description: string };

/** `file-type` is an ES module: loaded once, on the first check (the bundle inlines it). */
let fileTypeModule: Promise<typeof import("file-type", { with: { "resolution-mode": "import" }})> | undefined;

async function detectType(bytes: Uint8Array): Promise<Detected> {
  fileTypeModule ??= import("file-type");
  const { fileTypeFromBuffer } = await fileTypeModule;
  const found = await fileTypeFromBuffer(bytes);
  // XML is reported as such: whether it is SVG or XHTML is told below.
  if (found && found.mime !== "application/xml") {
    if (isImageContentType(found.mime)) return { kind: "image", type: found.mime };
    if (found.mime === "image/svg+xml") return { kind: "svg" };
    return { kind: "other", description: `${found.ext.toUpperCase()} (${found.mime})` };
  }
  // `file-type` recognizes binary formats only: markup, which a browser would run, is told apart here.
  return sniffText(bytes);
}

function sniffText(bytes: Uint8Array): Detected {
  const text = Buffer.from(bytes.subarray(0, 4096))
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .trimStart()
    .toLowerCase();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!doctype svg|<svg[\s>])/.test(text)) return { kind: "svg" };
  if (
    /^(<!--[\s\S]*?-->\s*)*(<!doctype html|<html|<head|<body|<script|<iframe|<meta|<!--|<\?xml)/.test(text)
  ) {
    return { kind: "other", description: "HTML" };
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: binary bytes are what this looks for.
  if (text !== "" && !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text))
    return { kind: "other", description: "text" };
  return { kind: "other", description: "not a known file type" };
}

/**
 * Whether the file ends as its format says a file ends, with nothing after it but zero padding (some
 * cameras pad; harmless): a PNG's chunks run to IEND, a GIF's blocks to its trailer, a JPEG's segments and
 * scans to the EOI marker (these three only for a file read whole); a WebP ends at 8 + its RIFF size, and an
 * AVIF, HEIC or HEIF's top-level boxes account for every byte (these also for a file only begun: their
 * structure states where they end, compared with the file's size). Walking the structure, rather than
 * looking at the last bytes, finds the real end, so a file that appends script after a fake trailer (a
 * GIF/JS polyglot ends in `;`, the GIF trailer byte) is refused. BMP and TIFF are not checked here.
 */
function endOf(type: ImageContentType, data: Buffer, size: number): "complete" | "truncated" | "trailing" {
  const whole = size <= data.length;
  const end =
    type === "image/webp"
      ? riffEnd(data)
      : type === "image/avif" || type === "image/heic" || type === "image/heif"
        ? boxesEnd(data, size)
        : !whole
          ? size
          : type === "image/png"
            ? pngEnd(data)
            : type === "image/gif"
              ? walkGif(data).end
              : type === "image/jpeg"
                ? jpegEnd(data)
                : size;
  if (end === undefined || end > size) return "truncated";
  if (end === size) return "complete";
  // Past the end: only zeros, and only where they were read.
  return whole && data.subarray(end, size).every((byte) => byte === 0) ? "complete" : "trailing";
}

/** Where a RIFF file ends: the 8 bytes of its header plus the size it states. https://developers.google.com/speed/webp/docs/riff_container */
function riffEnd(data: Buffer): number | undefined {
  return data.length >= 8 ? 8 + data.readUInt32LE(4) : undefined;
}

/**
 * Where the last top-level box of an ISO-BMFF file (AVIF, HEIC, HEIF) ends: each box starts with its size
 * (32 bits; 1 means a 64-bit size follows, 0 means it runs to the end of the file). A box that runs past the
 * bytes read must be the last: the walk cannot see beyond it, so its end is the file's only if it is the
 * file's size.
 * https://www.iso.org/standard/83102.html (ISO/IEC 14496-12, 4.2 Object structure)
 */
function boxesEnd(data: Buffer, size: number): number | undefined {
  let at = 0;
  while (at + 8 <= data.length) {
    let length = data.readUInt32BE(at);
    if (length === 1) {
      if (at + 16 > data.length) return undefined;
      length = Number(data.readBigUInt64BE(at + 8));
    } else if (length === 0) {
      return size;
    }
    if (length < 8) return undefined;
    at += length;
  }
  return at === data.length || at > data.length ? at : undefined;
}

/** Where a PNG's IEND chunk ends. https://www.w3.org/TR/png-3/#5Chunk-layout */
function pngEnd(data: Buffer): number | undefined {
  for (let at = 8; at + 8 <= data.length; ) {
    const length = data.readUInt32BE(at);
    const name = data.toString("latin1", at + 4, at + 8);
    at += 12 + length;
    if (name === "IEND") return at;
  }
  return undefined;
}

/** Where an image lies on its canvas, in pixels. */
interface Frame {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * A GIF's blocks, walked from the screen descriptor and global colour table through extensions and images
 * (each with its sub-blocks) to the trailer (0x3B): where the trailer ends (undefined when the walk does not
 * reach one) and every image descriptor's place on the canvas.
 * https://www.w3.org/Graphics/GIF/spec-gif89a.txt (sections 17 to 27)
 */
function walkGif(data: Buffer): { end: number | undefined; frames: Frame[]; texts: Buffer[] } {
  const colourTable = (flags: number) => (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
  const subBlocks = (from: number): number | undefined => {
    let at = from;
    while (at < data.length) {
      const size = data[at] ?? 0;
      at += 1 + size;
      if (size === 0) return at;
    }
    return undefined;
  };
  const frames: Frame[] = [];
  const texts: Buffer[] = [];
  let at: number | undefined = 13 + colourTable(data[10] ?? 0);
  while (at !== undefined && at < data.length) {
    const introducer = data[at];
    if (introducer === 0x3b) return { end: at + 1, frames, texts };
    if (introducer === 0x21) {
      const from: number = at + 2;
      at = subBlocks(from);
      const label = data[from - 1];
      const text = at === undefined ? undefined : subBlockData(data, from, at);
      if (text && isTextExtension(label, text)) texts.push(text);
    } else if (introducer === 0x2c && at + 10 <= data.length) {
      frames.push({
        left: data.readUInt16LE(at + 1),
        top: data.readUInt16LE(at + 3),
        width: data.readUInt16LE(at + 5),
        height: data.readUInt16LE(at + 7),
      });
      at = subBlocks(at + 10 + colourTable(data[at + 9] ?? 0) + 1);
    } else return { end: undefined, frames, texts };
  }
  return { end: undefined, frames, texts };
}

/** The data of the sub-blocks between `from` and `to` (the terminator's end), without their size bytes. */
function subBlockData(data: Buffer, from: number, to: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = from; at < to - 1; at += 1 + (data[at] ?? 0)) {
    parts.push(data.subarray(at + 1, at + 1 + (data[at] ?? 0)));
  }
  return Buffer.concat(parts);
}

/**
 * The extensions whose data a GIF decoder never paints or acts on, where a polyglot hides its script:
 * comments (0xFE), plain text (0x01) and application extensions (0xFF) other than the looping one
 * (NETSCAPE2.0 or ANIMEXTS1.0, whose data is a loop count). The graphic control extension (0xF9) is a fixed
 * four bytes of timing and flags.
 */
function isTextExtension(label: number | undefined, data: Buffer): boolean {
  if (label === 0xfe || label === 0x01) return true;
  if (label !== 0xff) return false;
  const identifier = data.toString("latin1", 0, 11);
  return identifier !== "NETSCAPE2.0" && identifier !== "ANIMEXTS1.0";
}

/**
 * What such an extension may hold: printable text without the characters markup or script needs to do
 * anything (`< > ( ) { } [ ] ; = \` $ \`), so a comment such as "Created with GIMP" passes and a script,
 * an HTML tag or an XMP packet does not. Anything else in it (binary included) is refused.
 */
function isPlainText(text: Buffer): boolean {
  return (
    /^[\t\n\r\x20-\x7e]*$/.test(text.toString("latin1")) && !/[<>(){}[\];=`$\\]/.test(text.toString("latin1"))
  );
}

/**
 * An animated WebP's frames (ANMF chunks) on its canvas: each frame's offset (stored halved) and size. A
 * still WebP's one bitstream is the size image-size reads.
 * https://developers.google.com/speed/webp/docs/riff_container#animation
 */
function webpFrames(data: Buffer): Frame[] {
  const u24 = (at: number) => data.readUIntLE(at, 3);
  const frames: Frame[] = [];
  for (let at = 12; at + 8 <= data.length; ) {
    const name = data.toString("latin1", at, at + 4);
    const size = data.readUInt32LE(at + 4);
    if (name === "ANMF" && at + 8 + 12 <= data.length) {
      const payload = at + 8;
      frames.push({
        left: 2 * u24(payload),
        top: 2 * u24(payload + 3),
        width: 1 + u24(payload + 6),
        height: 1 + u24(payload + 9),
      });
    }
    at += 8 + size + (size % 2);
  }
  return frames;
}

/**
 * The canvas a browser paints: the header's size, grown to hold every frame where the format places frames
 * of their own size (GIF image descriptors, WebP animation frames). A GIF whose screen is 1 × 1 and whose
 * one image is 65535 × 65535 is decoded at the image's size (Chromium's GIF reader enlarges the screen to the
 * first frame; every frame is allocated at its own size), so the pixel cap applies to the extent.
 * https://source.chromium.org/chromium/chromium/src/+/main:third_party/skia/src/codec/SkGifCodec.cpp
 */
function canvasOf(
  type: ImageContentType,
  data: Buffer,
  header: { width: number; height: number },
): { width: number; height: number } {
  const frames = type === "image/gif" ? walkGif(data).frames : type === "image/webp" ? webpFrames(data) : [];
  return frames.reduce(
    (canvas, frame) => ({
      width: Math.max(canvas.width, frame.left + frame.width),
      height: Math.max(canvas.height, frame.top + frame.height),
    }),
    header,
  );
}

/** Formats whose frames lie throughout the file: the check reads all of such a file to see each one. */
export function framesThroughout(head: Uint8Array): boolean {
  const text = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 12)).toString("latin1");
  return text.startsWith("GIF8") || (text.startsWith("RIFF") && text.slice(8, 12) === "WEBP");
}

/**
 * Where a JPEG's EOI marker ends, found by walking its segments (each with a length) and its scans (entropy
 * coded data runs to the next marker other than a restart; 0xFF00 is a stuffed byte).
 * https://www.w3.org/Graphics/JPEG/itu-t81.pdf (annex B)
 */
function jpegEnd(data: Buffer): number | undefined {
  let at = 2;
  while (at + 1 < data.length) {
    if (data[at] !== 0xff) return undefined;
    const marker = data[at + 1] ?? 0;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) return at + 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (at + 4 > data.length) return undefined;
    at += 2 + data.readUInt16BE(at + 2);
    if (marker !== 0xda) continue;
    while (at + 1 < data.length) {
      const next = data[at + 1] ?? 0;
      if (data[at] === 0xff && next !== 0 && !(next >= 0xd0 && next <= 0xd7)) break;
      at += 1;
    }
  }
  return undefined;
}

function dimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  try {
    const size = imageSize(bytes);
    // A file holding several images (an AVIF or HEIF collection) is as large as its largest one.
    const all = [size, ...(size.images ?? [])];
    const largest = all.reduce((a, b) => (a.width * a.height >= b.width * b.height ? a : b));
    if (!(largest.width > 0 && largest.height > 0)) return undefined;
    return { width: largest.width, height: largest.height };
  } catch {
    return undefined;
  }
}
