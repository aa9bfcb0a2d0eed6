// The certificate this test process trusts (made by tlsSetup.ts), for a keyless stack to serve.
import { dirname } from "node:path";
import { type LocalCertificate, loadLocalCertificate } from "../../local/tls";

export async function trustedCertificate(): Promise<LocalCertificate> {
  const trusted = process.env.NODE_EXTRA_CA_CERTS;
  const certificate = trusted ? await loadLocalCertificate(dirname(trusted)) : undefined;
  if (!certificate)
    throw new Error("No trusted test certificate: vitest's global set-up (tlsSetup.ts) makes it.");
  return certificate;
}
