// Which file the local stack points NODE_EXTRA_CA_CERTS at (local/tls.ts): Node reads one file, so a user's
// own extra CAs and the local certificate go into one bundle, and neither replaces the other.
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureLocalCertificate, type LocalCertificate, trustFile } from "../../local/tls";

/** The certificates in a PEM file, by their SHA-256 fingerprints. */
async function fingerprints(path: string): Promise<string[]> {
  const pem = await readFile(path, "utf8");
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block).fingerprint256);
}

describe("the file the local stack's process trusts", () => {
  let dir: string;
  let ours: LocalCertificate;
  let corporate: LocalCertificate;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "valet-trust-"));
    ours = await ensureLocalCertificate(join(dir, "stack"));
    corporate = await ensureLocalCertificate(join(dir, "corporate"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("is the local certificate itself when the user trusts no extra CA", async () => {
    expect(await trustFile(ours, undefined)).toBe(ours.certPath);
    expect(await trustFile(ours, "")).toBe(ours.certPath);
  });

  test("keeps the user's own extra CA beside the local certificate, in one bundle in the stack's folder", async () => {
    const bundle = await trustFile(ours, corporate.certPath);
    expect(dirname(bundle)).toBe(dirname(ours.certPath));
    expect(await fingerprints(bundle)).toEqual([
      ...(await fingerprints(corporate.certPath)),
      ...(await fingerprints(ours.certPath)),
    ]);
    // The user's file is left as it was.
    expect(await fingerprints(corporate.certPath)).toHaveLength(1);
  });

  test("is not bundled again by the process that already trusts the bundle", async () => {
    const bundle = await trustFile(ours, corporate.certPath);
    const before = await readFile(bundle, "utf8");
    expect(await trustFile(ours, bundle)).toBe(bundle);
    expect(await readFile(bundle, "utf8")).toBe(before);
  });

  test("names a user's file that cannot be read", async () => {
    const missing = join(dir, "no-such-ca.pem");
    await expect(trustFile(ours, missing)).rejects.toThrow(
      `NODE_EXTRA_CA_CERTS names ${missing}, which cannot be read (ENOENT)`,
    );
  });
});
