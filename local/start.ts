// `npm start`: runs the local stack on loopback and prints where each part is. Ctrl-C stops everything.
import { resolve } from "node:path";
import { parseBoolean, SettingsError } from "../function/contract/appSettings";
import { parseSigningMode } from "../function/contract/signingMode";
import { AccessPolicyError } from "../function/signing/accessPolicies";
import { OriginError, validateOrigins } from "../infra/cors";
import { PortInUseError } from "./ports";
import { type LocalStack, startLocalStack } from "./stack";
import { ensureLocalCertificate, type LocalCertificate, runTrusting } from "./tls";

const ENV = {
  blobPort: "VALET_BLOB_PORT",
  tablePort: "VALET_TABLE_PORT",
  queuePort: "VALET_QUEUE_PORT",
  functionPort: "VALET_FUNCTION_PORT",
  webPort: "VALET_WEB_PORT",
  origins: "VALET_ALLOWED_ORIGINS",
  dataDir: "VALET_DATA_DIR",
  /** `identity` runs the stack keyless: HTTPS blob service, user delegation tokens. */
  signing: "VALET_SIGNING",
  /** `true` requires sign-in, with an OpenID Connect issuer stand-in on loopback (local/issuer.ts). */
  signIn: "VALET_SIGN_IN",
  issuerPort: "VALET_ISSUER_PORT",
  /** Where the Event Grid topic stand-in delivers completion events (local/eventGridTopic.ts); unset: off. */
  eventsWebhookUrl: "VALET_EVENTS_WEBHOOK_URL",
  /** `local`: the malware scanning gate on, with a scanner stand-in (local/malwareScanner.ts). */
  malwareScanning: "VALET_MALWARE_SCANNING",
  /** How long the scanner stand-in takes to report, in ms (default 0). */
  malwareScanDelay: "VALET_MALWARE_SCAN_DELAY_MS",
} as const;

/** VALET_EVENTS_WEBHOOK_URL: an http(s) URL, or undefined when unset. */
function webhookUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw.trim());
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new UsageError(`${ENV.eventsWebhookUrl} must be an http or https URL that receives CloudEvents.`);
  }
  return url.href;
}

/** VALET_MALWARE_SCANNING=local (and its delay), or undefined when unset. */
function scanningStandIn(): { delayMs: number } | undefined {
  const mode = process.env[ENV.malwareScanning]?.trim();
  if (!mode) return undefined;
  if (mode !== "local") {
    throw new UsageError(`${ENV.malwareScanning} must be "local" (a scanner stand-in) or unset.`);
  }
  const raw = process.env[ENV.malwareScanDelay]?.trim();
  const delayMs = raw ? Number(raw) : 0;
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600_000) {
    throw new UsageError(`${ENV.malwareScanDelay} must be a whole number of milliseconds from 0 to 600000.`);
  }
  return { delayMs };
}

/** The upload page's usual local origins (4280 is the port the Static Web Apps CLI uses). */
const DEFAULT_ORIGINS = ["http://127.0.0.1:4280", "http://localhost:4280"];

class UsageError extends Error {}

function port(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new UsageError(`${variable} must be a port number from 1 to 65535.`);
  }
  return value;
}

function origins(): string[] {
  const raw = process.env[ENV.origins];
  const list = raw
    ? raw
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean)
    : DEFAULT_ORIGINS;
  return validateOrigins(list, { source: ENV.origins });
}

async function main(): Promise<void> {
  let stack: LocalStack;
  try {
    const allowedOrigins = origins();
    const dataDir = resolve(process.env[ENV.dataDir] || ".azurite");
    const signing = parseSigningMode(ENV.signing, process.env[ENV.signing]);
    const signIn = parseBoolean(ENV.signIn, process.env[ENV.signIn], false);
    const eventsWebhookUrl = webhookUrl(process.env[ENV.eventsWebhookUrl]);
    const malwareScanning = scanningStandIn();
    let certificate: LocalCertificate | undefined;
    if (signing === "identity") {
      // Kept with Azurite's data, so a browser that accepted it once keeps accepting it.
      certificate = await ensureLocalCertificate(resolve(dataDir, "tls"));
      const exitCode = await runTrusting(certificate);
      if (exitCode !== undefined) process.exit(exitCode);
    }
    stack = await startLocalStack({
      signing,
      certificate,
      blobPort: port(ENV.blobPort, 10000),
      tablePort: port(ENV.tablePort, 10002),
      queuePort: port(ENV.queuePort, 10001),
      functionPort: port(ENV.functionPort, 7071),
      allowedOrigins,
      dataDir,
      // The function's app settings (UPLOADS_CONTAINER, …) may be set in the shell, as in Azure.
      appSettings: process.env,
      log: (line) => console.log(line),
      portVariables: {
        blob: ENV.blobPort,
        table: ENV.tablePort,
        queue: ENV.queuePort,
        function: ENV.functionPort,
        web: ENV.webPort,
      },
      // The page is built at every start into a temporary folder of this stack's own.
      web: { port: port(ENV.webPort, 4280) },
      ...(signIn && { signIn: { port: port(ENV.issuerPort, 7072) } }),
      ...(eventsWebhookUrl && { completionEvents: { webhookUrl: eventsWebhookUrl } }),
      ...(malwareScanning && { malwareScanning }),
      onFailure: (error, stopped) => {
        console.error(`valet: ${error.message} Stopping everything.`);
        void stopped.finally(() => process.exit(1));
      },
    });
    console.log(
      [
        "valet is running on loopback:",
        `  blob service (Azurite)  ${stack.blobServiceUrl}  container "${stack.container}"`,
        `  signing                 ${stack.signing === "identity" ? "keyless (user delegation key)" : "account key"}`,
        `  table service (Azurite) ${stack.tableServiceUrl}  issuance limits, upload outcomes`,
        `  queue service (Azurite) ${stack.queueServiceUrl}  upload events (Event Grid stand-in)`,
        `  SAS endpoint            ${stack.credentialsUrl}`,
        `  upload status           ${stack.statusUrl("{blobName}").replace("%7BblobName%7D", "{blobName}")}`,
        `  verified images         ${stack.blobServiceUrl}/${stack.verifiedContainer}`,
        `  upload page             ${stack.pageUrl}`,
        `  allowed origins         ${stack.allowedOrigins.join(", ")}`,
        ...(certificate ? certificateAdvice(stack.blobServiceUrl, certificate) : []),
        ...(stack.eventsTopic
          ? [
              `  completion events       ${stack.eventsTopic.endpoint}  Event Grid topic stand-in, delivering to ${eventsWebhookUrl}`,
              `  undelivered events      ${stack.eventsDeadLetterFile}`,
            ]
          : []),
        ...(stack.malwareScanner
          ? [
              `  malware scanning        on: a scanner stand-in reports each upload after ${malwareScanning?.delayMs ?? 0} ms (EICAR string: Malicious)`,
            ]
          : []),
        ...(stack.issuer ? signInAdvice(stack.issuer.issuer, stack.issuer.tokenUrl, stack.pageUrl) : []),
        "Press Ctrl-C to stop.",
      ].join("\n"),
    );
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof PortInUseError ||
      error instanceof OriginError ||
      error instanceof SettingsError ||
      error instanceof AccessPolicyError
    ) {
      // The operator's own terminal: a setting's detail may say which part of it is wrong.
      console.error(`valet: ${error instanceof SettingsError ? error.detail : error.message}`);
      process.exit(1);
    }
    // Anything else (an unwritable data folder, Azurite failing to start): one line, no stack trace.
    console.error(`valet: could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

/**
 * The page uploads to the HTTPS blob service, whose certificate the browser does not know: it says how to
 * accept this one certificate, and nothing else.
 */
function certificateAdvice(blobServiceUrl: string, certificate: LocalCertificate): string[] {
  return [
    `  certificate             ${certificate.certPath} (self-signed, for 127.0.0.1)`,
    "The upload page's browser must accept it: open the blob service once and accept the warning,",
    `  ${new URL(blobServiceUrl).origin}/`,
    "or start Chromium with",
    `  --ignore-certificate-errors-spki-list=${certificate.spkiSha256}`,
  ];
}

/** Sign-in on: where the issuer stand-in is, and how to get a token for a named user. */
function signInAdvice(issuer: string, tokenUrl: string, pageUrl: string | undefined): string[] {
  return [
    `  sign-in issuer (stand-in) ${issuer}  every endpoint requires a bearer token from it`,
    "A token for a user (any name):",
    `  token=$(curl -s '${tokenUrl}?user=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
    `  curl -H "Authorization: Bearer $token" '<SAS endpoint>?filename=a.png&contentType=image/png&size=100'`,
    ...(pageUrl ? [`The page signs in as the user its URL names: ${pageUrl}?user=alice`] : []),
  ];
}

void main();
