// The check of stored uploads end to end on the local stack: a token's upload becomes an event (the Event
// Grid stand-in), the queue runs the function, and the image lands in the verified container or is gone,
// with the status endpoint saying which and why.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  AnonymousCredential,
  AppendBlobClient,
  type BlobHTTPHeaders,
  BlobServiceClient,
  BlockBlobClient,
  PageBlobClient,
} from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { outcomesTableClient, parseOutcomesTable, TableOutcomeStore } from "../../function/checking/outcomes";
import { checkSeams } from "../../function/checking/queuedCheck";
import { SETTING } from "../../function/contract/appSettings";
import {
  HEAD_BYTES,
  UPLOADS_CREATED_POISON_QUEUE,
  UPLOADS_CREATED_QUEUE,
} from "../../function/contract/check";
import type { CredentialsBody, UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { decodeBase64 } from "../../function/contract/queueTrigger";
import { blobCreatedEvent, eventMessage } from "../../local/eventGrid";
import { gifWithFrame } from "../support/images";
import { samePixels } from "../support/photos";
import { credentialsFor, startTestStack, type TestStack } from "../support/stack";
import { statusOf } from "../support/storage";

const png = readFileSync(join(__dirname, "../fixtures/images/pixel.png"));
const jpeg = readFileSync(join(__dirname, "../fixtures/images/pixel.jpg"));
const html = Buffer.from("<!doctype html><html><body><script>alert(1)</script></body></html>");
/** Another PNG of the same size: its colours inverted. */
let otherPng: Buffer;

/** The stack's MAX_UPLOAD_BYTES: small, yet above HEAD_BYTES, so that a file the check reads whole fits. */
const MAX_BYTES = HEAD_BYTES + 64 * 1024;

let stack: TestStack;
let service: BlobServiceClient;
const inbox = () => service.getContainerClient(stack.container);
const verified = () => service.getContainerClient(stack.verifiedContainer);
const queues = () => QueueServiceClient.fromConnectionString(stack.checkConnectionString);

beforeAll(async () => {
  // Failed tries come back at once, so a poison message takes five quick tries rather than the host's pace.
  // A small size limit, so that a blob over it is cheap to make, yet above the bytes the check reads first.
  stack = await startTestStack(
    { [SETTING.maxUploadBytes]: String(MAX_BYTES) },
    { checkUploads: true, queueBehaviour: { maxPollingIntervalMs: 200, visibilityTimeoutSeconds: 0 } },
  );
  service = BlobServiceClient.fromConnectionString(stack.connectionString);
  otherPng = await sharp(png).negate({ alpha: false }).png().toBuffer();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

/** A per-upload token for `bytes` declared as `contentType`, then the upload, sent with `sentType`. */
async function upload(
  bytes: Buffer,
  contentType: string,
  extension: string,
  sentType = contentType,
  declared = bytes.length,
): Promise<{ credentials: UploadCredentialsBody; eTag: string }> {
  const query = new URLSearchParams({
    filename: `file.${extension}`,
    contentType,
    size: String(declared),
  });
  const response = await fetch(`${stack.credentialsUrl}?${query}`);
  expect(response.status).toBe(200);
  const credentials = (await response.json()) as UploadCredentialsBody;
  const result = await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(
    bytes,
    bytes.length,
    {
      blobHTTPHeaders: { blobContentType: sentType },
    },
  );
  return { credentials, eTag: result.etag ?? "" };
}

async function status(
  blobName: string,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(stack.statusUrl(blobName));
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function sendEvent(blobName: string, eTag: string, bytes: Buffer): Promise<string> {
  const event = blobCreatedEvent({
    container: stack.container,
    name: blobName,
    url: inbox().getBlobClient(blobName).url,
    api: "PutBlob",
    eTag,
    contentType: "image/png",
    contentLength: bytes.length,
    blobType: "BlockBlob",
  });
  await queues().getQueueClient(UPLOADS_CREATED_QUEUE).sendMessage(eventMessage(event));
  return event.id as string;
}

/** The renditions of the 8 × 8 opaque PNG: never enlarged, WebP and a JPEG fallback at both sizes. */
const pixelRenditions = (blobName: string) =>
  (["feed", "thumb"] as const).flatMap((kind) =>
    (
      [
        ["webp", "image/webp"],
        ["jpg", "image/jpeg"],
      ] as const
    ).map(([extension, contentType]) => ({
      name: `${blobName}.${kind}.${extension}`,
      kind,
      width: 8,
      height: 8,
      contentType,
      bytes: expect.any(Number),
    })),
  );

const logEvents = () =>
  stack.logs.flatMap((line) => {
    const json = line.slice(line.indexOf("{"));
    try {
      return [JSON.parse(json) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

describe("an upload through a token", () => {
  test("an image is copied to the verified container with the type its bytes show, and leaves the inbox", async () => {
    // Sent as application/octet-stream: the verified copy's type comes from the bytes, not the uploader.
    const { credentials } = await upload(png, "image/png", "png", "application/octet-stream");
    await stack.checksSettled();
    const copy = verified().getBlobClient(credentials.blobName);
    expect(await samePixels(await copy.downloadToBuffer(), png)).toBe(true);
    expect((await copy.getProperties()).contentType).toBe("image/png");
    expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
    const answer = await status(credentials.blobName);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      blobName: credentials.blobName,
      state: "accepted",
      url: `${stack.blobServiceUrl}/${stack.verifiedContainer}/${credentials.blobName}`,
      renditions: pixelRenditions(credentials.blobName),
    });
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(logEvents()).toContainEqual(
      expect.objectContaining({
        event: "upload.accepted",
        blobName: credentials.blobName,
        contentType: "image/png",
        width: 8,
        height: 8,
      }),
    );
  });

  test("HTML declared as a PNG is deleted, never reaches the verified container, and the status says why", async () => {
    const { credentials } = await upload(html, "image/png", "png");
    await stack.checksSettled();
    expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect(await verified().getBlobClient(credentials.blobName).exists()).toBe(false);
    const answer = await status(credentials.blobName);
    expect(answer.body).toEqual({
      blobName: credentials.blobName,
      state: "rejected",
      reason: "the file is not a PNG image: its bytes are HTML",
    });
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "upload.rejected", blobName: credentials.blobName, code: "notImage" }),
    );
  });

  test("a GIF larger than the bytes read first is read whole: a bomb frame after them is found", async () => {
    // A 1 × 1 screen, many small frames filling more than HEAD_BYTES, then one 20000 × 20000 frame.
    const small = gifWithFrame([1, 1], [0, 0, 1, 1]);
    const frame = small.subarray(13, small.length - 1);
    const bomb = gifWithFrame([1, 1], [0, 0, 20000, 20000]).subarray(13);
    const frames = Math.ceil(HEAD_BYTES / frame.length) + 1;
    const gif = Buffer.concat([small.subarray(0, 13), ...Array.from({ length: frames }, () => frame), bomb]);
    expect(gif.length).toBeGreaterThan(HEAD_BYTES);
    const { credentials } = await upload(gif, "image/gif", "gif");
    await stack.checksSettled();
    expect(await verified().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect((await status(credentials.blobName)).body).toMatchObject({
      state: "rejected",
      reason: "the image is 20000 × 20000 pixels, over the limit of 100000000 pixels",
    });
  });

  test("a blob larger than the size its token declared is rejected and deleted, so the allowance bounds what is stored", async () => {
    // Zero padding after IEND is otherwise harmless: only the declaration refuses these bytes.
    const padded = Buffer.concat([png, Buffer.alloc(1000)]);
    const { credentials } = await upload(padded, "image/png", "png", "image/png", png.length);
    await stack.checksSettled();
    expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect(await verified().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect((await status(credentials.blobName)).body).toEqual({
      blobName: credentials.blobName,
      state: "rejected",
      reason: `the file is ${padded.length} bytes, more than the ${png.length} bytes declared for its token`,
    });
  });

  test("a blob of exactly the declared size is accepted", async () => {
    const padded = Buffer.concat([png, Buffer.alloc(1000)]);
    const { credentials } = await upload(padded, "image/png", "png");
    await stack.checksSettled();
    expect((await status(credentials.blobName)).body).toMatchObject({ state: "accepted" });
  });

  test("a GIF with a 1 × 1 screen and a 20000 × 20000 frame is rejected at the frame's size and deleted", async () => {
    const bomb = gifWithFrame([1, 1], [0, 0, 20000, 20000]);
    const { credentials } = await upload(bomb, "image/gif", "gif");
    await stack.checksSettled();
    expect(await verified().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect((await status(credentials.blobName)).body).toMatchObject({
      state: "rejected",
      reason: "the image is 20000 × 20000 pixels, over the limit of 100000000 pixels",
    });
  });

  test("a JPEG declared as a PNG is rejected as the JPEG it is", async () => {
    const { credentials } = await upload(jpeg, "image/png", "png");
    await stack.checksSettled();
    expect((await status(credentials.blobName)).body).toMatchObject({
      state: "rejected",
      reason: "the file is not a PNG image: its bytes are a JPEG image",
    });
  });

  test("the same event twice, together or after the check, leaves the verified copy and the answer as they were", async () => {
    const { credentials, eTag } = await upload(png, "image/png", "png");
    // Beside the stand-in's own event for this upload: the two may run at once.
    await sendEvent(credentials.blobName, eTag, png);
    await stack.checksSettled();
    const copy = verified().getBlobClient(credentials.blobName);
    const before = await copy.getProperties();
    expect(await samePixels(await copy.downloadToBuffer(), png)).toBe(true);
    const again = await sendEvent(credentials.blobName, eTag, png);
    await stack.checksSettled();
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "validation.skipped", reason: "gone", eventId: again }),
    );
    expect((await copy.getProperties()).etag).toBe(before.etag);
    expect((await status(credentials.blobName)).body).toMatchObject({ state: "accepted" });
  });

  test("an event for a version overwritten before the check is acknowledged, and the newer version is checked", async () => {
    const name = "overwritten.png";
    const blob = inbox().getBlockBlobClient(name);
    const first = await blob.upload(png, png.length);
    const second = otherPng;
    await blob.upload(second, second.length);
    const staleEvent = await sendEvent(name, first.etag ?? "", png);
    await stack.checksSettled();
    expect(await samePixels(await verified().getBlobClient(name).downloadToBuffer(), second)).toBe(true);
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "validation.skipped", reason: "changed", eventId: staleEvent }),
    );
  });

  test("Set Blob Properties on the inbox after acceptance cannot change the verified copy", async () => {
    const { credentials } = await upload(png, "image/png", "png");
    await stack.checksSettled();
    const withToken = new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`);
    expect(await statusOf(withToken.setHTTPHeaders({ blobContentType: "text/html" }))).toBe(404);
    // Even the account key changes only the inbox, where a new blob of that name would be checked anew.
    expect(
      await statusOf(
        inbox().getBlobClient(credentials.blobName).setHTTPHeaders({ blobContentType: "text/html" }),
      ),
    ).toBe(404);
    const sameToken = new BlockBlobClient(
      `${stack.blobServiceUrl}/${stack.verifiedContainer}/${credentials.blobName}?${credentials.sasKey}`,
    );
    expect(await statusOf(sameToken.setHTTPHeaders({ blobContentType: "text/html" }))).toBe(403);
    expect((await verified().getBlobClient(credentials.blobName).getProperties()).contentType).toBe(
      "image/png",
    );
  });
});

const containerToken = async (): Promise<CredentialsBody> => {
  const response = await fetch(stack.credentialsUrl);
  expect(response.status).toBe(200);
  return (await response.json()) as CredentialsBody;
};
const urlFor = (credentials: CredentialsBody, name: string) =>
  `${credentials.url}/${credentials.container}/${name}?${credentials.sasKey}`;

/**
 * Uploads the PNG as `name` with a container token while `step` runs once, for that name, at a seam of the
 * check; then waits for the checks twice, since a write `step` makes has its event only after the first.
 */
async function uploadThrough(
  seam: keyof typeof checkSeams,
  name: string,
  step: () => Promise<void>,
  blobHTTPHeaders?: BlobHTTPHeaders,
): Promise<void> {
  let ran = false;
  checkSeams[seam] = async (blobName) => {
    if (blobName !== name || ran) return;
    ran = true;
    await step();
  };
  try {
    await new BlockBlobClient(urlFor(await containerToken(), name)).upload(png, png.length, {
      blobHTTPHeaders,
    });
    await stack.checksSettled();
    await stack.checksSettled();
  } finally {
    checkSeams[seam] = undefined;
  }
  expect(ran).toBe(true);
}

describe("blobs the check cannot read", () => {
  test("a blob put straight into the Archive tier is rejected and deleted, not retried until poisoned", async () => {
    const credentials = await credentialsFor(stack.credentialsUrl, png, "x.png");
    await new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`).upload(png, png.length, {
      tier: "Archive",
    });
    await stack.checksSettled();
    expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect(await verified().getBlobClient(credentials.blobName).exists()).toBe(false);
    expect((await status(credentials.blobName)).body).toEqual({
      blobName: credentials.blobName,
      state: "rejected",
      reason: "the file was stored in the Archive tier, where it cannot be read: upload it without a tier",
    });
  });
});

describe("a lease the uploader takes on its blob", () => {
  /**
   * A per-upload token for `declared` bytes; `write` stores the blob with it, and just before the check
   * deletes the blob, the token takes an infinite lease on it (a `w` token may).
   */
  async function leasedUpload(
    declared: number,
    write: (blob: string) => Promise<unknown>,
  ): Promise<{ blobName: string; leased: () => boolean }> {
    const query = new URLSearchParams({
      filename: "x.png",
      contentType: "image/png",
      size: String(declared),
    });
    const response = await fetch(`${stack.credentialsUrl}?${query}`);
    const credentials = (await response.json()) as UploadCredentialsBody;
    const tokenUrl = `${credentials.blobUrl}?${credentials.sasKey}`;
    let leased = false;
    checkSeams.beforeDelete = async (blobName) => {
      if (blobName !== credentials.blobName || leased) return;
      await new BlockBlobClient(tokenUrl).getBlobLeaseClient().acquireLease(-1);
      leased = true;
    };
    try {
      await write(tokenUrl);
      await stack.checksSettled();
      await stack.checksSettled();
    } finally {
      checkSeams.beforeDelete = undefined;
    }
    return { blobName: credentials.blobName, leased: () => leased };
  }

  test.each([
    [
      "rejected HTML",
      html.length,
      (url: string) => new BlockBlobClient(url).upload(html, html.length),
      "rejected",
    ],
    [
      "a blob larger than its token declared",
      png.length,
      (url: string) =>
        new BlockBlobClient(url).upload(Buffer.concat([png, Buffer.alloc(900)]), png.length + 900),
      "rejected",
    ],
    [
      "a 1 TiB page blob",
      1024,
      (url: string) => new PageBlobClient(url, new AnonymousCredential()).create(1024 ** 4),
      "rejected",
    ],
    [
      "an accepted image",
      png.length,
      (url: string) => new BlockBlobClient(url).upload(png, png.length),
      "accepted",
    ],
  ])("%s is still deleted: the check breaks the lease", async (_, declared, write, state) => {
    const { blobName, leased } = await leasedUpload(declared, write);
    expect(leased()).toBe(true);
    expect(await inbox().getBlobClient(blobName).exists()).toBe(false);
    expect((await status(blobName)).body).toMatchObject({ state });
  });
});

describe("an accepted name keeps its image", () => {
  test.each([
    [
      "a container token",
      async (_: UploadCredentialsBody) => new BlockBlobClient(urlFor(await containerToken(), _.blobName)),
    ],
    [
      "the same per-upload token",
      async (credentials: UploadCredentialsBody) =>
        new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`),
    ],
  ])(
    "another valid image stored again under the name through %s is deleted; the verified bytes and the status stay",
    async (_, writer) => {
      const { credentials } = await upload(png, "image/png", "png");
      await stack.checksSettled();
      const copy = verified().getBlobClient(credentials.blobName);
      const before = await status(credentials.blobName);
      expect(before.body).toMatchObject({ state: "accepted" });

      const again = await (await writer(credentials)).upload(otherPng, otherPng.length, {
        blobHTTPHeaders: { blobContentType: "image/png" },
      });
      await stack.checksSettled();
      expect(await samePixels(await copy.downloadToBuffer(), png)).toBe(true);
      expect((await status(credentials.blobName)).body).toEqual(before.body);
      expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(false);
      expect(logEvents()).toContainEqual(
        expect.objectContaining({
          event: "validation.nameTaken",
          blobName: credentials.blobName,
          eTag: again.etag?.replaceAll('"', ""),
        }),
      );
    },
  );
});

describe("the verified copy's headers", () => {
  const hostile = {
    blobContentType: "text/html",
    blobContentDisposition: "attachment; filename=page.html",
    blobContentEncoding: "gzip",
    blobContentLanguage: "en",
    blobCacheControl: "public, max-age=31536000, immutable",
  };

  test("an upload sent as text/html with a Content-Disposition is served as image/png with none of the uploader's headers", async () => {
    const name = "headers.png";
    await new BlockBlobClient(urlFor(await containerToken(), name)).upload(png, png.length, {
      blobHTTPHeaders: hostile,
    });
    await stack.checksSettled();
    const properties = await verified().getBlobClient(name).getProperties();
    expect(properties.contentType).toBe("image/png");
    expect(properties.contentDisposition).toBeUndefined();
    expect(properties.contentEncoding).toBeUndefined();
    expect(properties.contentLanguage).toBeUndefined();
    expect(properties.cacheControl).toBeUndefined();
  });

  test("a header write that fails after the copy is repaired by the retry of the same event", async () => {
    const name = "retried.png";
    await uploadThrough(
      "afterCopy",
      name,
      async () => {
        throw new Error("the header write failed");
      },
      hostile,
    );
    const properties = await verified().getBlobClient(name).getProperties();
    expect(properties.contentType).toBe("image/png");
    expect(properties.contentDisposition).toBeUndefined();
    expect((await status(name)).body).toMatchObject({ state: "accepted" });
    expect(await inbox().getBlobClient(name).exists()).toBe(false);
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "validation.redelivered", blobName: name }),
    );
  });

  test("a header write that fails after the copy, with the inbox blob rewritten meanwhile, is repaired by the next event", async () => {
    const name = "repaired.png";
    await uploadThrough(
      "afterCopy",
      name,
      async () => {
        // The uploader writes the name again while the first check is between its copy and its headers.
        await inbox()
          .getBlockBlobClient(name)
          .upload(otherPng, otherPng.length, { blobHTTPHeaders: hostile });
        throw new Error("the header write failed");
      },
      hostile,
    );
    const copy = verified().getBlobClient(name);
    expect(await samePixels(await copy.downloadToBuffer(), png)).toBe(true);
    const properties = await copy.getProperties();
    expect(properties.contentType).toBe("image/png");
    expect(properties.contentDisposition).toBeUndefined();
    expect(properties.cacheControl).toBeUndefined();
    expect((await status(name)).body).toEqual({
      blobName: name,
      state: "accepted",
      url: `${stack.blobServiceUrl}/${stack.verifiedContainer}/${name}`,
      // Recorded again from the verified blob's own metadata, as the first check listed them.
      renditions: pixelRenditions(name),
    });
    expect(await inbox().getBlobClient(name).exists()).toBe(false);
  });
});

describe("a write racing the check", () => {
  test("bytes written between the head read and the copy are never copied: the copy is of the checked version only", async () => {
    const name = "raced.png";
    await uploadThrough("afterHeadRead", name, async () => {
      await inbox().getBlockBlobClient(name).upload(html, html.length);
    });
    expect(await verified().getBlobClient(name).exists()).toBe(false);
    expect((await status(name)).body).toEqual({
      blobName: name,
      state: "rejected",
      reason: "the file is not a PNG image: its bytes are HTML",
    });
  });
});

describe("a verified blob appearing during the check", () => {
  test("a copy under a name another check filled meanwhile does not replace that image", async () => {
    const name = "filled.png";
    await uploadThrough("afterHeadRead", name, async () => {
      // As a concurrent check of another version of the name would leave it.
      await verified()
        .getBlockBlobClient(name)
        .upload(otherPng, otherPng.length, {
          blobHTTPHeaders: { blobContentType: "image/png" },
          metadata: { sourceetag: "0x1", detectedtype: "image/png" },
        });
    });
    expect(await samePixels(await verified().getBlobClient(name).downloadToBuffer(), otherPng)).toBe(true);
    expect(await inbox().getBlobClient(name).exists()).toBe(false);
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "validation.nameTaken", blobName: name }),
    );
  });
});

describe("the outcomes table", () => {
  const store = () =>
    new TableOutcomeStore(
      outcomesTableClient(parseOutcomesTable({ [SETTING.validationStorage]: stack.checkConnectionString })),
    );
  const rejected = (sequencer: string, reason: string) =>
    ({
      blobName: "ordered.png",
      eTag: `"0x${sequencer}"`,
      sequencer,
      decidedAt: new Date().toISOString(),
      state: "rejected",
      reason,
      code: "notImage",
    }) as const;

  test("an older version's outcome recorded after a newer one's does not replace it", async () => {
    const outcomes = store();
    await outcomes.record(rejected("00000000000000000000000000000002", "newer"));
    await outcomes.record(rejected("00000000000000000000000000000001", "older"));
    expect(await outcomes.find("ordered.png")).toMatchObject({ reason: "newer" });
    await outcomes.record(rejected("00000000000000000000000000000003", "newest"));
    expect(await outcomes.find("ordered.png")).toMatchObject({ reason: "newest" });
  });

  test("an accepted outcome is not replaced by a later rejection of the name", async () => {
    const outcomes = store();
    await outcomes.record({
      blobName: "kept.png",
      eTag: '"0x1"',
      sequencer: "00000000000000000000000000000001",
      decidedAt: new Date().toISOString(),
      state: "accepted",
      url: "http://127.0.0.1/verified/kept.png",
      renditions: [],
    });
    await outcomes.record({ ...rejected("00000000000000000000000000000009", "later"), blobName: "kept.png" });
    expect(await outcomes.find("kept.png")).toMatchObject({ state: "accepted" });
  });
});

describe("blobs a container token makes that a per-upload token could not", () => {
  test.each([
    [
      "a page blob",
      "page.png",
      (url: string) => new PageBlobClient(url, new AnonymousCredential()).create(1024 * 1024),
      "the file is a page blob: only block blobs, as a browser uploads them, are accepted",
    ],
    [
      "an append blob",
      "append.png",
      (url: string) => new AppendBlobClient(url, new AnonymousCredential()).create(),
      "the file is an append blob: only block blobs, as a browser uploads them, are accepted",
    ],
    [
      "a block blob over MAX_UPLOAD_BYTES",
      "large.png",
      (url: string) =>
        new BlockBlobClient(url).upload(
          Buffer.concat([png, Buffer.alloc(MAX_BYTES)]),
          png.length + MAX_BYTES,
        ),
      `the file is ${png.length + MAX_BYTES} bytes, over the limit of ${MAX_BYTES} bytes`,
    ],
    [
      "an empty block blob",
      "empty.png",
      (url: string) => new BlockBlobClient(url).upload("", 0),
      "the file is empty",
    ],
  ])("%s is rejected and deleted", async (_, name, create, reason) => {
    const credentials = await containerToken();
    await create(urlFor(credentials, name));
    await stack.checksSettled();
    expect(await inbox().getBlobClient(name).exists()).toBe(false);
    expect(await verified().getBlobClient(name).exists()).toBe(false);
    expect((await status(name)).body).toEqual({ blobName: name, state: "rejected", reason });
  });
});

describe("names the function never gives", () => {
  const listInbox = async () => {
    const names: string[] = [];
    for await (const blob of inbox().listBlobsFlat()) names.push(blob.name);
    return names;
  };

  test.each([
    ["..%2Fverified%2Fdot.png", "../verified/dot.png"],
    ["a%2F.%2Fb.png", "a/./b.png"],
    ["sub%2Fphoto.png", "sub/photo.png"],
  ])("a blob stored as %s is deleted unchecked, its name never resolved", async (path, stored) => {
    const credentials = await containerToken();
    const put = await fetch(`${credentials.url}/${credentials.container}/${path}?${credentials.sasKey}`, {
      method: "PUT",
      headers: { "x-ms-blob-type": "BlockBlob", "content-type": "image/png" },
      body: png,
    });
    expect(put.status).toBe(201);
    expect(await listInbox()).toContain(stored);
    await stack.checksSettled();
    expect(await listInbox()).not.toContain(stored);
    expect(
      await verified()
        .getBlobClient(stored.split("/").pop() ?? "")
        .exists(),
    ).toBe(false);
    expect(logEvents()).toContainEqual(
      expect.objectContaining({ event: "validation.nameRefused", blobName: stored }),
    );
  });
});

describe("a name the emulator cannot list", () => {
  test("a blob named a%00b.png does not stop the events of every other upload, and its name is reported", async () => {
    const unlistable = inbox().getBlockBlobClient("a\u0000b.png");
    await unlistable.upload(png, png.length);
    try {
      const { credentials } = await upload(png, "image/png", "png");
      await stack.checksSettled();
      expect((await status(credentials.blobName)).body).toMatchObject({ state: "accepted" });
      expect(stack.logs.join("\n")).toContain('cannot list the blobs whose names start with "a"');
    } finally {
      await unlistable.delete();
    }
  });
});

describe("messages the check cannot use", () => {
  test.each([
    ["plain text (messageEncoding none hands it over as it is)", "plain <event/>"],
    ["base64 of JSON that is no event", Buffer.from(JSON.stringify({ hello: "queue" })).toString("base64")],
  ])(
    "a message that is not an event, %s, reaches the function, is logged and dropped, not retried",
    async (_, text) => {
      const sent = await queues().getQueueClient(UPLOADS_CREATED_QUEUE).sendMessage(text);
      await stack.checksSettled();
      expect(logEvents()).toContainEqual(
        expect.objectContaining({ event: "validation.messageInvalid", messageId: sent.messageId }),
      );
      expect(
        logEvents().filter((line) => line.event === "function.failed" && line.messageId === sent.messageId),
      ).toEqual([]);
    },
  );

  test("an event the function cannot complete (no verified container) is retried, then poisoned, and the upload stays pending", async () => {
    await verified().delete();
    try {
      const { credentials } = await upload(png, "image/png", "png");
      await stack.checksSettled();
      expect(await inbox().getBlobClient(credentials.blobName).exists()).toBe(true);
      expect((await status(credentials.blobName)).body).toEqual({
        blobName: credentials.blobName,
        state: "pending",
      });
      const poisoned = await queues()
        .getQueueClient(UPLOADS_CREATED_POISON_QUEUE)
        .receiveMessages({ numberOfMessages: 32 });
      const events = poisoned.receivedMessageItems.map(
        (item) => JSON.parse(decodeBase64(item.messageText) ?? item.messageText) as { subject?: string },
      );
      expect(events.map((event) => event.subject)).toContain(
        `/blobServices/default/containers/${stack.container}/blobs/${credentials.blobName}`,
      );
      // Not lost silently: the last try raised the alert that names the blob.
      const alerts = stack.logs
        .filter((line) => line.includes('"event":"validation.abandoned"'))
        .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>);
      expect(alerts).toEqual([
        expect.objectContaining({
          blobName: credentials.blobName,
          cause: "copying to the verified container failed with 404",
          message: expect.stringContaining("failed 5 times; its event goes to uploads-created-poison"),
        }),
      ]);
    } finally {
      // Azurite refuses to re-create a container being deleted for a moment.
      for (let tries = 0; tries < 50; tries++) {
        if ((await statusOf(verified().createIfNotExists())) === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
});

describe("the status endpoint over HTTP", () => {
  test.each(["..png", ".hidden.png", "a b.png", "x".repeat(256)])(
    "a malformed name %j gets 400 with the rule",
    async (name) => {
      const answer = await status(name);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toContain("The blob name must be 1 to 255 letters");
      expect(answer.headers.get("cache-control")).toBe("no-store");
    },
  );

  test("a name never stored gets 404", async () => {
    const answer = await status("00000000-0000-4000-8000-000000000000.png");
    expect(answer.status).toBe(404);
    expect(answer.body.error).toContain("No upload named 00000000-0000-4000-8000-000000000000.png is known");
  });

  test("only GET is served", async () => {
    const response = await fetch(stack.statusUrl("a.png"), { method: "POST" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
  });
});
