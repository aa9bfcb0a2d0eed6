// The upload page's logic without a browser: the checks before any request, how config.json is read, how
// tokens are asked for, kept and replaced, and how failures are put into words.
import { RestError } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { describeUploadError, isExpiryRefusal, isTokenRefusal, ValetUploadError } from "../../client/errors";
import { type Credentials, TokenSource, targetOf } from "../../client/uploadTokens";
import { IMAGE_EXTENSIONS } from "../../function/contract/issuanceLimits";
import { RESUME_SECRET_HEADER } from "../../function/contract/resumeProtocol";
import { checkFile } from "../../web/checks";
import {
  DEFAULT_UPLOAD_TUNING,
  type PageConfig,
  pageConfig,
  pageConfigFile,
  parsePageConfig,
} from "../../web/config";
import { formatBytes, formatWait } from "../../web/format";

const CONFIG: PageConfig = {
  apiUrl: "http://127.0.0.1:7071/api/credentials",
  allowedContentTypes: ["image/jpeg", "image/png", "image/webp"],
  extensions: { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" },
  maxUploadBytes: 1024 * 1024,
  ...DEFAULT_UPLOAD_TUNING,
};
const PHOTO = { name: "photo.png", size: 2048, type: "image/png" };
const NOW = Date.parse("2026-11-23T12:00:00Z");

function credentials(minutesLeft: number): Credentials {
  const expiresOn = new Date(NOW + minutesLeft * 60_000).toISOString();
  return {
    sasKey: `sv=2026-04-06&se=${encodeURIComponent(expiresOn)}&sr=b&sp=w&sig=${Math.random()}`,
    url: "http://127.0.0.1:10000/devstoreaccount1",
    container: "images",
    expiresOn,
  };
}

function perUpload(minutesLeft: number, name = "3f0c1b9e.png"): Credentials {
  return {
    ...credentials(minutesLeft),
    blobName: name,
    blobUrl: `http://127.0.0.1:10000/devstoreaccount1/images/${name}`,
  };
}

/** A fake SAS endpoint answering with the given bodies in turn, recording the URLs asked for. */
function endpoint(
  ...answers: Array<{ status?: number; body: unknown; headers?: Record<string, string> } | Error>
) {
  const urls: string[] = [];
  const headers: Array<Record<string, string>> = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    urls.push(String(input));
    headers.push(Object.fromEntries(new Headers(init?.headers)));
    const answer = answers.shift();
    if (!answer) throw new Error("no more answers");
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: answer.headers,
    });
  }) as typeof fetch;
  return { urls, headers, fetchImpl };
}

describe("the checks before any request", () => {
  test("accept a file of an allowed type within the size limit", () => {
    expect(checkFile(PHOTO, CONFIG)).toBeUndefined();
    expect(checkFile({ ...PHOTO, type: "IMAGE/PNG" }, CONFIG)).toBeUndefined();
  });

  test("refuse a type the policy does not allow, naming the types it does", () => {
    const failure = checkFile({ name: "a.gif", size: 10, type: "image/gif" }, CONFIG);
    expect(failure).toMatchObject({ kind: "type", retryable: false });
    expect(failure?.message).toBe("GIF files are not allowed. Choose JPEG, PNG or WebP.");
    expect(checkFile({ name: "notes", size: 10, type: "" }, CONFIG)?.message).toBe(
      "Files of this type are not allowed. Choose JPEG, PNG or WebP.",
    );
  });

  test("refuse a file over the limit and an empty one", () => {
    expect(checkFile({ ...PHOTO, size: 3 * 1024 * 1024 }, CONFIG)?.message).toBe(
      "This file is too large (3 MB). The limit is 1 MB.",
    );
    expect(checkFile({ ...PHOTO, size: 1024 * 1024 }, CONFIG)).toBeUndefined();
    expect(checkFile({ ...PHOTO, size: 0 }, CONFIG)).toMatchObject({ kind: "empty", retryable: false });
  });

  test("sizes read the way people read them", () => {
    expect([0, 1536, 52428800, 1048577, 200 * 1024].map(formatBytes)).toEqual([
      "0 bytes",
      "1.5 KB",
      "50 MB",
      "1 MB",
      "200 KB",
    ]);
  });
});

describe("the token source", () => {
  test("asks the endpoint for a token for this file and uploads where the server says", async () => {
    const { urls, fetchImpl } = endpoint({ body: perUpload(15) });
    const target = await new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO);
    const query = new URL(urls[0] as string).searchParams;
    expect(Object.fromEntries(query)).toEqual({
      filename: "photo.png",
      contentType: "image/png",
      size: "2048",
    });
    expect(target).toMatchObject({
      blobName: "3f0c1b9e.png",
      blobUrl: "http://127.0.0.1:10000/devstoreaccount1/images/3f0c1b9e.png",
      perUpload: true,
    });
  });

  test("uses a per-upload token for one upload only", async () => {
    const { urls, fetchImpl } = endpoint({ body: perUpload(15, "a.png") }, { body: perUpload(15, "b.png") });
    const tokens = new TokenSource(CONFIG, () => NOW, fetchImpl);
    const names = [(await tokens.targetFor(PHOTO)).blobName, (await tokens.targetFor(PHOTO)).blobName];
    expect(names).toEqual(["a.png", "b.png"]);
    expect(urls).toHaveLength(2);
  });

  test("keeps a container token for more files until it is within a minute of expiry", async () => {
    let now = NOW;
    const first = credentials(5);
    const second = credentials(120);
    const { urls, fetchImpl } = endpoint({ body: first }, { body: second });
    const tokens = new TokenSource(CONFIG, () => now, fetchImpl);
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe(first.sasKey);
    now += 3 * 60_000;
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe(first.sasKey);
    now += 61_000; // 59 s left
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe(second.sasKey);
    expect(urls).toHaveLength(2);
  });

  test("never hands out a container token storage refused", async () => {
    const first = credentials(60);
    const second = credentials(60);
    const { fetchImpl } = endpoint({ body: first }, { body: second });
    const tokens = new TokenSource(CONFIG, () => NOW, fetchImpl);
    tokens.discard(await tokens.targetFor(PHOTO));
    expect((await tokens.targetFor(PHOTO)).sasKey).toBe(second.sasKey);
  });

  test("asks again when a token arrives already expired, and blames the clock after three", async () => {
    const fresh = perUpload(15);
    const { urls, fetchImpl } = endpoint({ body: perUpload(-1) }, { body: fresh });
    expect((await new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO)).sasKey).toBe(fresh.sasKey);
    expect(urls).toHaveLength(2);

    const stale = endpoint({ body: perUpload(-1) }, { body: perUpload(-1) }, { body: perUpload(0) });
    await expect(new TokenSource(CONFIG, () => NOW, stale.fetchImpl).targetFor(PHOTO)).rejects.toMatchObject({
      kind: "clock",
      message: expect.stringContaining("date and time"),
    });
  });

  test("told to slow down (429), waits as long as the body says, tells why, and carries on with the file", async () => {
    const limited = {
      status: 429,
      body: {
        error: "Too many upload tokens asked for from this address: retry after 7 s.",
        retryAfterSeconds: 7,
      },
      headers: { "Retry-After": "7" },
    };
    const fresh = perUpload(15);
    const { urls, fetchImpl } = endpoint(limited, limited, { body: fresh });
    const slept: number[] = [];
    const told: Array<[number, string]> = [];
    const tokens = new TokenSource(
      CONFIG,
      () => NOW,
      fetchImpl,
      async (ms) => {
        slept.push(ms);
      },
    );
    const target = await tokens.targetFor(PHOTO, undefined, (seconds, message) =>
      told.push([seconds, message]),
    );
    expect(target.sasKey).toBe(fresh.sasKey);
    expect(slept).toEqual([7000, 7000]);
    expect(told[0]).toEqual([7, "Too many upload tokens asked for from this address: retry after 7 s."]);
    expect(urls).toHaveLength(3);
  });

  /** The pauses a token source takes, in ms, through the given answers until a token arrives. */
  async function pausesThrough(...replies: Parameters<typeof endpoint>): Promise<number[]> {
    const { fetchImpl } = endpoint(...replies);
    const slept: number[] = [];
    await new TokenSource(
      CONFIG,
      () => NOW,
      fetchImpl,
      async (ms) => {
        slept.push(ms);
      },
    ).targetFor(PHOTO);
    return slept;
  }

  test("waits at least a second, even when told to retry at once", async () => {
    const slept = await pausesThrough(
      { status: 429, body: { retryAfterSeconds: 0 } },
      { status: 429, body: {}, headers: { "Retry-After": "0" } },
      { body: perUpload(15) },
    );
    expect(slept).toEqual([1000, 1000]);
  });

  test("reads Retry-After when the body does not say, and waits 5 s when neither does", async () => {
    const slept = await pausesThrough(
      { status: 429, body: {}, headers: { "Retry-After": "3" } },
      { status: 429, body: "<html>" },
      { body: perUpload(15) },
    );
    expect(slept).toEqual([3000, 5000]);
  });

  test("a Cancel during the wait ends it at once with the abort, not a failure", async () => {
    const { fetchImpl } = endpoint({ status: 429, body: { retryAfterSeconds: 3600 } });
    const controller = new AbortController();
    const asked = new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO, controller.signal, () =>
      controller.abort(new Error("cancelled by the person")),
    );
    await expect(asked).rejects.toThrow("cancelled by the person");
  });

  test("puts waits into words", () => {
    expect([
      formatWait(1),
      formatWait(89),
      formatWait(90),
      formatWait(3600),
      formatWait(5 * 3600 + 1200),
    ]).toEqual(["1 s", "89 s", "2 min", "60 min", "5 h 20 min"]);
  });

  test("quotes the endpoint's JSON error when it refuses the request", async () => {
    const { fetchImpl } = endpoint({ status: 400, body: { error: "filename must end in .png." } });
    await expect(new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO)).rejects.toMatchObject({
      kind: "server",
      message: "The upload service refused the request: filename must end in .png.",
    });
    const { fetchImpl: broken } = endpoint({ status: 502, body: "<html>" });
    await expect(new TokenSource(CONFIG, () => NOW, broken).targetFor(PHOTO)).rejects.toMatchObject({
      message: "The upload service refused the request: it answered with status 502",
    });
  });

  test("says so when the endpoint cannot be reached or answers something else", async () => {
    const { fetchImpl } = endpoint(new TypeError("Failed to fetch"));
    await expect(new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO)).rejects.toMatchObject({
      kind: "network",
    });
    const odd = endpoint({ body: { sasKey: "x" } });
    await expect(new TokenSource(CONFIG, () => NOW, odd.fetchImpl).targetFor(PHOTO)).rejects.toMatchObject({
      kind: "server",
      message: "The upload service sent an answer this page does not understand.",
    });
  });
});

describe("resuming through the token source", () => {
  const SECRET = "1795446000.q7G0n1";

  test("keeps the first token's resume secret and until when it works", async () => {
    const until = new Date(NOW + 75 * 60_000).toISOString();
    const { fetchImpl } = endpoint({
      body: { ...perUpload(15), resumeSecret: SECRET, resumableUntil: until },
    });
    const target = await new TokenSource(CONFIG, () => NOW, fetchImpl).targetFor(PHOTO);
    expect(target.resume).toEqual({ secret: SECRET, until: new Date(until) });
  });

  test("asks for the same blob beside the file's parameters, with its secret in a header and never in the URL", async () => {
    const { urls, headers, fetchImpl } = endpoint({ body: perUpload(15, "3f0c1b9e.png") });
    const target = await new TokenSource(CONFIG, () => NOW, fetchImpl).resumeTargetFor(PHOTO, {
      blobName: "3f0c1b9e.png",
      secret: SECRET,
    });
    expect(Object.fromEntries(new URL(urls[0] as string).searchParams)).toEqual({
      filename: "photo.png",
      contentType: "image/png",
      size: "2048",
      blobName: "3f0c1b9e.png",
    });
    expect(urls[0]).not.toContain(SECRET);
    expect(headers[0]).toEqual({ [RESUME_SECRET_HEADER]: SECRET });
    expect(target).toMatchObject({ blobName: "3f0c1b9e.png", perUpload: true });
    expect(target.resume).toBeUndefined();
  });

  test("says why the endpoint will not resume, and treats a storage outage as a failure to retry", async () => {
    const resume = { blobName: "3f0c1b9e.png", secret: SECRET };
    for (const [status, reason] of [
      [403, "invalid"],
      [410, "expired"],
      [409, "finished"],
    ] as const) {
      const { fetchImpl } = endpoint({ status, body: { error: `refused: ${reason}`, resume: reason } });
      await expect(
        new TokenSource(CONFIG, () => NOW, fetchImpl).resumeTargetFor(PHOTO, resume),
      ).rejects.toMatchObject({ name: "ResumeRefusedError", reason, message: `refused: ${reason}` });
    }
    const { fetchImpl } = endpoint({
      status: 503,
      body: { error: "try again in a minute.", resume: "unavailable" },
    });
    await expect(
      new TokenSource(CONFIG, () => NOW, fetchImpl).resumeTargetFor(PHOTO, resume),
    ).rejects.toMatchObject({ kind: "server", retryable: true });
  });
});

describe("a container token's blob name", () => {
  test("is a random id and the type's extension, never the file's name", () => {
    const token = credentials(60);
    const a = targetOf(
      token,
      { name: "../../etc/passwd.png", size: 1, type: "image/jpeg" },
      CONFIG.extensions,
    );
    const b = targetOf(
      token,
      { name: "../../etc/passwd.png", size: 1, type: "image/jpeg" },
      CONFIG.extensions,
    );
    expect(a.blobName).toMatch(/^[0-9a-f-]{36}\.jpg$/);
    expect(a.blobUrl).toBe(`${token.url}/images/${a.blobName}`);
    expect(a.blobName).not.toBe(b.blobName);
    expect(a.perUpload).toBe(false);
  });
});

describe("a refusal by storage", () => {
  const target = targetOf(perUpload(15), PHOTO, CONFIG.extensions);
  const se = new URLSearchParams(target.sasKey).get("se") as string;

  function refusal(code: string, date: string, authenticationErrorDetail?: string): RestError {
    const error = new RestError("Server failed to authenticate the request.", {
      statusCode: 403,
      code,
      response: { headers: { get: (name: string) => (name === "date" ? date : undefined) } } as never,
    });
    error.details = { errorCode: code, authenticationErrorDetail };
    return error;
  }

  test("is recognised as expiry from Azure's detail or from storage's clock past the signed expiry", () => {
    const later = new Date(Date.parse(se) + 1000).toUTCString();
    const earlier = new Date(Date.parse(se) - 60_000).toUTCString();
    const azure = refusal(
      "AuthenticationFailed",
      earlier,
      "Signature not valid in the specified time frame: Start [..] - Expiry [..] - Current [..]",
    );
    expect(isTokenRefusal(azure) && isExpiryRefusal(azure, target)).toBe(true);
    const azurite = refusal("AuthorizationFailure", later);
    expect(isTokenRefusal(azurite) && isExpiryRefusal(azurite, target)).toBe(true);
    const signature = refusal("AuthorizationFailure", earlier);
    expect(isTokenRefusal(signature)).toBe(true);
    expect(isExpiryRefusal(signature, target)).toBe(false);
    expect(isTokenRefusal(refusal("AuthorizationPermissionMismatch", later))).toBe(false);
  });

  test("is put into words: expired, refused token, CORS, network lost, other status", async () => {
    const later = new Date(Date.parse(se) + 1000).toUTCString();
    const earlier = new Date(Date.parse(se) - 60_000).toUTCString();
    const unsent = new RestError("Failed to fetch", { code: "REQUEST_SEND_ERROR" });
    const kinds = await Promise.all([
      describeUploadError(refusal("AuthorizationFailure", later), target),
      describeUploadError(refusal("AuthorizationFailure", earlier), target),
      describeUploadError(unsent, target, async () => true),
      describeUploadError(unsent, target, async () => false),
      describeUploadError(new RestError("busy", { statusCode: 409, code: "BlobAlreadyExists" }), target),
      describeUploadError(new ValetUploadError("clock", "x"), target),
    ]);
    expect(kinds.map((failure) => failure.kind)).toEqual([
      "expired",
      "token-refused",
      "cors",
      "network",
      "server",
      "clock",
    ]);
    expect(kinds[2]?.message).toContain("CORS rules do not allow this origin");
    expect(kinds[4]?.message).toBe("The storage account refused the upload (409 BlobAlreadyExists).");
  });
});

describe("config.json", () => {
  test("gives each allowed type the extension the function gives a blob of that type", () => {
    const types = ["image/jpeg", "image/tiff", "image/png"] as const;
    const config = pageConfig(CONFIG.apiUrl, { allowedContentTypes: types, maxUploadBytes: 1024 });
    expect(config.extensions).toEqual({ "image/jpeg": "jpg", "image/tiff": "tif", "image/png": "png" });
    for (const type of types) expect(config.extensions[type]).toBe(IMAGE_EXTENSIONS[type][0]);
    expect(() =>
      pageConfig(CONFIG.apiUrl, { allowedContentTypes: ["image/svg+xml"], maxUploadBytes: 1 }),
    ).toThrow("The content type image/svg+xml has no extension in the function's table.");
  });

  test("a container-token upload is named with the extension config.json gives its type", () => {
    const extensions = { "image/jpeg": "jpeg-from-config", "image/tiff": "tif" };
    const jpeg = targetOf(credentials(60), { name: "a.jpg", size: 1, type: "IMAGE/JPEG" }, extensions);
    expect(jpeg.blobName).toMatch(/^[0-9a-f-]{36}\.jpeg-from-config$/);
    expect(
      targetOf(credentials(60), { name: "a.tiff", size: 1, type: "image/tiff" }, extensions).blobName,
    ).toMatch(/\.tif$/);
  });

  test("the token source names uploads from the extensions it was configured with", async () => {
    const { fetchImpl } = endpoint({ body: credentials(60) });
    const tokens = new TokenSource(
      { ...CONFIG, extensions: { "image/png": "portable" } },
      () => NOW,
      fetchImpl,
    );
    expect((await tokens.targetFor(PHOTO)).blobName).toMatch(/\.portable$/);
  });

  test("is read back exactly as it is written", () => {
    expect(parsePageConfig(JSON.parse(pageConfigFile(CONFIG)))).toEqual(CONFIG);
  });

  test("without a field or with a wrong one is refused, naming every field it needs", () => {
    const needs =
      "it needs apiUrl, allowedContentTypes, extensions, maxUploadBytes, blockSizeBytes and concurrency.";
    const { extensions: _, ...withoutExtensions } = CONFIG;
    for (const wrong of [
      withoutExtensions,
      { ...CONFIG, extensions: { "image/png": 3 } },
      { ...CONFIG, maxUploadBytes: 0 },
      { ...CONFIG, allowedContentTypes: "image/png" },
      null,
    ]) {
      expect(() => parsePageConfig(wrong)).toThrow(needs);
    }
  });
});
