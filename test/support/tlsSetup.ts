// Vitest global set-up: one local HTTPS certificate per run, trusted by every test worker from its start
// (workers are forked with this process's environment, and Node reads NODE_EXTRA_CA_CERTS only at start).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureLocalCertificate } from "../../local/tls";

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), "valet-tls-"));
  const certificate = await ensureLocalCertificate(dir);
  process.env.NODE_EXTRA_CA_CERTS = certificate.certPath;
  return () => rm(dir, { recursive: true, force: true });
}
