// The pure check of a stored upload (function/checking/uploadCheck.ts): real small images of every type the policy
// can allow pass; hostile files are refused with the reason a person reads; queue messages in every form.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { imageSize } from "image-size";
import { describe, expect, test } from "vitest";
import {
  EventMessageError,
  judgeContent,
  judgeProperties,
  judgeReadRefusal,
  parseBlobCreatedMessage,
} from "../../function/checking/uploadCheck";
import { DEFAULT_MAX_IMAGE_PIXELS, HEAD_BYTES } from "../../function/contract/check";
import { IMAGE_EXTENSIONS, type ImageContentType } from "../../function/contract/issuanceLimits";
import { declaredSize, isUploadName, uploadBlobName } from "../../function/contract/uploadNames";
import { gifWithFrame } from "../support/images";

const fixture = (name: string) => readFileSync(join(__dirname, "../fixtures/images", name));
const ALL_TYPES = Object.keys(IMAGE_EXTENSIONS) as ImageContentType[];
const rules = { allowedContentTypes: ALL_TYPES, maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS };

/** A PNG whose header (IHDR) claims the given size; the image data is the 8 × 8 fixture's. */
function pngClaiming(width: number, height: number): Buffer {
  const png = Buffer.from(fixture("pixel.png"));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  return png;
}

describe("real images of every allowed type", () => {
  test.each([
    ["pixel.jpg", "photo.jpg", "image/jpeg"],
    ["pixel.jpg", "photo.jpeg", "image/jpeg"],
    ["pixel.png", "photo.png", "image/png"],
    ["pixel.gif", "photo.gif", "image/gif"],
    ["pixel.webp", "photo.webp", "image/webp"],
    ["pixel.avif", "photo.avif", "image/avif"],
    ["pixel.heic", "photo.heic", "image/heic"],
    ["pixel.heif", "photo.heif", "image/heif"],
    ["pixel.bmp", "photo.bmp", "image/bmp"],
    ["pixel.tiff", "photo.tiff", "image/tiff"],
    ["pixel.tiff", "photo.tif", "image/tiff"],
  ])("%s stored as %s is accepted as %s", async (file, blobName, contentType) => {
    const verdict = await judgeContent(blobName, fixture(file), rules, true);
    expect(verdict).toMatchObject({ accepted: true, contentType });
  });

  test("every type the policy can allow has an image in the table above", () => {
    expect(ALL_TYPES.sort()).toEqual([
      "image/avif",
      "image/bmp",
      "image/gif",
      "image/heic",
      "image/heif",
      "image/jpeg",
      "image/png",
      "image/tiff",
      "image/webp",
    ]);
  });

  test("an image within the pixel cap passes, one pixel over it does not", async () => {
    const png = pngClaiming(100, 100);
    expect(await judgeContent("a.png", png, { ...rules, maxImagePixels: 10_000 })).toMatchObject({
      accepted: true,
    });
    expect(await judgeContent("a.png", png, { ...rules, maxImagePixels: 9_999 })).toMatchObject({
      code: "tooManyPixels",
    });
  });
});

describe("the end of a file read whole", () => {
  test.each([
    ["pixel.gif", "padded.gif"],
    ["pixel.jpg", "padded.jpg"],
    ["pixel.png", "padded.png"],
  ])("%s followed by zero padding is still accepted", async (file, blobName) => {
    const padded = Buffer.concat([fixture(file), Buffer.alloc(64)]);
    expect(await judgeContent(blobName, padded, rules, true)).toMatchObject({ accepted: true });
  });
});

describe("files larger than the bytes read", () => {
  test("a JPEG whose frame header lies beyond HEAD_BYTES of metadata is refused as unreadable, not read further", async () => {
    const jpeg = fixture("pixel.jpg");
    // An APP2 segment of the largest size, three times: 192 KiB of metadata before the frame header.
    const segment = Buffer.alloc(65537);
    segment.writeUInt16BE(0xffe2, 0);
    segment.writeUInt16BE(65535, 2);
    const photo = Buffer.concat([jpeg.subarray(0, 2), segment, segment, segment, jpeg.subarray(2)]);
    // A sound JPEG when read whole.
    expect(imageSize(photo)).toMatchObject({ width: 8, height: 8 });
    expect(await judgeContent("photo.jpg", photo.subarray(0, HEAD_BYTES), rules)).toMatchObject({
      accepted: false,
      code: "unreadableHeader",
    });
  });
});

describe("hostile files", () => {
  const html = Buffer.from(
    "<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
  );
  const svg = Buffer.from(
    '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
  );
  const elf = Buffer.concat([Buffer.from("7f454c4602010100", "hex"), Buffer.alloc(2000)]);

  test.each([
    ["HTML named .png", "page.png", html, "notImage", "the file is not a PNG image: its bytes are HTML"],
    [
      "SVG named .png",
      "vector.png",
      svg,
      "svg",
      "the file is not a PNG image: its bytes are SVG, which is never accepted",
    ],
    ["SVG named .svg", "vector.svg", svg, "extension", "the file name ends in .svg, not one of"],
    [
      "an executable named .jpg",
      "tool.jpg",
      elf,
      "notImage",
      "the file is not a JPEG image: its bytes are ELF",
    ],
    [
      "a truncated PNG",
      "cut.png",
      fixture("pixel.png").subarray(0, 60),
      "truncated",
      "the PNG image is cut short: it does not end as such a file ends",
    ],
    [
      "a truncated JPEG",
      "cut.jpg",
      fixture("pixel.jpg").subarray(0, 400),
      "truncated",
      "the JPEG image is cut short",
    ],
    [
      "a GIF/JS polyglot (script after the real trailer, ending in the trailer byte)",
      "polyglot.gif",
      Buffer.concat([fixture("pixel.gif"), Buffer.from("*/=alert(document.cookie);")]),
      "trailingData",
      "the GIF image has data after its end",
    ],
    [
      "a JPEG with markup and a second EOI after its real end",
      "polyglot.jpg",
      Buffer.concat([
        fixture("pixel.jpg"),
        Buffer.from("<script>alert(1)</script>"),
        Buffer.from("ffd9", "hex"),
      ]),
      "trailingData",
      "the JPEG image has data after its end",
    ],
    [
      "a GIF cut inside its image data, ending in 0x3B",
      "cut.gif",
      Buffer.concat([fixture("pixel.gif").subarray(0, fixture("pixel.gif").length - 4), Buffer.from([0x3b])]),
      "truncated",
      "the GIF image is cut short",
    ],
    [
      "a JPEG cut before its frame header",
      "cut.jpg",
      fixture("pixel.jpg").subarray(0, 100),
      "unreadableHeader",
      "the JPEG image's header cannot be read",
    ],
    [
      "a PNG whose header says 0 × 0 pixels",
      "empty.png",
      pngClaiming(0, 0),
      "unreadableHeader",
      "the PNG image's header cannot be read",
    ],
    [
      "a PNG claiming 100000 × 100000 pixels",
      "bomb.png",
      pngClaiming(100_000, 100_000),
      "tooManyPixels",
      "the image is 100000 × 100000 pixels, over the limit of 100000000 pixels",
    ],
    [
      "a JPEG named .png",
      "photo.png",
      fixture("pixel.jpg"),
      "typeMismatch",
      "the file is not a PNG image: its bytes are a JPEG image",
    ],
    [
      "plain text named .gif",
      "notes.gif",
      Buffer.from("just some notes\n"),
      "notImage",
      "its bytes are text",
    ],
  ])("%s is rejected", async (_, blobName, bytes, code, reason) => {
    const verdict = await judgeContent(blobName, bytes, rules, true);
    expect(verdict).toMatchObject({ accepted: false, code });
    expect(verdict.accepted ? "" : verdict.reason).toContain(reason);
  });

  test("a type the policy does not allow is rejected even when the name matches", async () => {
    const verdict = await judgeContent("photo.bmp", fixture("pixel.bmp"), {
      ...rules,
      allowedContentTypes: ["image/png"],
    });
    expect(verdict).toMatchObject({ accepted: false, code: "extension" });
  });

  test("only the first 128 KiB are looked at: an image whose header lies past them is not found", async () => {
    const padded = Buffer.concat([Buffer.alloc(HEAD_BYTES), fixture("pixel.png")]);
    expect(await judgeContent("late.png", padded, rules)).toMatchObject({
      accepted: false,
      code: "notImage",
    });
  });

  test.each([
    ["an empty blob", { blobType: "BlockBlob", contentLength: 0 }, "empty", "the file is empty"],
    ["a page blob", { blobType: "PageBlob", contentLength: 512 }, "blobType", "the file is a page blob"],
    [
      "an append blob",
      { blobType: "AppendBlob", contentLength: 10 },
      "blobType",
      "the file is an append blob",
    ],
    [
      "a blob over the size cap",
      { blobType: "BlockBlob", contentLength: 2049 },
      "tooLarge",
      "the file is 2049 bytes, over the limit of 2048 bytes",
    ],
  ])("%s is rejected from its properties alone", (_, blob, code, reason) => {
    const verdict = judgeProperties(blob, 2048);
    expect(verdict).toMatchObject({ accepted: false, code });
    expect(verdict && !verdict.accepted ? verdict.reason : "").toContain(reason);
  });

  test("a block blob within the size cap is left for its bytes to decide", () => {
    expect(judgeProperties({ blobType: "BlockBlob", contentLength: 2048 }, 2048)).toBeUndefined();
  });
});

describe("queue messages", () => {
  const event = {
    topic: "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z",
    subject: "/blobServices/default/containers/images/blobs/0b5e.png",
    eventType: "Microsoft.Storage.BlobCreated",
    id: "event-1",
    eventTime: "2026-01-01T00:00:00Z",
    data: {
      api: "PutBlob",
      contentType: "image/png",
      contentLength: 94,
      blobType: "BlockBlob",
      eTag: '"0x8DC0000000000001"',
      url: "https://z.blob.core.windows.net/images/0b5e.png",
      sequencer: "00000000000000000000000000000001",
    },
    dataVersion: "",
    metadataVersion: "1",
  };
  const expected = {
    id: "event-1",
    container: "images",
    blobName: "0b5e.png",
    api: "PutBlob",
    contentLength: 94,
    blobType: "BlockBlob",
    eTag: '"0x8DC0000000000001"',
  };

  test.each([
    ["an object (the worker parsed the JSON)", event],
    ["JSON text", JSON.stringify(event)],
    ["base64 of JSON text", Buffer.from(JSON.stringify(event)).toString("base64")],
    ["bytes of JSON text", new TextEncoder().encode(JSON.stringify(event))],
    ["a one-event array", [event]],
  ])("reads the event from %s", (_, message) => {
    expect(parseBlobCreatedMessage(message)).toMatchObject(expected);
  });

  test.each([
    ["text that is neither JSON nor base64", "hello, queue", "neither JSON nor base64"],
    [
      "another event type",
      { ...event, eventType: "Microsoft.Storage.BlobDeleted" },
      '"Microsoft.Storage.BlobDeleted"',
    ],
    [
      "a subject that names no blob",
      { ...event, subject: "/blobServices/default/containers/images" },
      "subject",
    ],
    ["an event without an ETag", { ...event, data: { ...event.data, eTag: undefined } }, "data.eTag"],
    ["a negative length", { ...event, data: { ...event.data, contentLength: -1 } }, "contentLength"],
    ["a number", 42, "not a JSON object"],
  ])("refuses %s with a message that says what is wrong", (_, message, says) => {
    expect(() => parseBlobCreatedMessage(message)).toThrow(EventMessageError);
    expect(() => parseBlobCreatedMessage(message)).toThrow(says);
  });
});

describe("frames larger than the header says", () => {
  test.each([
    ["a 20000 × 20000 frame", [0, 0, 20000, 20000], "20000 × 20000"],
    ["a 65535 × 65535 frame", [0, 0, 65535, 65535], "65535 × 65535"],
    ["a small frame placed far off the screen", [60000, 60000, 10, 10], "60010 × 60010"],
  ] as const)("a GIF with a 1 × 1 screen and %s is refused for its canvas", async (_, frame, size) => {
    const gif = gifWithFrame([1, 1], [...frame]);
    expect(gif.length).toBeLessThan(40);
    const verdict = await judgeContent("bomb.gif", gif, rules, true);
    expect(verdict).toMatchObject({ accepted: false, code: "tooManyPixels" });
    expect(verdict.accepted ? "" : verdict.reason).toContain(`the image is ${size} pixels`);
  });

  test("a GIF whose frame fits its screen is accepted at the screen's size", async () => {
    const verdict = await judgeContent("fine.gif", gifWithFrame([300, 200], [10, 10, 100, 100]), rules, true);
    expect(verdict).toMatchObject({ accepted: true, width: 300, height: 200 });
  });

  test("a frame past the screen counts: the canvas grows to hold it", async () => {
    const verdict = await judgeContent("grown.gif", gifWithFrame([10, 10], [5, 0, 20, 30]), rules, true);
    expect(verdict).toMatchObject({ accepted: true, width: 25, height: 30 });
  });

  test("an animated WebP whose frame lies outside its 1 × 1 canvas is refused for the frame's extent", async () => {
    const chunk = (name: string, payload: Buffer) => {
      const head = Buffer.alloc(8);
      head.write(name, 0, "latin1");
      head.writeUInt32LE(payload.length, 4);
      return Buffer.concat([head, payload, Buffer.alloc(payload.length % 2)]);
    };
    const u24 = (value: number) => Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]);
    const vp8x = Buffer.concat([Buffer.from([0x02, 0, 0, 0]), u24(0), u24(0)]);
    const anim = Buffer.alloc(6);
    // An ANMF frame at (2 × 10000, 2 × 10000), 16384 × 16384, with a lossless bitstream of its own.
    const frameHead = Buffer.concat([
      u24(10000),
      u24(10000),
      u24(16383),
      u24(16383),
      u24(0),
      Buffer.from([0]),
    ]);
    const still = fixture("pixel.webp").subarray(12);
    const body = Buffer.concat([
      Buffer.from("WEBP", "latin1"),
      chunk("VP8X", vp8x),
      chunk("ANIM", anim),
      chunk("ANMF", Buffer.concat([frameHead, still])),
    ]);
    const riff = Buffer.alloc(8);
    riff.write("RIFF", 0, "latin1");
    riff.writeUInt32LE(body.length, 4);
    const verdict = await judgeContent("bomb.webp", Buffer.concat([riff, body]), rules, true);
    expect(verdict).toMatchObject({ accepted: false, code: "tooManyPixels" });
    expect(verdict.accepted ? "" : verdict.reason).toContain("36384 × 36384");
  });
});

describe("the size a token declared", () => {
  test("a name the function gave carries its declared size, and a blob over it is refused from its properties", () => {
    const name = uploadBlobName(1000, "png");
    expect(declaredSize(name)).toBe(1000);
    const blob = { blobType: "BlockBlob", declaredBytes: declaredSize(name) };
    expect(judgeProperties({ ...blob, contentLength: 1000 }, 50_000)).toBeUndefined();
    expect(judgeProperties({ ...blob, contentLength: 1001 }, 50_000)).toMatchObject({ code: "overDeclared" });
  });

  test("a name without a size (a container token's) is held to the size limit only", () => {
    expect(declaredSize("photo.png")).toBeUndefined();
    expect(declaredSize(uploadBlobName(undefined, "png"))).toBeUndefined();
  });

  test("a name is an upload's only in its mode's form: one segment anonymous, under an owner's signed in", () => {
    const name = uploadBlobName(1000, "png");
    expect(isUploadName(name, false)).toBe(true);
    expect(isUploadName(`alice/${name}`, false)).toBe(false);
    expect(isUploadName(`alice/${name}`, true)).toBe(true);
    expect(isUploadName(name, true)).toBe(false);
    expect(declaredSize(`alice/${name}`)).toBe(1000);
    for (const bad of [
      "../verified/y.png",
      "./y.png",
      "alice/../y.png",
      "../y.png",
      "a/b/c.png",
      ".hidden.png",
    ]) {
      expect([isUploadName(bad, false), isUploadName(bad, true), isUploadName(bad)]).toEqual([
        false,
        false,
        false,
      ]);
    }
  });
});

describe("blobs the check cannot read", () => {
  const blob = { blobType: "BlockBlob", contentLength: 100 };

  test("a blob in the Archive tier, or under a key of the uploader's, is refused from its properties", () => {
    expect(judgeProperties({ ...blob, accessTier: "Archive" }, 1000)).toMatchObject({
      code: "unreadableBlob",
    });
    expect(judgeProperties({ ...blob, customerKey: true }, 1000)).toMatchObject({ code: "unreadableBlob" });
    expect(judgeProperties({ ...blob, accessTier: "Hot" }, 1000)).toBeUndefined();
  });

  test("a read the service refuses for good is a refusal; any other failure is left to retry", () => {
    expect(judgeReadRefusal("BlobArchived")).toMatchObject({ accepted: false, code: "unreadableBlob" });
    expect(judgeReadRefusal("BlobUsesCustomerSpecifiedEncryption")).toMatchObject({
      reason:
        "the file is encrypted with a key of the uploader's, which the check does not have: upload it without one",
    });
    expect(judgeReadRefusal("ServerBusy")).toBeUndefined();
    expect(judgeReadRefusal(undefined)).toBeUndefined();
  });
});

describe("the end of every format", () => {
  const htmlTail = Buffer.from("<html><script>alert(document.cookie)</script></html>");

  // After an ISO-BMFF file's boxes, the HTML's first bytes read as a box's size and type, a box that runs
  // past the file's end: the structure does not end where the file does.
  test.each([
    ["pixel.webp", "tail.webp", "trailingData"],
    ["pixel.avif", "tail.avif", "truncated"],
    ["pixel.heic", "tail.heic", "truncated"],
    ["pixel.heif", "tail.heif", "truncated"],
  ])("%s with HTML after its end is refused", async (file, blobName, code) => {
    const tailed = Buffer.concat([fixture(file), htmlTail]);
    expect(await judgeContent(blobName, tailed, rules, true)).toMatchObject({ accepted: false, code });
    const boxed = Buffer.concat([fixture(file), Buffer.from([0, 0, 0, 8]), Buffer.from("free"), htmlTail]);
    expect(await judgeContent(blobName, boxed, rules, true)).toMatchObject({ accepted: false });
  });

  test.each(["pixel.webp", "pixel.avif"])(
    "%s larger than the bytes read is refused when its structure ends before the file does",
    async (file) => {
      const image = fixture(file);
      const name = `big.${file.split(".")[1]}`;
      // Only the image was read, but the blob holds 1 MiB more: the structure accounts for none of it.
      expect(await judgeContent(name, image, rules, image.length + 1024 * 1024)).toMatchObject({
        code: "trailingData",
      });
      expect(await judgeContent(name, image, rules, image.length)).toMatchObject({ accepted: true });
    },
  );

  test("a WebP whose RIFF size claims more than the file holds is cut short", async () => {
    const webp = Buffer.from(fixture("pixel.webp"));
    webp.writeUInt32LE(webp.readUInt32LE(4) + 100, 4);
    expect(await judgeContent("cut.webp", webp, rules, true)).toMatchObject({ code: "truncated" });
  });

  test("a GIF with no image in it is refused", async () => {
    const gif = fixture("pixel.gif");
    // The screen descriptor and its colour table, then at once the trailer.
    const empty = Buffer.concat([gif.subarray(0, 13 + 6), Buffer.from([0x3b])]);
    expect(await judgeContent("empty.gif", empty, rules, true)).toMatchObject({
      accepted: false,
      code: "noImage",
    });
  });

  /** The fixture GIF with a comment extension holding `text` before its image. */
  function gifWithComment(text: string): Buffer {
    const gif = fixture("pixel.gif");
    const data = Buffer.from(text, "latin1");
    const comment = Buffer.concat([Buffer.from([0x21, 0xfe, data.length]), data, Buffer.from([0])]);
    return Buffer.concat([gif.subarray(0, 19), comment, gif.subarray(19)]);
  }

  test("a GIF/JS polyglot whose script sits in a comment extension is refused", async () => {
    const polyglot = gifWithComment("*/=alert(document.cookie)/*");
    expect(await judgeContent("polyglot.gif", polyglot, rules, true)).toMatchObject({
      accepted: false,
      code: "gifText",
    });
  });

  test("a GIF whose comment is plain words, as image editors write, is accepted", async () => {
    expect(await judgeContent("gimp.gif", gifWithComment("Created with GIMP"), rules, true)).toMatchObject({
      accepted: true,
    });
  });
});
