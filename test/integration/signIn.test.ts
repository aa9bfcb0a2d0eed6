// Sign-in through HTTP: bearer tokens from the issuer stand-in, against the function host and real Azurite.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { BlobServiceClient, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { OUTCOMES_TABLE } from "../../function/contract/check";
import { KEY_SET_BOUNDS } from "../../function/identity";
import { compactJws, type IssuerStandIn, startIssuerStandIn } from "../../local/issuer";
import { startTestStack, type TestStack } from "../support/stack";
import { statusOf } from "../support/storage";

const PNG = join(__dirname, "../fixtures/images/pixel.png");

let issuer: IssuerStandIn;
let stack: TestStack;
let service: BlobServiceClient;
let png: Uint8Array<ArrayBuffer>;
const cooldown = KEY_SET_BOUNDS.cooldownMs;

beforeAll(async () => {
  // A short cooldown, so that a rotation can be seen within a test; the bound itself is jose's.
  KEY_SET_BOUNDS.cooldownMs = 500;
  issuer = await startIssuerStandIn();
  png = new Uint8Array(await readFile(PNG));
  stack = await startTestStack(
    {
      [SETTING.authIssuer]: issuer.issuer,
      [SETTING.authAudience]: issuer.audience,
      // A person may be granted two of these small files a day; an address, far more.
      [SETTING.dailyUploadBytesPerOwner]: String(2 * 1024 * 1024),
      [SETTING.maxUploadBytes]: String(1024 * 1024),
    },
    { checkUploads: true },
  );
  service = BlobServiceClient.fromConnectionString(stack.connectionString);
}, 60_000);
afterAll(async () => {
  KEY_SET_BOUNDS.cooldownMs = cooldown;
  await stack?.stop();
  await issuer?.stop();
});

const query = (size = png.length) => `?filename=photo.png&contentType=image/png&size=${size}`;

async function ask(authorization?: string, size?: number): Promise<Response> {
  return fetch(`${stack.credentialsUrl}${query(size)}`, {
    headers: authorization === undefined ? {} : { Authorization: authorization },
  });
}

async function refusal(authorization?: string) {
  const response = await ask(authorization);
  const body = (await response.json()) as { error: string; auth: string };
  return { status: response.status, challenge: response.headers.get("www-authenticate") ?? "", body };
}

const now = () => Math.floor(Date.now() / 1000);

describe("a bearer token is refused, with 401 and the RFC 6750 challenge", () => {
  test("when missing: invalid_request", async () => {
    const { status, challenge, body } = await refusal();
    expect(status).toBe(401);
    expect(challenge).toMatch(/^Bearer realm="valet", error="invalid_request"/);
    expect(body.auth).toBe("missing");
  });

  test("when the header is not Bearer <token>: invalid_request, the value not echoed", async () => {
    const { status, challenge, body } = await refusal("Basic c2VjcmV0LXZhbHVl");
    expect(status).toBe(401);
    expect(challenge).toContain('error="invalid_request"');
    expect(JSON.stringify(body) + challenge).not.toContain("c2VjcmV0LXZhbHVl");
  });

  test("when it is not a JWT", async () => {
    const { status, challenge, body } = await refusal("Bearer not-a-jwt-at-all");
    expect(status).toBe(401);
    expect(challenge).toContain('error="invalid_token"');
    expect(body.auth).toBe("notJwt");
    expect(JSON.stringify(body) + challenge).not.toContain("not-a-jwt-at-all");
  });

  test("with a wrong signature", async () => {
    const [head, payload] = issuer.mint("alice").split(".");
    const other = issuer.mint("bob").split(".")[2];
    const { status, body } = await refusal(`Bearer ${head}.${payload}.${other}`);
    expect(status).toBe(401);
    expect(body.auth).toBe("signature");
  });

  test("from the wrong issuer", async () => {
    const { status, body } = await refusal(
      `Bearer ${issuer.mint("alice", { issuer: "https://evil.example" })}`,
    );
    expect([status, body.auth]).toEqual([401, "issuer"]);
  });

  test("for another audience", async () => {
    const { status, body } = await refusal(`Bearer ${issuer.mint("alice", { audience: "api://other" })}`);
    expect([status, body.auth]).toEqual([401, "audience"]);
  });

  test("expired (beyond the skew)", async () => {
    const { status, body, challenge } = await refusal(`Bearer ${issuer.mint("alice", { expiresIn: -600 })}`);
    expect([status, body.auth]).toEqual([401, "expired"]);
    expect(challenge).toContain('error="invalid_token"');
  });

  test("not yet valid (beyond the skew)", async () => {
    const { status, body } = await refusal(`Bearer ${issuer.mint("alice", { notBefore: 600 })}`);
    expect([status, body.auth]).toEqual([401, "notYetValid"]);
  });

  test("with alg none", async () => {
    const token = issuer.signRaw(
      { alg: "none", typ: "JWT" },
      { iss: issuer.issuer, aud: issuer.audience, sub: "alice", exp: now() + 600 },
    );
    const { status, body } = await refusal(`Bearer ${token}`);
    expect(status).toBe(401);
    expect(["algorithm", "notJwt"]).toContain(body.auth);
  });

  test("HS256 with the issuer's public key as the secret", async () => {
    const token = compactJws(
      { alg: "HS256", typ: "JWT" },
      { iss: issuer.issuer, aud: issuer.audience, sub: "alice", exp: now() + 600 },
      { secret: issuer.publicKeyPem() },
    );
    const { status, body } = await refusal(`Bearer ${token}`);
    expect([status, body.auth]).toEqual([401, "algorithm"]);
  });

  test("signed with a key the issuer does not publish; a rotated key that it does publish is accepted", async () => {
    expect((await ask(`Bearer ${issuer.mint("carol")}`)).status).toBe(200);
    const unknown = await refusal(`Bearer ${issuer.mint("carol", { key: "unpublished" })}`);
    expect([unknown.status, unknown.body.auth]).toEqual([401, "unknownKey"]);
    issuer.rotate();
    await new Promise((resolve) => setTimeout(resolve, KEY_SET_BOUNDS.cooldownMs + 100));
    const fetchesBefore = issuer.keySetFetches();
    expect((await ask(`Bearer ${issuer.mint("carol")}`)).status).toBe(200);
    expect(issuer.keySetFetches()).toBe(fetchesBefore + 1);
    // Made-up key ids within the cooldown cost no further fetch: the refetch is bounded.
    for (let i = 0; i < 5; i++) await ask(`Bearer ${issuer.mint("carol", { key: "unpublished" })}`);
    expect(issuer.keySetFetches()).toBe(fetchesBefore + 1);
  });
});

interface UploadBody {
  blobName: string;
  blobUrl: string;
  sasKey: string;
}

async function uploadAs(user: string): Promise<UploadBody> {
  const response = await ask(`Bearer ${issuer.mint(user)}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as UploadBody;
  const put = await fetch(`${body.blobUrl}?${body.sasKey}`, {
    method: "PUT",
    body: png,
    headers: { "x-ms-blob-type": "BlockBlob", "Content-Type": "image/png", "x-ms-meta-owner": user },
  });
  expect(put.status).toBe(201);
  return body;
}

const get = (url: string, user: string) =>
  fetch(url, { headers: { Authorization: `Bearer ${issuer.mint(user)}` } });

describe("signed in", () => {
  test("a valid token issues a name under its owner, and the owner is on the verified blob and its outcome", async () => {
    const upload = await uploadAs("alice");
    expect(upload.blobName).toMatch(/^alice\/[0-9a-f-]{36}-\d+\.png$/);
    await stack.checksSettled();
    const verified = service.getContainerClient(stack.verifiedContainer).getBlobClient(upload.blobName);
    expect((await verified.getProperties()).metadata?.owner).toBe("alice");
    const outcomes = TableClient.fromConnectionString(stack.checkConnectionString, OUTCOMES_TABLE, {
      allowInsecureConnection: true,
    });
    const key = createHash("sha256").update(upload.blobName).digest("hex");
    const row = await outcomes.getEntity<{ owner: string; state: string }>(key, "outcome");
    expect([row.owner, row.state]).toEqual(["alice", "accepted"]);
    const status = await get(stack.statusUrl(upload.blobName), "alice");
    expect(status.status).toBe(200);
    expect(((await status.json()) as { state: string }).state).toBe("accepted");
  });

  test("an owner that is not a plain segment is encoded, and the name still lists under it", async () => {
    const upload = await uploadAs("auth0|abc");
    expect(upload.blobName.startsWith("~YXV0aDB8YWJj/")).toBe(true);
  });

  test("no container token is issued: it could write outside the owner's prefix", async () => {
    const response = await fetch(stack.credentialsUrl, {
      headers: { Authorization: `Bearer ${issuer.mint("alice")}` },
    });
    expect(response.status).toBe(400);
  });

  test("another person sees neither the status nor a read token of someone's upload: 404", async () => {
    const upload = await uploadAs("dave");
    await stack.checksSettled();
    expect((await get(stack.statusUrl(upload.blobName), "dave")).status).toBe(200);
    const status = await get(stack.statusUrl(upload.blobName), "erin");
    expect(status.status).toBe(404);
    expect((await get(`${stack.apiUrl}/images/${upload.blobName}`, "erin")).status).toBe(404);
    expect((await fetch(stack.statusUrl(upload.blobName))).status).toBe(401);
  });

  test("a read token reads the verified blob, and cannot write, list or read another blob", async () => {
    const mine = await uploadAs("frank");
    const theirs = await uploadAs("grace");
    await stack.checksSettled();
    const response = await get(`${stack.apiUrl}/images/${mine.blobName}`, "frank");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const { url } = (await response.json()) as { url: string };
    const sas = new URL(url).searchParams;
    expect([sas.get("sp"), sas.get("sr")]).toEqual(["r", "b"]);
    const minutes = (Date.parse(sas.get("se") ?? "") - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(0);
    expect(minutes).toBeLessThanOrEqual(10);
    const read = await fetch(url);
    expect(read.status).toBe(200);
    // The verified blob is the published photo (re-encoded without its metadata), so it is compared with what
    // the verified container holds, not with the upload's bytes.
    const stored = await service
      .getContainerClient(stack.verifiedContainer)
      .getBlobClient(mine.blobName)
      .downloadToBuffer();
    expect(Buffer.from(await read.arrayBuffer()).equals(stored)).toBe(true);
    const token = new URL(url).search;
    const put = await fetch(url, { method: "PUT", body: png, headers: { "x-ms-blob-type": "BlockBlob" } });
    expect(put.status).toBe(403);
    const base = `${stack.blobServiceUrl}/${stack.verifiedContainer}`;
    expect((await fetch(`${base}/${theirs.blobName}${token}`)).status).toBe(403);
    const list = new ContainerClient(`${base}${token}`);
    expect(await statusOf(list.listBlobsFlat().next())).toBe(403);
    const overwrite = new BlockBlobClient(url);
    expect(await statusOf(overwrite.upload("x", 1))).toBe(403);
  });

  test("one person's exhausted daily allowance leaves another untouched", async () => {
    const big = 1024 * 1024;
    const henry = `Bearer ${issuer.mint("henry")}`;
    expect((await ask(henry, big)).status).toBe(200);
    expect((await ask(henry, big)).status).toBe(200);
    const refused = await ask(henry, big);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /^You have been granted your daily allowance/,
    );
    expect((await ask(`Bearer ${issuer.mint("iris")}`, big)).status).toBe(200);
  });

  test("a resume of another person's upload is refused", async () => {
    const response = await ask(`Bearer ${issuer.mint("jack")}`);
    const body = (await response.json()) as UploadBody & { resumeSecret: string };
    const resume = await fetch(
      `${stack.credentialsUrl}${query()}&blobName=${encodeURIComponent(body.blobName)}`,
      {
        headers: {
          Authorization: `Bearer ${issuer.mint("kate")}`,
          "X-Valet-Resume-Secret": body.resumeSecret,
        },
      },
    );
    expect(resume.status).toBe(403);
  });
});
