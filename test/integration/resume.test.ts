// Resuming an upload over HTTP against the local stack: the first token's secret earns a fresh token for the
// same blob, whose blocks commit with those staged before; every other use of a secret is refused.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BlockBlobClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import type { UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { RESUME_SECRET_HEADER } from "../../function/contract/resumeProtocol";
import { RESUME_GRACE_MINUTES, resumableUntil, signResumeSecret } from "../../function/issuing/resume";
import { uploadFinished } from "../../function/issuing/uploadOutcome";
import { instance } from "../../function/platform/instance";
import { parseSettings } from "../../function/platform/settings";
import { uploadTo } from "../../web/blockUpload";
import { targetOf } from "../../web/tokens";
import { blockId as pageBlockId } from "../../web/uploadRecords";
import { ALLOWED_ORIGIN, startTestStack, type TestStack } from "../support/stack";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.stop();
});

const SIZE = 2048;
const blockId = (index: number) => Buffer.from(`block-${index}`).toString("base64");

async function ask(
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const query = new URLSearchParams({
    filename: "photo.jpg",
    contentType: "image/jpeg",
    size: String(SIZE),
    ...extra,
  });
  const response = await fetch(`${stack.credentialsUrl}?${query}`, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function firstToken(): Promise<UploadCredentialsBody> {
  const { status, body } = await ask();
  expect(status).toBe(200);
  return body as unknown as UploadCredentialsBody;
}

function resumeOf(credentials: UploadCredentialsBody, secret = credentials.resumeSecret ?? "") {
  return ask({ blobName: credentials.blobName }, { [RESUME_SECRET_HEADER]: secret });
}

function blockClient(credentials: { blobUrl: string; sasKey: string }): BlockBlobClient {
  return new BlockBlobClient(`${credentials.blobUrl}?${credentials.sasKey}`);
}

describe("a resume request", () => {
  test("with the first token's secret gets a fresh token for the same blob, and the blocks of both commit", async () => {
    const first = await firstToken();
    expect(first.resumeSecret).toMatch(/^\d+\.[A-Za-z0-9_-]+$/);
    expect(Date.parse(first.resumableUntil ?? "")).toBeGreaterThan(Date.parse(first.expiresOn));
    await blockClient(first).stageBlock(blockId(0), Buffer.alloc(1024, 1), 1024);

    const { status, body } = await resumeOf(first);

    expect(status).toBe(200);
    const resumed = body as unknown as UploadCredentialsBody;
    expect(resumed.blobName).toBe(first.blobName);
    // Signed now: it lives a whole token lifetime from the resume (within a second it is the same token).
    expect(Date.parse(resumed.expiresOn)).toBeGreaterThanOrEqual(Date.parse(first.expiresOn));
    expect(resumed.resumeSecret).toBeUndefined();
    // Staged but not committed: not finished, so resumable.
    expect(await uploadFinished(instance().settings(), instance().outcomes(), first.blobName)).toBe(false);
    const blob = blockClient(resumed);
    await blob.stageBlock(blockId(1), Buffer.alloc(1024, 2), 1024);
    await blob.commitBlockList([blockId(0), blockId(1)]);
    const stored = await new BlockBlobClient(
      stack.connectionString,
      stack.container,
      first.blobName,
    ).downloadToBuffer();
    expect(stored.equals(Buffer.concat([Buffer.alloc(1024, 1), Buffer.alloc(1024, 2)]))).toBe(true);
  });

  test("with a wrong secret is a 403 naming it invalid, without a token", async () => {
    const first = await firstToken();
    const [issued] = (first.resumeSecret ?? "").split(".");
    const { status, body } = await resumeOf(first, `${issued}.${Buffer.alloc(32, 7).toString("base64url")}`);
    expect(status).toBe(403);
    expect(body).toEqual({
      error:
        "The resume secret does not belong to this upload (its blobName and size): start the upload again for a new blob.",
      resume: "invalid",
    });
  });

  test("with another blob's secret is a 403 naming it invalid", async () => {
    const mine = await firstToken();
    const theirs = await firstToken();
    const { status, body } = await resumeOf(mine, theirs.resumeSecret);
    expect(status).toBe(403);
    expect(body).toMatchObject({ resume: "invalid" });
    expect(body.sasKey).toBeUndefined();
  });

  test("with a size other than the one the upload declared is a 403 naming it invalid", async () => {
    const first = await firstToken();
    const { status, body } = await ask(
      { blobName: first.blobName, size: String(SIZE * 1000) },
      { [RESUME_SECRET_HEADER]: first.resumeSecret ?? "" },
    );
    expect(status).toBe(403);
    expect(body).toMatchObject({ resume: "invalid" });
  });

  test("after the upload finished is a 409 naming it finished", async () => {
    const first = await firstToken();
    const blob = blockClient(first);
    await blob.stageBlock(blockId(0), Buffer.alloc(SIZE, 3), SIZE);
    await blob.commitBlockList([blockId(0)]);

    const { status, body } = await resumeOf(first);

    expect(status).toBe(409);
    expect(body).toEqual({
      error: "This upload is already finished: its blob is stored, so it cannot be resumed.",
      resume: "finished",
    });
  });

  test("after the upload token's maximum age plus the grace is a 410 naming it expired", async () => {
    const first = await firstToken();
    // The function's own secret for this upload, as it would have signed it when the upload began long ago.
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    const age = settings.policy.uploadTokenLifetimeMinutes + RESUME_GRACE_MINUTES + 1;
    const old = signResumeSecret(
      settings.resumeKey,
      { blobName: first.blobName, size: SIZE, generation: settings.tokenGeneration },
      new Date(Date.now() - age * 60_000),
    );

    const { status, body } = await resumeOf(first, old);

    expect(status).toBe(410);
    expect(body).toEqual({
      error: "This upload can no longer be resumed: it was started too long ago. Start the upload again.",
      resume: "expired",
    });
  });

  test("close to the end of its window earns a token that expires when the window does, not later", async () => {
    const first = await firstToken();
    const settings = parseSettings({ [SETTING.connectionString]: stack.connectionString });
    // Issued so long ago that 5 minutes of its window are left, less than an upload token's lifetime.
    const issuedAt = new Date(
      Math.floor(Date.now() / 1000) * 1000 -
        (settings.policy.uploadTokenLifetimeMinutes + RESUME_GRACE_MINUTES - 5) * 60_000,
    );
    const secret = signResumeSecret(
      settings.resumeKey,
      { blobName: first.blobName, size: SIZE, generation: settings.tokenGeneration },
      issuedAt,
    );

    const { status, body } = await resumeOf(first, secret);

    expect(status).toBe(200);
    const until = resumableUntil(issuedAt, settings.policy.uploadTokenLifetimeMinutes);
    expect((body as { expiresOn: string }).expiresOn).toBe(until.toISOString());
  });

  test("without its secret is a 400 naming both the parameter and the header", async () => {
    const first = await firstToken();
    const { status, body } = await ask({ blobName: first.blobName });
    expect(status).toBe(400);
    expect(body).toEqual({
      error:
        "Resuming an upload needs its blobName in the query and its resume secret in the X-Valet-Resume-Secret header, both from its first token.",
    });
  });

  test("with its secret in the query is a 400 saying to send the header, and neither answer nor log holds the secret", async () => {
    const first = await firstToken();
    const secret = first.resumeSecret ?? "";
    const signature = secret.split(".")[1] ?? "";
    expect(signature).not.toBe("");

    const { status, body } = await ask({ blobName: first.blobName, resumeSecret: secret });

    expect(status).toBe(400);
    expect(body.sasKey).toBeUndefined();
    expect(body.error).toMatch(/send it in the X-Valet-Resume-Secret header/);
    expect(JSON.stringify(body)).not.toContain(signature);
    expect(stack.logs.join("\n")).toContain("request.rejected");
    expect(stack.logs.join("\n")).not.toContain(signature);
  });

  test("the page's preflight for the resume secret's header is answered", async () => {
    const response = await fetch(stack.credentialsUrl, {
      method: "OPTIONS",
      headers: {
        Origin: ALLOWED_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": RESUME_SECRET_HEADER,
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-headers")).toBe(RESUME_SECRET_HEADER);
  });
});

describe("the page's block upload", () => {
  const BLOCK = 64 * 1024;
  const data = Buffer.from(Array.from({ length: 5 * BLOCK + 100 }, (_, index) => (index * 7) % 251));

  async function bigToken(): Promise<UploadCredentialsBody> {
    const { status, body } = await ask({ size: String(data.length) });
    expect(status).toBe(200);
    return body as unknown as UploadCredentialsBody;
  }

  function upload(
    credentials: UploadCredentialsBody,
    staged: number[],
    lost: number[] = [],
    sent: number[] = [],
  ) {
    const target = targetOf(credentials, { name: "photo.jpg", size: data.length, type: "image/jpeg" }, {});
    return uploadTo(
      target,
      data,
      { contentType: "image/jpeg", blockSizeBytes: BLOCK, concurrency: 2, onProgress: () => undefined },
      {
        staged: new Set(staged),
        onStaged: (index) => {
          sent.push(index);
        },
        onLost: () => {
          lost.push(sent.length);
        },
      },
    );
  }

  async function stored(blobName: string): Promise<Buffer> {
    return await new BlockBlobClient(stack.connectionString, stack.container, blobName).downloadToBuffer();
  }

  test("resumed with a fresh token stages only the blocks not yet staged and commits the whole file", async () => {
    const first = await bigToken();
    const early = blockClient(first);
    for (const index of [0, 1, 3]) {
      await early.stageBlock(pageBlockId(index), data.subarray(index * BLOCK, (index + 1) * BLOCK), BLOCK);
    }
    const resume = await ask(
      { size: String(data.length), blobName: first.blobName },
      { [RESUME_SECRET_HEADER]: first.resumeSecret ?? "" },
    );
    expect(resume.status).toBe(200);
    const sent: number[] = [];

    await upload(resume.body as unknown as UploadCredentialsBody, [0, 1, 3], [], sent);

    expect(sent.sort()).toEqual([2, 4, 5]);
    expect((await stored(first.blobName)).equals(data)).toBe(true);
  });

  test("whose record names a block storage does not hold stages every block again and commits once more", async () => {
    const credentials = await bigToken();
    const lost: number[] = [];
    const sent: number[] = [];

    // The record claims blocks 0 to 4 are staged; storage holds none of them.
    await upload(credentials, [0, 1, 2, 3, 4], lost, sent);

    expect(lost).toEqual([1]);
    expect(sent.sort()).toEqual([0, 1, 2, 3, 4, 5, 5]);
    expect((await stored(credentials.blobName)).equals(data)).toBe(true);
  });
});

describe("once the upload is checked", () => {
  let checked: TestStack;
  beforeAll(async () => {
    checked = await startTestStack({}, { checkUploads: true });
  });
  afterAll(async () => {
    await checked?.stop();
  });

  // Accepted or rejected, the blob has left the inbox: only the recorded outcome says the upload is over.
  test.each([
    ["accepted", "pixel.png", "accepted"],
    ["rejected", "not-an-image.html", "rejected"],
  ])("%s, a resume is a 409 naming it finished", async (_, fixture, state) => {
    const bytes =
      fixture === "pixel.png"
        ? await readFile(join(__dirname, "../fixtures/images/pixel.png"))
        : Buffer.from("<!doctype html><title>not an image</title>");
    const query = new URLSearchParams({
      filename: "photo.png",
      contentType: "image/png",
      size: String(bytes.length),
    });
    const first = (await (await fetch(`${checked.credentialsUrl}?${query}`)).json()) as UploadCredentialsBody;
    await blockClient(first).upload(bytes, bytes.length);
    await checked.checksSettled();
    const status = (await (await fetch(checked.statusUrl(first.blobName))).json()) as { state: string };
    expect(status.state).toBe(state);

    query.set("blobName", first.blobName);
    const resumed = await fetch(`${checked.credentialsUrl}?${query}`, {
      headers: { [RESUME_SECRET_HEADER]: first.resumeSecret ?? "" },
    });

    expect(resumed.status).toBe(409);
    expect(await resumed.json()).toMatchObject({ resume: "finished" });
  });
});
