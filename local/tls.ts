// A self-signed certificate for 127.0.0.1, made on this machine with openssl (nothing is downloaded): the
// local blob service needs HTTPS for Entra ID bearer tokens, and this is what it serves.
import { execFile, spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

export interface LocalCertificate {
  /** PEM certificate: what NODE_EXTRA_CA_CERTS names, and Azurite's `--cert`. */
  readonly certPath: string;
  /** PEM private key: Azurite's `--key`. */
  readonly keyPath: string;
  /**
   * base64 SHA-256 of the certificate's public key: what Chromium's `--ignore-certificate-errors-spki-list`
   * takes to accept this one certificate and no other.
   */
  readonly spkiSha256: string;
}

const CERT_FILE = "cert.pem";
const KEY_FILE = "key.pem";
/** Beside the certificate: the user's own extra CAs and this certificate, in one file. */
const BUNDLE_FILE = "trust-bundle.pem";
const VALID_DAYS = 30;
/** A certificate with less than this left is made again. */
const RENEW_WITHIN_MS = 24 * 60 * 60_000;

/** The certificate kept in `dir`, made there first if it is missing or about to expire. */
export async function ensureLocalCertificate(dir: string): Promise<LocalCertificate> {
  const existing = await loadLocalCertificate(dir).catch(() => undefined);
  if (existing) return existing;
  await mkdir(dir, { recursive: true });
  await rm(join(dir, CERT_FILE), { force: true });
  try {
    await promisify(execFile)(
      "openssl",
      [
        "req",
        "-x509",
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        "-nodes",
        ["-keyout", join(dir, KEY_FILE)],
        ["-out", join(dir, CERT_FILE)],
        ["-days", String(VALID_DAYS)],
        ["-subj", "/CN=valet local blob service"],
        ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ].flat(),
    );
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(
      missing
        ? "openssl is needed to make the local HTTPS certificate and was not found: install it (Debian: apt-get install openssl)."
        : `openssl could not make the local HTTPS certificate: ${(error as Error).message}`,
    );
  }
  const made = await loadLocalCertificate(dir);
  if (!made) throw new Error(`The certificate made in ${dir} cannot be read back.`);
  return made;
}

/** The certificate in `dir`, or undefined when it is missing or expires within a day. */
export async function loadLocalCertificate(dir: string): Promise<LocalCertificate | undefined> {
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  const [pem] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  const certificate = new X509Certificate(pem);
  if (Date.parse(certificate.validTo) - Date.now() < RENEW_WITHIN_MS) return undefined;
  const spki = certificate.publicKey.export({ type: "spki", format: "der" });
  return { certPath, keyPath, spkiSha256: createHash("sha256").update(spki).digest("base64") };
}

/**
 * The file NODE_EXTRA_CA_CERTS should name so that a process trusts `certificate` and whatever the user's
 * own NODE_EXTRA_CA_CERTS already trusts (a corporate proxy's CA, say). Node takes a single file, so with a
 * user's file this writes both into one bundle beside the certificate; without one, the certificate itself.
 * https://nodejs.org/api/cli.html#node_extra_ca_certsfile
 */
export async function trustFile(
  certificate: LocalCertificate,
  userFile: string | undefined,
): Promise<string> {
  const bundlePath = trustBundlePath(certificate);
  if (!userFile || userFile === certificate.certPath || userFile === bundlePath)
    return userFile || certificate.certPath;
  const [theirs, ours] = await Promise.all([
    readFile(userFile, "utf8").catch((error: NodeJS.ErrnoException) => {
      throw new Error(
        `NODE_EXTRA_CA_CERTS names ${userFile}, which cannot be read (${error.code ?? error.message}): ` +
          "fix or unset it, so that the local HTTPS certificate can be trusted beside it.",
      );
    }),
    readFile(certificate.certPath, "utf8"),
  ]);
  await writeFile(bundlePath, `${theirs.trimEnd()}\n${ours}`);
  return bundlePath;
}

function trustBundlePath(certificate: LocalCertificate): string {
  return join(dirname(certificate.certPath), BUNDLE_FILE);
}

/** Whether this process started trusting `certificate` (alone, or in the bundle trustFile writes). */
function trusts(certificate: LocalCertificate): boolean {
  const trusted = process.env.NODE_EXTRA_CA_CERTS;
  return trusted === certificate.certPath || trusted === trustBundlePath(certificate);
}

/**
 * Runs this very script again in a child process that trusts `certificate`, unless this process already
 * does: Node reads NODE_EXTRA_CA_CERTS only when a process starts, the storage SDK's client options
 * document no CA, and the function runs inside this process. Resolves with the child's exit code (the
 * caller exits with it), or undefined when this process is already the trusting one. Ctrl-C reaches both
 * (one process group); a signal sent to this process alone is passed on.
 * https://nodejs.org/api/cli.html#node_extra_ca_certsfile
 */
export async function runTrusting(certificate: LocalCertificate): Promise<number | undefined> {
  if (trusts(certificate)) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: await trustFile(certificate, process.env.NODE_EXTRA_CA_CERTS),
    },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/**
 * Refuses to go on unless this process trusts `certificate`: Node reads NODE_EXTRA_CA_CERTS once, at start,
 * and the storage SDK's client options document no CA, so without it the first call to the HTTPS blob
 * service would fail with a certificate error.
 * https://nodejs.org/api/cli.html#node_extra_ca_certsfile
 */
export function assertTrusted(certificate: LocalCertificate): void {
  if (!trusts(certificate)) {
    throw new Error(
      `Keyless signing needs this process to trust ${certificate.certPath}: start it with ` +
        `NODE_EXTRA_CA_CERTS=${certificate.certPath} (npm start and npm run bench do so themselves).`,
    );
  }
}
